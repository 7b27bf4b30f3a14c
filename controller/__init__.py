"""The scaling controller: every minute, observe each fleet, ask the endpoint once for all, act within limits.

Layout: `config` (fleet schema, run settings), `aws` (boto3 clients), `observe` (CloudWatch), `decide` (endpoint +
fallback), `limits` (bounds, change limit, idempotency), `modes` (SSM), `state` (S3 store), `publish` (metrics),
`targets/` (one adapter per target kind), `run` (one run, dependencies injected), `handler` (Lambda entry).
"""

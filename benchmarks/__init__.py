"""Benchmarks, one module each, printing figures: ``python -m benchmarks.<name>``; each module says what it measures
(``results`` holds what those judging over noise draws share)."""

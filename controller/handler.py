"""Lambda entry point: `controller.handler.lambda_handler(event, context)`, a few lines of wiring around `run`.

The run's minute is the event's `time` (EventBridge Scheduler's scheduled time), so a retried event decides the
same minute; an event without one (a manual test invoke) decides the current minute. Settings, clients and
adapters are built once per execution environment. Logs are structured JSON (Powertools Logger): one summary
line per run, one line per fleet that changed, held, fell back or failed.

The run raises (so the invocation counts as a Lambda error, the scheduler retries the same minute and the
controller's error alarm sees it) when the settings are invalid, or when active fleets had a change to apply and
the state could not be saved.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from controller.aws import Clients
from controller.config import Settings
from controller.run import Dependencies, RunReport, parse_time, run
from controller.state import S3Store

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "rl-autoscaler-controller"))

CLIENT_OVERRIDES: dict[str, Any] = {}
"""Service name -> client to use instead of a fresh boto3 one (tests, the deploy rehearsal)."""
_built: dict[str, Any] = {}


class RunIncomplete(RuntimeError):
    """Active fleets had changes to apply but the run could not record its state, so it applied nothing."""


def _build(environ: Mapping[str, str]) -> tuple[Settings, Dependencies]:
    if "deps" not in _built:
        from controller.targets import build_adapters

        settings = Settings.from_env(environ)
        clients = Clients(
            region=environ.get("AWS_REGION"),
            endpoint_timeout_s=settings.endpoint_timeout_s,
            endpoint_max_attempts=settings.endpoint_max_attempts,
            overrides=CLIENT_OVERRIDES,
        )
        store = S3Store(clients.s3, settings.state_bucket)
        adapters = build_adapters(settings.fleets, clients, store=store, stage=settings.stage)
        _built["settings"] = settings
        _built["deps"] = Dependencies(
            cloudwatch=clients.cloudwatch, runtime=clients.sagemaker_runtime, ssm=clients.ssm, store=store,
            adapters=adapters,
        )  # fmt: skip
    return _built["settings"], _built["deps"]


def reset() -> None:
    """Forget the built settings and clients (tests)."""
    _built.clear()


def summary(report: RunReport) -> dict[str, Any]:
    changed = sum(1 for f in report.fleets.values() if f.applied is not None and f.applied != f.target_desired)
    return {
        "stage": report.stage,
        "minute": report.minute.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fleets": len(report.fleets),
        "fleets_deciding": report.fleets_deciding,
        "changed": changed,
        "fallbacks": report.fallbacks,
        "shield_overrides": report.shield_overrides,
        "stale_holds": report.stale_holds,
        "conflict_holds": report.conflict_holds,
        "read_errors": report.read_errors,
        "apply_errors": report.apply_errors,
        "endpoint_calls": report.endpoint_calls,
        "endpoint_latency_ms": report.endpoint_latency_ms,
        "duration_ms": round(report.duration_ms, 1),
        "state_saved": report.state_saved,
        "modes_error": report.modes_error,
        "model_versions": ", ".join(sorted({f.model_version for f in report.fleets.values() if f.model_version})),
        "errors": report.errors[:20],
    }


def _log_fleets(report: RunReport) -> None:
    for f in report.fleets.values():
        changed = f.applied is not None and f.applied != f.target_desired
        if changed or f.fallback or f.stale_hold or f.conflict_hold or f.read_error or f.apply_error:
            logger.info(
                "fleet",
                extra={
                    "fleet": f.name,
                    "mode": f.mode,
                    "load_rpm": f.load_rpm,
                    "serving": f.serving,
                    "warming": f.warming,
                    "target_desired": f.target_desired,
                    "policy_desired": f.policy_desired,
                    "applied": f.applied,
                    "fallback": f.fallback,
                    "model_version": f.model_version,
                    "reason": f.reason,
                    "apply_error": f.apply_error,
                },
            )


@logger.inject_lambda_context(log_event=True)
def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    settings, deps = _build(os.environ)
    stamp = event.get("time") if isinstance(event, Mapping) else None
    if isinstance(stamp, str) and stamp:
        when = parse_time(stamp)
    else:
        when = datetime.now(UTC)
        logger.warning("event without a time: deciding the current minute", extra={"minute": when.isoformat()})
    report = run(settings, deps, when, logger=logger)
    _log_fleets(report)
    out = summary(report)
    logger.info("run", extra=out)
    pending = [f.name for f in report.fleets.values() if f.mode == "active" and f.limited is not None]
    if not report.state_saved and any(
        report.fleets[n].limited != report.fleets[n].target_desired and not report.fleets[n].conflict_hold
        for n in pending
    ):
        raise RunIncomplete(f"state not saved for minute {out['minute']}: no change applied ({report.errors[:3]})")
    return out

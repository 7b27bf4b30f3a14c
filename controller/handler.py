"""Lambda entry point: `controller.handler.lambda_handler(event, context)`, a few lines of wiring around `run`.

The run's minute is the event's `time` (EventBridge Scheduler's scheduled time), so a retried event decides the
same minute; an event without one (a manual test invoke) decides the current minute. Settings, clients and
adapters are built once per execution environment. Logs are structured JSON (Powertools Logger): one summary
line per run, one line per fleet that changed, held, fell back or failed.

The fleets come from the stage's fleets object (`controller/fleets.py`), cached per execution environment and
re-read when it changes; adapters for a target kind are built the first time a fleet of that kind appears.

The run raises (so the invocation counts as a Lambda error, the scheduler retries the same minute and the
controller's error alarm sees it) when the settings are invalid, when no valid fleets object was ever read (it
publishes `ConfigErrors` first), or when active fleets had a change to apply and the state could not be saved.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from controller import publish
from controller.aws import Clients
from controller.config import Settings
from controller.fleets import FleetSource, FleetsUnavailable, Loaded
from controller.handback import Scalers
from controller.observe import epoch_minute, minute_time
from controller.run import Dependencies, RunReport, hand_back_now, parse_time, run
from controller.state import S3Store

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "rl-autoscaler-controller"))

CLIENT_OVERRIDES: dict[str, Any] = {}
"""Service name -> client to use instead of a fresh boto3 one (tests, the deploy rehearsal)."""
_built: dict[str, Any] = {}


class RunIncomplete(RuntimeError):
    """Active fleets had changes to apply but the run could not record its state, so it applied nothing."""


def _build(environ: Mapping[str, str]) -> tuple[Settings, Dependencies, FleetSource]:
    """Settings, clients and the fleets source, once per execution environment."""
    if "deps" not in _built:
        settings = Settings.from_env(environ)
        clients = Clients(
            region=environ.get("AWS_REGION"),
            endpoint_timeout_s=settings.endpoint_timeout_s,
            endpoint_max_attempts=settings.endpoint_max_attempts,
            overrides=CLIENT_OVERRIDES,
        )
        store = S3Store(clients.s3, settings.state_bucket)
        _built["clients"] = clients
        _built["settings"] = settings
        _built["source"] = FleetSource(
            clients.s3, settings.state_bucket, settings.fleets_key, settings.stage, settings.endpoint_name
        )
        _built["deps"] = Dependencies(
            cloudwatch=clients.cloudwatch, runtime=clients.sagemaker_runtime, ssm=clients.ssm, store=store,
            adapters={}, scalers=Scalers(clients),
        )  # fmt: skip
    return _built["settings"], _built["deps"], _built["source"]


def _with_fleets(settings: Settings, deps: Dependencies, loaded: Loaded) -> Settings:
    """The run's settings with the current fleets; an adapter for each target kind they use."""
    from controller.targets import build_adapters

    missing = [f for f in loaded.fleets if f.kind not in deps.adapters]
    if missing:
        assert isinstance(deps.adapters, dict)
        deps.adapters.update(build_adapters(missing, _built["clients"], store=deps.store, stage=settings.stage))
    return dataclasses.replace(settings, fleets=loaded.fleets)


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
        "config_error": report.config_error,
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


ON_CALL = "handed back by on-call"


def _hand_back(event: Mapping[str, Any], base: Settings, deps: Dependencies, source: FleetSource) -> dict[str, Any]:
    """`{"action": "hand-back", "fleets": [...]}` (all fleets without `fleets`): restore and latch in shadow."""
    names = event.get("fleets")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise ValueError('fleets: must be a list of fleet names, e.g. {"action": "hand-back", "fleets": ["web"]}')
    settings = _with_fleets(base, deps, source.load())
    return hand_back_now(settings, deps, names, ON_CALL, logger)


def _stack_event(event: Mapping[str, Any], base: Settings, deps: Dependencies) -> dict[str, Any]:
    """The stack's hand-back custom resource: on Delete every fleet's own scaling is restored; then answer."""
    import json
    import urllib.request

    status, reason, data = "SUCCESS", "nothing to do", {}
    if event["RequestType"] == "Delete":
        try:
            data = hand_back_now(base, deps, None, None, logger)
            reason = f"handed back {len(data['handed_back'])} fleets"
            data = {"HandedBack": len(data["handed_back"]), "Errors": len(data["errors"])}
        except Exception as err:  # the stack's removal goes on: the alarms and the log say what was not restored
            logger.exception("hand-back at stack removal failed")
            reason = f"hand-back failed: {type(err).__name__}: {err}"[:500]
    body = {
        "Status": status, "Reason": reason, "PhysicalResourceId": f"{base.stage}-controller-hand-back",
        "StackId": event["StackId"], "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"], "Data": data,
    }  # fmt: skip
    request = urllib.request.Request(
        event["ResponseURL"], data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30):
        pass
    return body


@logger.inject_lambda_context(log_event=True)
def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    base, deps, source = _build(os.environ)
    if isinstance(event, Mapping) and event.get("action") == "hand-back":
        return _hand_back(event, base, deps, source)
    if isinstance(event, Mapping) and "RequestType" in event and "ResponseURL" in event:
        return _stack_event(event, base, deps)
    stamp = event.get("time") if isinstance(event, Mapping) else None
    if isinstance(stamp, str) and stamp:
        when = parse_time(stamp)
    else:
        when = datetime.now(UTC)
        logger.warning("event without a time: deciding the current minute", extra={"minute": when.isoformat()})
    try:
        loaded = source.load()
    except FleetsUnavailable as err:
        logger.error("fleets object unusable and none cached: the run cannot start", extra={"error": str(err)})
        stamp_minute = minute_time(epoch_minute(when))
        publish.put(deps.cloudwatch, publish.datums(base.stage, stamp_minute, [], {"ConfigErrors": 1}))
        raise
    if loaded.error:
        logger.error("fleets object unusable: the run keeps the last good fleets", extra={"error": loaded.error})
    settings = _with_fleets(base, deps, loaded)
    report = run(settings, deps, when, logger=logger, config_error=loaded.error)
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

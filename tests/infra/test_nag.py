"""cdk-nag AwsSolutions on every stage: no unacknowledged finding, and every acknowledgement narrow and used."""

from __future__ import annotations

import re

import aws_cdk as cdk

from tests.infra.helpers import STAGES, Synthesised

ACK_KEY = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
# One rule, and for rules that report several findings per resource (IAM4/IAM5) exactly one finding.
ACK_ID = re.compile(r"^AwsSolutions::AwsSolutions-[A-Z]+[0-9]+(\[(Action|Resource|Policy)::[^\]]+\])?$")


def _plugin(app: Synthesised) -> dict:
    reports = [r for r in app.validation_report()["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert len(reports) == 1, "the AwsSolutions pack did not run"
    return reports[0]


def _acknowledgements(app: Synthesised) -> list[tuple[str, str, str]]:
    found = []
    for stage in app.stages.values():
        for construct in stage.node.find_all():
            for entry in construct.node.metadata:
                if entry.type == ACK_KEY:
                    found += [(construct.node.path, rule, reason) for rule, reason in entry.data.items()]
    return found


def test_no_unacknowledged_findings_on_any_stage(app: Synthesised) -> None:
    report = _plugin(app)
    assert report["conclusion"] == "success"
    assert report["violations"] == []
    checked = {v["violatingConstructs"][0]["constructPath"].split("/")[0] for v in report["suppressedViolations"]}
    assert checked == set(STAGES), "every stage must have been checked"


def test_each_acknowledgement_names_one_finding_on_one_resource(app: Synthesised) -> None:
    for violation in _plugin(app)["suppressedViolations"]:
        (construct,) = violation["violatingConstructs"]
        assert violation["acknowledgedAt"] == construct["constructPath"].removesuffix("/Resource"), (
            f"{violation['acknowledgedId']} is acknowledged at {violation['acknowledgedAt']}, not on the resource "
            f"{construct['constructPath']}"
        )
        assert violation["acknowledgedId"] == f"AwsSolutions::{violation['ruleName']}"


def test_acknowledgements_are_specific_and_all_used(app: Synthesised) -> None:
    acks = _acknowledgements(app)
    assert acks, "expected the known acknowledgements (wildcards SageMaker needs, the log bucket's own logs)"
    used = {(v["acknowledgedAt"], v["acknowledgedId"]) for v in _plugin(app)["suppressedViolations"]}
    for path, rule, reason in acks:
        assert ACK_ID.match(rule), f"{path}: {rule!r} must name one AwsSolutions rule and, for IAM, one finding"
        assert len(reason) >= 60 and "TODO" not in reason, f"{path}: {rule} needs a specific reason, got {reason!r}"
        assert (path, rule) in used, f"{path}: {rule} acknowledges nothing (stale)"
        assert path.count("/") >= 2, f"{rule} is acknowledged on a stage or stack ({path}), not one resource"

"""scripts/costs.py: each stage's monthly cost from the synthesised templates, for 1, 10 and 100 fleets."""

from __future__ import annotations

import json

import pytest

from scripts import costs
from tests.infra.helpers import STAGES, Synthesised

PRICES = json.loads(costs.PRICES.read_text())


def test_prices_have_a_date_and_a_source() -> None:
    assert PRICES["region"] == "eu-west-1" and PRICES["as_of"] and "list prices" in PRICES["source"]


def test_dev_idle_costs_at_most_50_dollars_a_month(app: Synthesised) -> None:
    templates = costs.stage_templates(app.outdir, "Dev")
    for fleets in (1, costs.configured_fleets("Dev")):
        assert costs.stage_cost(templates, fleets, PRICES)["total"] <= 50


@pytest.mark.parametrize("stage", STAGES)
def test_counts_come_from_the_templates(app: Synthesised, stage: str) -> None:
    templates = costs.stage_templates(app.outdir, stage)
    one, hundred = (costs.stage_cost(templates, n, PRICES) for n in (1, 100))
    dashboards = sum(r["Type"] == "AWS::CloudWatch::Dashboard" for t in templates for r in t["Resources"].values())
    keys = sum(r["Type"] == "AWS::KMS::Key" for t in templates for r in t["Resources"].values())
    assert one["dashboards"] == dashboards * PRICES["cloudwatch_dashboard_month"] == 3.0
    assert keys * PRICES["kms_key_month"] <= one["kms"] < keys * PRICES["kms_key_month"] + 1
    assert one["alarms"] == hundred["alarms"] > 0  # the alarms do not grow with the fleets
    assert hundred["metrics"] > 50 * one["metrics"] / 2 and hundred["total"] > one["total"]
    assert one["total"] == pytest.approx(sum(v for k, v in one.items() if k != "total"), abs=0.05)


def test_instance_endpoints_cost_their_minimum_instance_hours(app: Synthesised) -> None:
    prod = costs.stage_cost(costs.stage_templates(app.outdir, "Prod"), 1, PRICES)
    assert prod["endpoint"] == round(2 * 730 * PRICES["sagemaker_hosting_per_instance_hour"]["ml.c5.xlarge"], 2)


def test_the_table_marks_the_configured_fleets(app: Synthesised, capsys: pytest.CaptureFixture[str]) -> None:
    assert costs.main(["--cdk-out", str(app.outdir), "--stages", "Dev"]) == 0
    out = capsys.readouterr().out
    assert "| Dev | 2 (as configured) |" in out and "| Dev | 100 |" in out and PRICES["as_of"] in out


def test_the_readme_shows_the_table_the_script_prints(app: Synthesised, capsys: pytest.CaptureFixture[str]) -> None:
    assert costs.main(["--cdk-out", str(app.outdir), "--totals"]) == 0
    assert capsys.readouterr().out.strip() in (costs.ROOT / "README.md").read_text()

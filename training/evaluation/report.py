"""Writes an evaluation ``Report``: ``report.json`` (the scoreboard), ``report.md`` (tables) and PNG plots.

``report.json``, schema version 1::

    {
      "schema_version": 1, "created_at": ISO-8601, "seed": int, "wall_s": float, "command": str, "quick": bool,
      "config": {SimConfig fields},
      "policies": [{"name", "class", "parameters": {...}}],          (a packaged policy: model_version, path, shield)
      "summary": [{"name", "total_profit", "mean_profit_vs_oracle", "min_profit_vs_oracle", "pct_minutes_down",
                   "pct_requests_dropped", "machine_minutes", "scaling_actions", "scenarios"}],
      "scenarios": [{"name", "kind": "synthetic"|"trace", "minutes", "start", "initial_machines",
                     "mean_load_machines", "peak_load_machines", "meta": {generator spec or trace, part, scale},
                     "policies": [{"name", "profit", "profit_vs_oracle" (null without an oracle or when its profit
                                   is <= 0), "revenue", "machine_cost", "downtime_cost", "minutes", "minutes_down",
                                   "requests", "requests_dropped", "machine_minutes", "warming_minutes",
                                   "mean_machines", "scaling_actions", and the pct_ fields}]}],
      "plots": [paths relative to the report],
      with --trace: "team_traces" (each file: split, gaps), "team_verdicts" (each policy against every rule),
      written by the gate only: "training", "export_check",
      "gate": {"passed", "forced", "reason", "draws", "candidate", "rules",
               "checks": [{"scope": group or scenario, "blocking", "passed", "reason", "mean", "sd", "verdict",
                           "vs": {rule: {"mean", "lo", "hi" ($, candidate − rule, 95 %), "wins", "draws", "verdict"}},
                           "availability": {"rule", "pct_minutes_down", "rule_pct_minutes_down", "mean", "lo",
                                            "hi" (percentage points, rule − candidate), "wins", "draws", "verdict"}}]}
    }
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.evaluation.noise import pair_cell
from training.evaluation.scoreboard import Report
from training.evaluation.team import markdown_section

WINDOW_MINUTES = 1440
"""Load-vs-capacity plots show at most one day: the day around the scenario's peak load."""


def _fmt(value: object, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def markdown(report: Report) -> str:
    """The summary table (one row per policy) and the per-scenario table (one row per scenario and policy)."""
    lines = [
        *markdown_section(report.extra.get("team_traces"), report.extra.get("team_verdicts")),
        "## Summary over all scenarios",
        "",
        "| policy | total profit ($) | mean profit / oracle | min profit / oracle | % minutes down "
        "| % requests dropped | machine-minutes | scaling actions |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in report.summary().items():
        lines.append(
            f"| {name} | {s['total_profit']:,.0f} | {_fmt(s['mean_profit_vs_oracle'], '.3f')} "
            f"| {_fmt(s['min_profit_vs_oracle'], '.3f')} | {s['pct_minutes_down']:.3f} "
            f"| {s['pct_requests_dropped']:.4f} | {s['machine_minutes']:,.0f} | {s['scaling_actions']:,} |"
        )
    lines += gate_section(report.extra.get("gate"))
    lines += [
        "",
        "## Per scenario",
        "",
        "| scenario | minutes | mean load (machines) | policy | profit ($) | profit / oracle | % minutes down "
        "| % requests dropped | machine-minutes | scaling actions |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for k, sc in enumerate(report.scenarios):
        for name, rows in report.results.items():
            r = rows[k]
            lines.append(
                f"| {sc['name']} | {sc['minutes']} | {sc['mean_load_machines']:.1f} | {name} | {r['profit']:,.0f} "
                f"| {_fmt(r.get('profit_vs_oracle'), '.3f')} | {r['pct_minutes_down']:.3f} "
                f"| {r['pct_requests_dropped']:.4f} | {r['machine_minutes']:,.0f} | {r['scaling_actions']:,} |"
            )
    return "\n".join(lines) + "\n"


def gate_section(gate: dict | None) -> list[str]:
    """The gate's verdict over the capacity-noise draws (``training.evaluation.judge``), if the gate wrote one."""
    if not gate:
        return []
    cand, draws, rules = gate["candidate"], gate["draws"], gate["rules"]
    status = "passed" if gate["passed"] else "FAILED, packaged anyway (forced)" if gate["forced"] else "FAILED"
    lines = [
        "",
        f"## The gate: {cand} over {draws} capacity-noise draws ({status})",
        "",
        f"{gate['reason']}.",
        "",
        f"Paired: every policy on the same draws; the table above is one draw and does not decide. Cells: mean of "
        f"({cand} - rule) profit in $, 95 % interval (Student's t), draws won. Verdict: beats every rule with the "
        "interval above zero, tie, or loses (some rule's interval below zero). Availability: % of minutes down of "
        f"{cand} and of the group's most profitable rule, and (rule - {cand}) in percentage points. A group "
        "(blocking) fails on a loss in profit or in availability; scenarios are recorded, not blocking.",
        "",
        f"| group or scenario | blocking | passed | {cand} mean profit ($) | s.d. | verdict | "
        + " | ".join(rules)
        + f" | availability: {cand} vs best rule, % down |",
        "| --- | --- | --- | ---: | ---: | --- |" + " --- |" * len(rules) + " --- |",
    ]
    for c in gate["checks"]:
        cells = [pair_cell(c["vs"][r]) for r in rules]
        a = c["availability"]
        avail = (
            f"{a['pct_minutes_down']:.3f} vs {a['rule']} {a['rule_pct_minutes_down']:.3f}: "
            f"{pair_cell(a, unit='pp')} ({a['verdict']})"
        )
        lines.append(
            f"| {c['scope']} | {'yes' if c['blocking'] else 'no'} | {'yes' if c['passed'] else 'no'} "
            f"| {c['mean'][cand]:,.0f} | {c['sd'][cand]:,.0f} | {c['verdict']} | " + " | ".join(cells) + f" | {avail} |"
        )
    return lines


def _window(load: np.ndarray) -> slice:
    """The ``WINDOW_MINUTES`` around the peak load (all of it when shorter)."""
    if len(load) <= WINDOW_MINUTES:
        return slice(0, len(load))
    start = int(np.clip(np.argmax(load) - WINDOW_MINUTES // 2, 0, len(load) - WINDOW_MINUTES))
    return slice(start, start + WINDOW_MINUTES)


def plot_load_vs_capacity(report: Report, out_dir: Path) -> list[Path]:
    """One PNG per scenario: a panel per policy with load, nominal serving capacity and minutes down."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not report.series:
        return []
    cap = report.config["capacity_rpm_per_machine"]
    paths = []
    names = list(report.series)
    for k, sc in enumerate(report.scenarios):
        load = report.series[names[0]][k]["load"]
        win = _window(load)
        minutes = np.arange(len(load))[win]
        fig, axes = plt.subplots(len(names), 1, figsize=(11, 1.9 * len(names) + 0.6), sharex=True, squeeze=False)
        for ax, name in zip(axes[:, 0], names):
            s = report.series[name][k]
            r = report.results[name][k]
            ax.plot(minutes, s["load"][win], color="black", lw=0.7, label="load")
            ax.step(minutes, s["active"][win] * cap, where="post", color="tab:blue", lw=1.0, label="serving x 300")
            ax.step(
                minutes, (s["active"][win] + s["pending"][win]) * cap, where="post", color="tab:blue", lw=0.6,
                ls=":", label="fleet incl. warming",
            )  # fmt: skip
            down = minutes[s["down"][win] > 0]
            ax.plot(down, np.zeros_like(down), "|", color="tab:red", ms=8, label="down")
            vs = r.get("profit_vs_oracle")
            ax.set_title(
                f"{name}: profit {r['profit']:,.0f} $ ({_fmt(vs, '.3f')} of oracle), "
                f"{r['pct_minutes_down']:.2f} % minutes down",
                fontsize=8, loc="left",
            )  # fmt: skip
            ax.set_ylabel("req/min", fontsize=7)
            ax.tick_params(labelsize=7)
        axes[0, 0].legend(fontsize=6, loc="upper right", ncol=4)
        axes[-1, 0].set_xlabel(f"minute of scenario {sc['name']} (window of {len(minutes)} around the peak)")
        fig.tight_layout()
        path = out_dir / f"load_vs_capacity_{sc['name'].replace('/', '__')}.png"  # a cell's cases: cell/name
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_cost_vs_availability(report: Report, out_dir: Path) -> Path:
    """Scatter: machine cost per 1000 requests against % of minutes up, a point per scenario per policy
    (small) and per policy over all scenarios (large)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 5))
    for i, (name, rows) in enumerate(report.results.items()):
        color = f"C{i % 10}"
        x = [1000 * r["machine_cost"] / max(r["requests"], 1) for r in rows]
        y = [100 - r["pct_minutes_down"] for r in rows]
        ax.scatter(x, y, s=12, color=color, alpha=0.5)
        cost = 1000 * sum(r["machine_cost"] for r in rows) / max(sum(r["requests"] for r in rows), 1)
        up = 100 - report.summary()[name]["pct_minutes_down"]
        ax.scatter([cost], [up], s=90, color=color, edgecolor="black", label=name)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2f"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%.2f"))
    ax.tick_params(axis="x", which="both", labelsize=7)
    ax.set_xlabel("machine cost per 1000 requests ($, log scale; 0.167 = every machine fully used)")
    ax.set_ylabel("% of minutes up (availability)")
    ax.set_title("cost vs availability (small: per scenario, large: all scenarios)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out_dir / "cost_vs_availability.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(report: Report, out_dir: str | Path, *, plots: bool = True) -> Path:
    """Write ``report.json``, ``report.md`` and (with ``plots``) ``plots/*.png`` under ``out_dir``; returns the
    path of ``report.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = report.to_json()
    if plots:
        plot_dir = out / "plots"
        plot_dir.mkdir(exist_ok=True)
        files = [*plot_load_vs_capacity(report, plot_dir), plot_cost_vs_availability(report, plot_dir)]
        doc["plots"] = [str(p.relative_to(out)) for p in files]
    path = out / "report.json"
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    (out / "report.md").write_text(markdown(report))
    return path

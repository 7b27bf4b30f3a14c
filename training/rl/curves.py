"""Per-iteration training metrics: the parseable log line, the CSV for notebooks and the PNG of the curves.

The log line is a contract with the SageMaker metric definitions of the CDK app (one regex per metric, e.g.
``profit_vs_oracle=([-+0-9.eE]+)``)::

    train_iteration iter=12 timesteps=245760 episode_return=1234.5 profit_vs_oracle=0.873 entropy=1.234 \
        kl=0.0123 steps_per_s=21000.5          (printed as one line)

``episode_return`` is the expected return of a training episode under the current (exploring) policy, in the
training reward's units (profit per minute divided by the episode's mean load in machines, see
``training.sim.vector_env``), estimated from the iteration's samples: mean training reward per step x episode
minutes. It exists from the first iteration on, unlike RLlib's mean over finished episodes (reported only in
the iterations where 1000-minute episodes end, and in the units of the return-normalised reward).
``episode_profit`` is the same estimate in dollars. ``timesteps`` counts environment steps (decisions, RLlib's
unit, what ``total_timesteps`` and the schedules count); ``steps_per_s`` is simulated fleet-minutes per second
(decisions x ``decision_minutes``), the simulator's throughput.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

COLUMNS = (
    "iter",
    "timesteps",
    "time_s",
    "episode_return",
    "episode_profit",
    "profit_vs_oracle",
    "entropy",
    "kl",
    "vf_loss",
    "policy_loss",
    "vf_explained_var",
    "lr",
    "steps_per_s",
)
LOG_FIELDS = ("iter", "timesteps", "episode_return", "profit_vs_oracle", "entropy", "kl", "steps_per_s")


def _fmt(key: str, value: Any) -> str:
    if key in ("iter", "timesteps"):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return "nan"
    if key == "steps_per_s":
        return f"{value:.1f}"
    return f"{value:.6g}"


def log_line(row: dict[str, Any]) -> str:
    """The one line per iteration, exactly in the contract's format."""
    return "train_iteration " + " ".join(f"{k}={_fmt(k, row[k])}" for k in LOG_FIELDS)


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in COLUMNS})
    return path


def plot(rows: list[dict[str, Any]], path: str | Path, title: str, baselines: dict[str, float] | None = None) -> Path:
    """Episode return and validation profit vs oracle per iteration; ``baselines`` draws reference lines on the
    profit panel (e.g. tuned target tracking's ratio on the same validation set)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = [r["timesteps"] / 1e6 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    axes[0].plot(steps, [r["episode_return"] for r in rows], color="tab:blue")
    axes[0].set(xlabel="env steps (millions)", ylabel="episode return (symlog)", title="Training episode return")
    axes[0].set_yscale("symlog", linthresh=100.0)
    axes[1].plot(steps, [r["profit_vs_oracle"] for r in rows], color="tab:green", label="PPO (served)")
    for i, (name, value) in enumerate((baselines or {}).items()):
        axes[1].axhline(value, linestyle="--", color=f"C{i + 3}", label=name)
    axes[1].set(xlabel="env steps (millions)", ylabel="profit / oracle profit", title="Validation profit vs oracle")
    ratios = [r["profit_vs_oracle"] for r in rows if math.isfinite(r["profit_vs_oracle"])]
    if ratios and min(ratios) < -0.5:  # the first iterations' random policy; keep the interesting range readable
        axes[1].set_ylim(-0.5, 1.05)
    axes[1].legend(loc="lower right")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

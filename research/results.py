"""What the experiments that judge over noise draws share: the ``--draws`` option and writing their results."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from training.evaluation.noise import MIN_DRAWS


def add_draws(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--draws", type=int, default=10, help="paired capacity-noise draws (default 10)")


def check_draws(parser: argparse.ArgumentParser, draws: int) -> None:
    if draws < MIN_DRAWS:
        parser.error(f"--draws must be >= {MIN_DRAWS} (a 95 % interval needs two draws)")


def write(out: Path, stem: str, result: dict[str, Any], text: str | None = None) -> None:
    """``out/stem.json`` (and ``out/stem.md`` with ``text``, which is also printed)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    written = [f"{stem}.json"]
    if text is not None:
        (out / f"{stem}.md").write_text(text)
        written.append(f"{stem}.md")
        print(text)
    print(f"wrote {', '.join(str(out / w) for w in written)}")

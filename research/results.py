"""What the experiments that judge over noise draws share: the ``--draws`` option, checks and writing results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.evaluation.noise import MIN_DRAWS


@dataclass(frozen=True, kw_only=True)
class Judged:
    """Options of an experiment judged over paired capacity-noise draws (a 95 % interval needs two)."""

    draws: int = 10
    """Paired capacity-noise draws."""

    def __post_init__(self) -> None:
        if self.draws < MIN_DRAWS:
            raise ValueError(f"--draws must be >= {MIN_DRAWS} (a 95 % interval needs two draws)")


def check_policies(paths: tuple[Path, ...] | list[Path]) -> None:
    """Refuse a ``--policy`` that is not a file, naming it."""
    for path in paths:
        if not Path(path).is_file():
            raise ValueError(f"--policy {path}: no such file")


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

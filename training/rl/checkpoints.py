"""Checkpoints of a training run: the RLlib algorithm plus our own loop state, written atomically.

Layout under the checkpoint root (``/opt/ml/checkpoints`` on SageMaker, which SageMaker syncs to S3 and restores
after a spot interruption)::

    iter_000012/algo/          Algorithm.save_to_path (learner + optimizer + module + connector states)
    iter_000012/state.json     iteration, timesteps, elapsed seconds, run name, config, curve rows so far
    best/                      the same, for the iteration whose served policy did best on validation
    superseded/1/ ...          checkpoints of earlier runs, set aside by a run started with ``--resume false``

A checkpoint is built in ``.tmp_iter_...`` and renamed into place, so a crash mid-write leaves the previous one
intact; ``latest`` only considers complete ones. Saving every iteration loses at most one on interruption.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^iter_(\d{6})$")
STATE_FILE = "state.json"
ALGO_DIR = "algo"
MODULE_SUBDIR = Path("learner_group", "learner", "rl_module", "default_policy")
"""Where the trained RLModule sits inside ``ALGO_DIR`` (``RLModule.from_checkpoint`` loads it without Ray)."""


def complete(root: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    base = Path(root)
    if not base.is_dir():
        return []
    found = [
        p for p in base.iterdir() if _NAME.match(p.name) and (p / STATE_FILE).is_file() and (p / ALGO_DIR).is_dir()
    ]
    return sorted(found, key=lambda p: p.name)


def latest(root: str | os.PathLike[str]) -> Path | None:
    found = complete(root)
    return found[-1] if found else None


BEST = "best"


def best(root: str | os.PathLike[str]) -> Path | None:
    path = Path(root) / BEST
    return path if (path / STATE_FILE).is_file() and (path / ALGO_DIR).is_dir() else None


SUPERSEDED = "superseded"


def set_aside(root: str | os.PathLike[str]) -> Path | None:
    """Move every checkpoint under ``root`` (``iter_*``, ``best``, unfinished ``.tmp_*``) into
    ``root/superseded/<n>/``, so that a fresh run neither resumes them nor mixes with them, and nothing is deleted.
    Returns where they went, or None if there were none."""
    base = Path(root)
    if not base.is_dir():
        return None
    found = [p for p in base.iterdir() if _NAME.match(p.name) or p.name == BEST or p.name.startswith(".tmp_")]
    if not found:
        return None
    parent = base / SUPERSEDED
    parent.mkdir(exist_ok=True)
    dest = parent / str(1 + max((int(p.name) for p in parent.iterdir() if p.name.isdigit()), default=0))
    dest.mkdir()
    for p in found:
        p.rename(dest / p.name)
    return dest


def save(
    algo: Any, root: str | os.PathLike[str], iteration: int, state: dict[str, Any], keep: int, name: str = ""
) -> Path:
    """Write checkpoint ``iteration`` (or ``name``, e.g. ``BEST``) atomically; prune all but the newest ``keep``."""
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    name = name or f"iter_{iteration:06d}"
    final = base / name
    tmp = base / f".tmp_{name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    algo.save_to_path(str((tmp / ALGO_DIR).resolve()))
    (tmp / STATE_FILE).write_text(json.dumps(state, indent=1, allow_nan=True))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in complete(base)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_state(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(checkpoint) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable checkpoint state ({exc})") from None


def module_path(checkpoint: str | os.PathLike[str]) -> Path:
    """The RLModule directory inside a checkpoint (or inside a bare ``save_to_path`` directory)."""
    base = Path(checkpoint)
    for candidate in (base / ALGO_DIR / MODULE_SUBDIR, base / MODULE_SUBDIR, base):
        if candidate.name == MODULE_SUBDIR.name and (candidate / "class_and_ctor_args.pkl").is_file():
            return candidate
    raise FileNotFoundError(f"{base}: no RLlib module checkpoint (expected {ALGO_DIR}/{MODULE_SUBDIR})")

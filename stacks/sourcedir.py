"""Deterministic `sourcedir.tar.gz` for the SageMaker training job: training/, inference/, simulator/, requirements.txt,
and controller/ (a team's fleet file is read with the controller's own fleet schema, `controller.config`).

The tarball's requirements.txt is `requirements-training.txt`: requirements.txt minus torch, with the whole
closure pinned by sha256 (scripts/lock_training_requirements.py), so the job's `pip install` at start installs
exactly the locked files or fails. Synth refuses a lock that no longer matches requirements.txt.

Same sources give byte-identical tarballs (sorted entries, fixed mtimes and owners, gzip header without a
timestamp), so the S3 asset hash, and with it the state machine, only changes when the code does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from pathlib import Path

PACKAGES = ("training", "inference", "simulator", "controller")
ENTRY_POINT = "training/sagemaker_entry.py"
_EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".nbi", ".nbc"}
_FIXED_MTIME = 0
# The PyTorch training image brings its own torch build (stacks/images.py); installing the pinned CPU wheel
# of requirements.txt on top of it would replace the image's torch.
_PROVIDED_BY_IMAGE = ("torch",)
LOCK_FILE = "requirements-training.txt"
"""Hash-locked requirements of the training job (generated; shipped as the code directory's requirements.txt)."""


def _pin(line: str) -> tuple[str, str] | None:
    spec = line.split("#", 1)[0].split("--hash", 1)[0].strip()
    if not spec:
        return None
    name, _, version = spec.partition("==")
    return name.split("[", 1)[0].strip().lower().replace("_", "-"), version.strip()


def locked_pins(lock: str, wanted: str) -> dict[str, str]:
    """The lock's pins, after checking that every line has a sha256 and every pin of `wanted` is locked as is."""
    pins: dict[str, str] = {}
    for line in lock.splitlines():
        pin = _pin(line)
        if pin is None:
            continue
        if "--hash=sha256:" not in line:
            raise ValueError(f"{LOCK_FILE}: {pin[0]} has no --hash=sha256 (pip's hash-checking mode needs all)")
        pins[pin[0]] = pin[1]
    for line in wanted.splitlines():
        pin = _pin(line)
        if pin is not None and pins.get(pin[0]) != pin[1]:
            raise ValueError(
                f"{LOCK_FILE} locks {pin[0]} at {pins.get(pin[0])!r}, requirements.txt pins {pin[1]!r}: run "
                "scripts/lock_training_requirements.py"
            )
    if "ray" not in pins or "ray[rllib]==" not in lock:
        raise ValueError(f"{LOCK_FILE} must lock ray[rllib]")
    return pins


def _included(path: Path, root: Path) -> bool:
    rel = path.relative_to(root)
    if any(part in _EXCLUDED_DIRS or part.startswith(".") for part in rel.parts):
        return False
    return path.is_file() and path.suffix not in _EXCLUDED_SUFFIXES


def training_requirements(requirements: str) -> str:
    """requirements.txt minus the packages the training image provides."""
    kept = []
    for line in requirements.splitlines():
        name = line.split("#", 1)[0].strip().split("==", 1)[0].split("[", 1)[0].strip().lower()
        if name not in _PROVIDED_BY_IMAGE:
            kept.append(line)
    text = "\n".join(kept).strip() + "\n"
    if "ray[rllib]" not in text:
        raise ValueError("requirements.txt must pin ray[rllib] for the training job")
    return text


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = _FIXED_MTIME
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def sourcedir_bytes(root: Path) -> bytes:
    """The tar.gz content, built in memory (a few MB at most)."""
    entry = root / ENTRY_POINT
    if not entry.is_file():
        raise FileNotFoundError(f"training entry point {entry} not found: the training job runs it")
    requirements = root / "requirements.txt"
    if not requirements.is_file():
        raise FileNotFoundError(f"{requirements} not found: the training job installs it")
    lock = root / LOCK_FILE
    if not lock.is_file():
        raise FileNotFoundError(f"{lock} not found: run scripts/lock_training_requirements.py")
    lock_text = lock.read_text(encoding="utf-8")
    locked_pins(lock_text, training_requirements(requirements.read_text(encoding="utf-8")))
    files = sorted(
        (p.relative_to(root).as_posix(), p)
        for package in PACKAGES
        for p in (root / package).rglob("*")
        if _included(p, root)
    )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "requirements.txt", lock_text.encode())
        for name, path in files:
            _add(tar, name, path.read_bytes())
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=_FIXED_MTIME, filename="", compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def build_sourcedir(root: Path, out_dir: Path | None = None) -> Path:
    """Write the tarball to `out_dir/sourcedir-<sha256>.tar.gz` (a temp dir by default) and return its path."""
    data = sourcedir_bytes(root)
    digest = hashlib.sha256(data).hexdigest()
    out_dir = out_dir or Path(tempfile.gettempdir()) / "rl-autoscaler-sourcedir"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"sourcedir-{digest}.tar.gz"
    if not path.exists():
        tmp = out_dir / f".{path.name}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        tmp.replace(path)
    return path

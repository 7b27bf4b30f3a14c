"""Deterministic `sourcedir.tar.gz` for the SageMaker training job: training/ + inference/ + requirements.txt.

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

PACKAGES = ("training", "inference")
ENTRY_POINT = "training/sagemaker_entry.py"
_EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".nbi", ".nbc"}
_FIXED_MTIME = 0
# The PyTorch training image brings its own torch build (stacks/images.py); installing the pinned CPU wheel
# of requirements.txt on top of it would replace the image's torch.
_PROVIDED_BY_IMAGE = ("torch",)


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
    files = sorted(
        (p.relative_to(root).as_posix(), p)
        for package in PACKAGES
        for p in (root / package).rglob("*")
        if _included(p, root)
    )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "requirements.txt", training_requirements(requirements.read_text(encoding="utf-8")).encode())
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

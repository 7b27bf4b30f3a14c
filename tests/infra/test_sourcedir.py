"""The training source dir: deterministic tar.gz of training/ + inference/ + requirements.txt."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from pathlib import Path

import pytest

from stacks.sourcedir import LOCK_FILE, build_sourcedir, locked_pins, sourcedir_bytes, training_requirements
from tests.infra.helpers import ROOT


@pytest.fixture(scope="module")
def members() -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(sourcedir_bytes(ROOT)), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_same_sources_give_byte_identical_tarballs(tmp_path: Path) -> None:
    first = build_sourcedir(ROOT, tmp_path / "a").read_bytes()
    second = build_sourcedir(ROOT, tmp_path / "b").read_bytes()
    assert first == second
    assert gzip.decompress(first)  # a valid gzip stream
    assert first[4:8] == b"\0\0\0\0"  # no timestamp in the gzip header


def test_holds_the_entry_point_both_packages_and_requirements(members: dict[str, tarfile.TarInfo]) -> None:
    names = set(members)
    assert "training/sagemaker_entry.py" in names and "training/train.py" in names
    assert {p.relative_to(ROOT).as_posix() for p in (ROOT / "inference").glob("*.py")} <= names
    assert "requirements.txt" in names
    assert "controller/config.py" in names  # a team's fleet file is read with the controller's schema
    assert not any("__pycache__" in n or n.endswith((".pyc", ".nbi", ".nbc")) for n in names)
    assert not any(n.startswith(("stacks/", "tests/", "scripts/")) for n in names)


def test_entries_are_sorted_with_fixed_metadata(members: dict[str, tarfile.TarInfo]) -> None:
    names = list(members)
    assert names[0] == "requirements.txt" and names[1:] == sorted(names[1:])
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members.values()} == {(0, 0, 0, "", "", 0o644)}


def test_requirements_keep_ray_and_drop_the_torch_the_image_brings() -> None:
    text = training_requirements((ROOT / "requirements.txt").read_text())
    assert "ray[rllib]==" in text
    assert not any(line.split("#")[0].strip().startswith("torch") for line in text.splitlines())
    with pytest.raises(ValueError, match="ray\\[rllib\\]"):
        training_requirements("numpy==2.0\n")


def test_missing_entry_point_is_named(tmp_path: Path) -> None:
    (tmp_path / "training").mkdir()
    with pytest.raises(FileNotFoundError, match=r"sagemaker_entry\.py not found"):
        sourcedir_bytes(tmp_path)


def test_the_job_installs_a_hash_locked_closure_matching_requirements_txt() -> None:
    """Ray is not pip-installed loosely at every job start: the shipped requirements.txt is the lock, one sha256 per
    package (pip's hash-checking mode), and it locks every pin of requirements.txt but torch at the same version."""
    with tarfile.open(fileobj=io.BytesIO(sourcedir_bytes(ROOT)), mode="r:gz") as tar:
        shipped = tar.extractfile("requirements.txt").read().decode()  # type: ignore[union-attr]
    assert shipped == (ROOT / LOCK_FILE).read_text()
    pins = locked_pins(shipped, training_requirements((ROOT / "requirements.txt").read_text()))
    assert pins["ray"] == "2.60.0" and "torch" not in pins and len(pins) > 20
    lines = [line for line in shipped.splitlines() if line and not line.startswith("#")]
    assert all(" --hash=sha256:" in line and len(line.rsplit(":", 1)[1]) == 64 for line in lines)


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        ("ray[rllib]==2.60.0\nnumpy==2.4.6 --hash=sha256:" + "a" * 64 + "\n", "ray has no --hash"),
        ("ray[rllib]==2.59.0 --hash=sha256:" + "a" * 64 + "\n", "locks ray at '2.59.0'"),
    ],
)
def test_a_stale_or_unhashed_lock_stops_synth(tmp_path: Path, lock: str, message: str) -> None:
    for package in ("training", "inference", "simulator"):
        (tmp_path / package).mkdir()
    (tmp_path / "training" / "sagemaker_entry.py").write_text("")
    (tmp_path / "requirements.txt").write_text("ray[rllib]==2.60.0\ntorch==2.13.0\n")
    (tmp_path / LOCK_FILE).write_text(lock)
    with pytest.raises(ValueError, match=re.escape(message)):
        sourcedir_bytes(tmp_path)

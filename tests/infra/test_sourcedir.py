"""The training source dir: deterministic tar.gz of training/ + inference/ + requirements.txt."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from stacks.sourcedir import build_sourcedir, sourcedir_bytes, training_requirements
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

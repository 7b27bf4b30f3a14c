"""training.cli: a dataclass is a command's options; flags, types, help and errors come from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from training import cli


@dataclass(frozen=True)
class Args:
    out: Path
    """Where the results go."""
    eval_repeats: int = 3
    """Repeats of the full evaluation, at 100 %."""
    preset: Literal["quick", "full"] = "quick"
    """Evaluation set."""
    seeds: tuple[int, ...] = (1, 2)
    """Training seeds."""
    skip_eval: bool = False
    """Skip the evaluation."""
    ratio: float | None = None
    """An optional ratio."""

    def __post_init__(self) -> None:
        if self.eval_repeats < 1:
            raise ValueError(f"--eval-repeats must be >= 1, got {self.eval_repeats}")


def test_flags_types_and_defaults_come_from_the_fields() -> None:
    argv = ["--out", "x", "--eval-repeats", "5", "--preset", "full", "--seeds", "3", "4", "--skip-eval"]
    args = cli.parse(Args, argv)
    assert args == Args(Path("x"), 5, "full", (3, 4), True, None)
    assert cli.parse(Args, ["--out", "y", "--ratio", "0.5"]) == Args(Path("y"), ratio=0.5)


def test_help_is_each_fields_docstring_with_its_default(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.parse(Args, ["--help"], prog="python -m x")
    text = " ".join(capsys.readouterr().out.split())
    assert "--eval-repeats INT Repeats of the full evaluation, at 100 %. (default: 3)" in text
    assert "--skip-eval, --no-skip-eval Skip the evaluation. (default: False)" in text
    assert "{quick,full}" in text and "--out PATH Where the results go." in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: --out"),
        (["--out", "x", "--preset", "huge"], "argument --preset: invalid choice: 'huge'"),
        (["--out", "x", "--eval-repeats", "two"], "argument --eval-repeats: invalid int value: 'two'"),
        (["--out", "x", "--eval-repeats", "0"], "--eval-repeats must be >= 1, got 0"),
    ],
)
def test_bad_values_exit_naming_the_flag(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.parse(Args, argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@dataclass(frozen=True)
class Common:
    region: str = "eu-west-1"
    """AWS region."""


@dataclass(frozen=True)
class Fetch(Common):
    """Fetch one object."""

    uri: str = ""
    """Where from."""


@dataclass(frozen=True)
class Run(Common):
    """Run a command."""

    command: tuple[str, ...] = field(default=(), metadata=cli.POSITIONAL)
    """The command to run, after --."""
    child: Path | None = field(default=None, metadata=cli.HIDDEN)
    """Internal."""


def test_subcommands_positional_remainder_and_hidden_flags(capsys) -> None:
    commands = {"fetch": Fetch, "run": Run}
    assert cli.parse(commands, ["fetch", "--uri", "s3://b/k", "--region", "us-east-1"]) == Fetch(
        "us-east-1", "s3://b/k"
    )
    ran = cli.parse(commands, ["run", "--child", "c", "--", "python", "-m", "x", "--flag"])
    assert ran == Run(command=("python", "-m", "x", "--flag"), child=Path("c"))
    with pytest.raises(SystemExit):
        cli.parse(commands, ["run", "--help"])
    text = capsys.readouterr().out
    assert "The command to run" in text and "--child" not in text and "AWS region." in text
    with pytest.raises(SystemExit):
        cli.parse(commands, [])
    assert "required: {fetch,run}" in capsys.readouterr().err


def test_parse_known_leaves_the_rest() -> None:
    args, rest = cli.parse_known(Common, ["--region", "x", "-max_len=9", "corpus"])
    assert args == Common("x") and rest == ["-max_len=9", "corpus"]


def test_a_sequence_flag_repeats_or_takes_several_values_and_replaces_the_default() -> None:
    assert cli.parse(Args, ["--out", "x"]).seeds == (1, 2)
    assert cli.parse(Args, ["--out", "x", "--seeds", "3"]).seeds == (3,)
    assert cli.parse(Args, ["--out", "x", "--seeds", "3", "--seeds", "4", "5"]).seeds == (3, 4, 5)

"""The project's command-line convention: a command's options are one frozen dataclass, parsed by ``parse``.

Each field is a flag of the same name (``--eval-repeats`` for ``eval_repeats``); its type is the annotation
(``int``, ``float``, ``str``, ``Path``, a ``Literal`` of choices, ``bool`` as ``--flag/--no-flag``, a
``tuple[X, ...]`` as several values); its help is the docstring under the field, and the default is shown::

    @dataclass(frozen=True)
    class Args:
        repeats: int = 5
        \"\"\"Repeats of each measurement.\"\"\"

    def main(argv: list[str] | None = None) -> int:
        args = cli.parse(Args, argv, prog="python -m benchmarks.sim", description=__doc__)

A bad value exits with argparse's usage message naming the flag; ``check`` reports a cross-field error the same
way. The standard library only, so every entry point (``benchmarks/``, ``research/``, ``scripts/``, the gate) can
use it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import textwrap
import typing
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

T = TypeVar("T")


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass, by field name (empty where the source is unavailable)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _argument(hint: Any, default: Any) -> dict[str, Any]:
    """argparse keywords for a field of type ``hint``."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":  # X | None: the X, default None
        (hint,) = [a for a in args if a is not type(None)]
        return _argument(hint, default)
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is Literal:
        return {"choices": list(args), "type": type(args[0])}
    if origin in (tuple, list):
        return {"nargs": "+", "type": args[0], "metavar": args[0].__name__.upper()}
    if hint in (int, float, str, Path):
        return {"type": hint, "metavar": hint.__name__.upper()}
    raise TypeError(f"no command-line form for a field of type {hint!r}")


def parser_for(cls: type, *, prog: str | None = None, description: str | None = None) -> argparse.ArgumentParser:
    """An argparse parser with one flag per field of the dataclass ``cls``."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        required = default is dataclasses.MISSING
        shown = "" if required else f" (default: {default!r})".replace("%", "%%")
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            required=required,
            default=None if required else default,
            help=docs.get(f.name, "").replace("%", "%%") + shown,
            **_argument(hints[f.name], default),
        )
    return parser


def parse(cls: type[T], argv: list[str] | None = None, *, prog: str | None = None, description: str | None = None) -> T:
    """Parse ``argv`` (default: ``sys.argv[1:]``) into an instance of the dataclass ``cls``.

    A ``ValueError`` raised by ``cls`` (its ``__post_init__`` checks) exits like a bad flag, with the message."""
    parser = parser_for(cls, prog=prog, description=description)
    values = vars(parser.parse_args(argv))
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return cls(**values)
    except ValueError as exc:
        parser.error(str(exc))
        raise  # parser.error exits; this keeps type checkers content

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

A bad value exits with argparse's usage message naming the flag, and so does a ``ValueError`` from the
dataclass's ``__post_init__`` (checks across fields). ``field(metadata=POSITIONAL)`` makes a field positional (a
``tuple[str, ...]`` one takes the rest of the command line, e.g. a command to run after ``--``);
``field(metadata=HIDDEN)`` keeps a flag out of the help. Subcommands are a dict of name to dataclass:
``parse({"publish": Publish, "fetch": Fetch}, argv)`` returns an instance of the one named. The standard library
only, so every entry point (``benchmarks/``, ``research/``, ``scripts/``, the gate) can use it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import textwrap
import typing
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

T = TypeVar("T")

POSITIONAL = {"cli": "positional"}
"""``field(metadata=POSITIONAL)``: the field is a positional argument, not a flag."""
HIDDEN = {"cli": "hidden"}
"""``field(metadata=HIDDEN)``: the flag works but is not shown by ``--help`` (an internal hand-over)."""


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
    if origin in (tuple, list):  # --x a b, or repeated: --x a --x b
        return {"nargs": "+", "action": "extend", "type": args[0], "metavar": args[0].__name__.upper()}
    if hint in (int, float, str, Path):
        return {"type": hint, "metavar": hint.__name__.upper()}
    raise TypeError(f"no command-line form for a field of type {hint!r}")


def _shown(default: Any) -> str:
    """A default as it would be typed: ``1 2`` for a tuple, ``artifacts/x`` for a path."""
    if isinstance(default, tuple | list):
        return " ".join(map(str, default)) or "none"
    return str(default) if isinstance(default, Path) else repr(default)


def add_fields(parser: argparse.ArgumentParser, cls: type) -> None:
    """One argument per init field of the dataclass ``cls`` on ``parser``."""
    hints = typing.get_type_hints(cls)
    docs = field_docs_of(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        required = default is dataclasses.MISSING
        shown = "" if required or default is None else f" (default: {_shown(default)})".replace("%", "%%")
        text = docs.get(f.name, "").replace("%", "%%") + shown
        kind = f.metadata.get("cli")
        keywords = _argument(hints[f.name], default)
        if kind == "positional":
            if keywords.get("nargs") == "+":
                keywords.pop("action")
                keywords["nargs"] = argparse.REMAINDER
            if not required:
                keywords.setdefault("nargs", "?")
                keywords["default"] = default
            parser.add_argument(f.name, help=text, **keywords)
            continue
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            required=required,
            # argparse extends a list default in place: a repeated flag starts from nothing, the default applies after
            default=None if required or keywords.get("action") == "extend" else default,
            help=argparse.SUPPRESS if kind == "hidden" else text,
            **keywords,
        )


def field_docs_of(cls: type) -> dict[str, str]:
    """Field docstrings of ``cls`` and of the dataclasses it inherits from (its own win)."""
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if dataclasses.is_dataclass(base):
            docs.update(field_docs(base))
    return docs


def parser_for(
    spec: type | Mapping[str, type], *, prog: str | None = None, description: str | None = None
) -> argparse.ArgumentParser:
    """An argparse parser for a dataclass, or for a dict of subcommand name to dataclass."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if isinstance(spec, Mapping):
        commands = parser.add_subparsers(dest=COMMAND, required=True, metavar="{" + ",".join(spec) + "}")
        for name, cls in spec.items():
            summary = (inspect.getdoc(cls) or "").split("\n")[0]
            add_fields(commands.add_parser(name, help=summary, description=summary), cls)
    else:
        add_fields(parser, spec)
    return parser


COMMAND = "cli_command"


def _instance(spec: type | Mapping[str, type], values: dict[str, Any], parser: argparse.ArgumentParser) -> Any:
    cls = spec[values.pop(COMMAND)] if isinstance(spec, Mapping) else spec
    for name, value in list(values.items()):
        if value is None:
            del values[name]  # not given: the dataclass's default
        elif isinstance(value, list):
            values[name] = tuple(value[1:] if value[:1] == ["--"] else value)
    try:
        return cls(**values)
    except ValueError as exc:
        parser.error(str(exc))
        raise  # parser.error exits; this keeps type checkers content


def parse(
    spec: type[T] | Mapping[str, type[T]],
    argv: list[str] | None = None,
    *,
    prog: str | None = None,
    description: str | None = None,
) -> T:
    """Parse ``argv`` (default: ``sys.argv[1:]``) into an instance of the dataclass (or of the subcommand's)."""
    parser = parser_for(spec, prog=prog, description=description)
    return _instance(spec, vars(parser.parse_args(argv)), parser)


def parse_known(
    spec: type[T], argv: list[str] | None = None, *, prog: str | None = None, description: str | None = None
) -> tuple[T, list[str]]:
    """``parse``, leaving the arguments it does not know to the caller (e.g. flags handed on to another tool)."""
    parser = parser_for(spec, prog=prog, description=description)
    known, rest = parser.parse_known_args(argv)
    return _instance(spec, vars(known), parser), rest

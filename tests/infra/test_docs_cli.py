"""Every AWS CLI command in the README and docs/ runs as written: a known service and operation, options that are
the operation's parameters (or the CLI's own), every required parameter given, and `--region` always."""

from __future__ import annotations

import re
import shlex

import botocore.session
import pytest

from tests.infra.helpers import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLI_OPTIONS = {"region", "query", "output", "cli-binary-format", "profile", "no-cli-pager"}
"""The AWS CLI's own options (not the operation's parameters) the docs may use."""
CLI_SERVICES = {"stepfunctions": "stepfunctions", "lambda": "lambda"}
_FENCED = re.compile(r"```(\w*)\n(.*?)```", re.S)
_SPAN = re.compile(r"(?<!`)`(aws\s+[a-z0-9-]+\s+[a-z0-9-]+[^`]*)`(?!`)")


def commands() -> list[tuple[str, str]]:
    """(where, command): lines of fenced blocks (continuations joined) and inline code spans starting `aws `."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        candidates = [" ".join(m.group(1).split()) for m in _SPAN.finditer(_FENCED.sub("", text))]
        for language, block in _FENCED.findall(text):
            if language not in ("", "bash", "sh", "shell"):
                continue
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip()
                candidates += [line] if re.match(r"aws [a-z0-9-]+ [a-z0-9-]+", line) else []
        found += [(f"{doc.name}: {c[:60]}", c) for c in candidates if "..." not in c]  # "...": prose, not a command
    return found


def _pascal(option: str) -> str:
    return "".join(part.capitalize() for part in option.split("-"))


@pytest.mark.parametrize(("where", "command"), commands(), ids=[w for w, _ in commands()])
def test_aws_cli_command_runs_as_written(where: str, command: str) -> None:
    words = shlex.split(command.split("#")[0].replace("<", "'<").replace(">", ">'"))
    _, service, operation, *rest = words
    assert "--region" in rest, f"{where}: no --region"
    session = botocore.session.get_session()
    model = session.get_service_model(CLI_SERVICES.get(service, service))
    names = {re.sub(r"(?<!^)(?=[A-Z])", "-", n).lower(): n for n in model.operation_names}
    assert operation in names, f"{where}: {service} has no operation {operation}"
    shape = model.operation_model(names[operation]).input_shape
    members = {m.lower(): m for m in (shape.members if shape else {})}
    given = set()
    for word in rest:
        if not word.startswith("--"):
            continue
        option = word[2:].removeprefix("no-") if word[2:].removeprefix("no-") != "cli-pager" else word[2:]
        if option in CLI_OPTIONS:
            continue
        key = _pascal(option).lower()
        assert key in members, f"{where}: {operation} has no parameter --{option}"
        given.add(members[key])
    required = set(shape.required_members) if shape else set()
    assert required <= given, f"{where}: missing {sorted(required - given)}"


def test_the_docs_hold_commands() -> None:
    assert len(commands()) >= 10

"""The product never imports research code: experiments may change or go without breaking it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("app.py", "stacks", "training", "inference", "controller", "simulator", "scripts", "benchmarks")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_product_module_imports_research() -> None:
    files = [p for part in PRODUCT for p in ([ROOT / part] if part.endswith(".py") else (ROOT / part).rglob("*.py"))]
    assert len(files) > 100
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in imported_modules(p) if m.split(".")[0] == "research") for p in files
    }
    assert {p: m for p, m in offenders.items() if m} == {}

"""The controller's Lambda package, staged at synth without Docker: `controller/`, `inference/`, `simulator/`.

What goes in (a directory that `lambda_.Code.from_asset` zips; same sources, same asset hash): three packages,
whole: `controller/`, `inference/` (the decision contract and the one fallback rule) and `simulator/` (the
simulator core, with the recorded traces that simulated fleets replay and their licences; numpy only: numba and
scipy are optional there).

Nothing of `training/` (no RLlib, torch or Ray code). Checked here, at synth: every staged module's
top-level imports resolve to the standard library, a staged package, the layers (numpy, Powertools) or the
Lambda runtime (boto3); and the unzipped package plus the pinned layers fit Lambda's 250 MB.
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from stacks.layers import LAMBDA_UNZIPPED_LIMIT_BYTES, MIB, layers_unzipped_bytes

PACKAGES = ("controller", "inference", "simulator")
HANDLER = "controller.handler.lambda_handler"
PROVIDED = {
    "numpy": "the AWS SDK for pandas layer",
    "aws_lambda_powertools": "the Powertools layer",
    "boto3": "the Lambda runtime",
    "botocore": "the Lambda runtime",
}
_EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}


class ControllerPackageError(ValueError):
    """The controller's Lambda package cannot be built or would not run."""


def _tree(root: Path, package: str) -> Iterator[tuple[str, Path]]:
    base = root / package
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(root)
        if any(part in _EXCLUDED_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix not in _EXCLUDED_SUFFIXES:
            yield rel.as_posix(), path


def package_files(root: Path) -> dict[str, Path]:
    """Archive name -> source file, sorted; fails naming what is missing."""
    handler = root / "controller" / "handler.py"
    if not handler.is_file():
        raise ControllerPackageError(f"{handler} not found: the controller Lambda runs {HANDLER}")
    files: dict[str, Path] = {}
    for package in PACKAGES:
        files.update(_tree(root, package))
    return dict(sorted(files.items()))


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names)


def _top_level_imports(source: str, filename: str) -> set[str]:
    """Modules imported when the module loads (not inside functions; `if TYPE_CHECKING:` blocks skipped)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
            elif isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try) and not any(_catches_import_error(h) for h in node.handlers):
                visit(node.body)  # imports guarded by `except ImportError` are optional

    visit(ast.parse(source, filename=filename).body)
    return found


def check_imports(files: dict[str, Path]) -> None:
    """Every top-level import must be importable in the Lambda: fail synth naming the module and the file."""
    staged_modules = {name.removesuffix(".py").replace("/", ".").removesuffix(".__init__") for name in files}
    problems = []
    for name, path in files.items():
        if not name.endswith(".py"):
            continue
        for module in sorted(_top_level_imports(path.read_text(encoding="utf-8"), name)):
            top = module.split(".", 1)[0]
            if top in sys.stdlib_module_names or top in PROVIDED or module in staged_modules:
                continue
            problems.append(f"{name} imports {module}")
    if problems:
        raise ControllerPackageError(
            "the controller's Lambda package cannot import: "
            + "; ".join(problems)
            + f" (it ships {', '.join(PACKAGES)} and numpy/Powertools from layers; "
            "import heavy dependencies inside the function that needs them, or add them to stacks/layers.py)"
        )


def package_digest(files: dict[str, Path]) -> str:
    digest = hashlib.sha256()
    for name, path in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def package_size(files: dict[str, Path]) -> int:
    return sum(path.stat().st_size for path in files.values())


def check_size(code_bytes: int) -> int:
    """Code plus the pinned layers, unzipped, must fit Lambda's limit; returns the total."""
    total = code_bytes + layers_unzipped_bytes()
    if total > LAMBDA_UNZIPPED_LIMIT_BYTES:
        raise ControllerPackageError(
            f"controller package {code_bytes / MIB:.1f} MiB + layers {layers_unzipped_bytes() / MIB:.1f} MiB "
            f"unzipped exceed Lambda's {LAMBDA_UNZIPPED_LIMIT_BYTES / MIB:.0f} MiB"
        )
    return total


def build_controller_package(root: Path, out_dir: Path | None = None) -> Path:
    """Stage the package into `out_dir/controller-<sha256>/` (a temp dir by default) and return that directory."""
    files = package_files(root)
    check_imports(files)
    check_size(package_size(files))
    out_dir = out_dir or Path(tempfile.gettempdir()) / "rl-autoscaler-controller"
    target = out_dir / f"controller-{package_digest(files)}"
    if not target.is_dir():
        tmp = out_dir / f".{target.name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for name, path in files.items():
            dest = tmp / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        try:
            tmp.replace(target)
        except OSError:  # another synth staged the same content first
            shutil.rmtree(tmp, ignore_errors=True)
    return target

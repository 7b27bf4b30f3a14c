"""The controller's Lambda package (stacks/controller_asset.py): what it holds, what it refuses, and that it runs
without numba and scipy (which do not fit a zip Lambda beside the numpy layer).

Built from a copy of the repository with a stand-in `controller/` package, so these tests do not depend on the
controller's code; the synthesised stacks (test_controller_stack.py) package the real one.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stacks.controller_asset import (
    ControllerPackageError,
    build_controller_package,
    check_imports,
    check_size,
    package_files,
    package_size,
)
from stacks.layers import CONTROLLER_LAYERS, LAMBDA_UNZIPPED_LIMIT_BYTES, MIB, layers_unzipped_bytes
from tests.infra.helpers import ROOT


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """inference/, simulator/ and training/ of the repository, and a minimal controller package."""
    out = tmp_path_factory.mktemp("repo")
    for package in ("inference", "simulator", "training"):
        shutil.copytree(ROOT / package, out / package, ignore=shutil.ignore_patterns("__pycache__"))
    (out / "controller").mkdir()
    (out / "controller" / "__init__.py").write_text("")
    (out / "controller" / "handler.py").write_text(
        "import json\n\nimport boto3\nimport numpy as np\n\nfrom simulator import FleetSim\n\n\n"
        "def lambda_handler(event, context):\n    return json.dumps({'ok': True})\n"
    )
    return out


def test_holds_the_controller_inference_the_simulator_core_traces_and_stand_ins(root: Path) -> None:
    files = package_files(root)
    assert "controller/handler.py" in files and "inference/shield.py" in files
    shipped = {f for f in files if f.startswith("simulator/") and f.endswith(".py")}
    assert shipped == {f"simulator/{p.name}" for p in (ROOT / "simulator").glob("*.py")}  # the package, whole
    assert {"simulator/__init__.py", "simulator/fleet.py", "simulator/kernel.py", "simulator/loads.py"} <= shipped
    assert not any(f.startswith("training/") for f in files)  # no RLlib, torch or Ray code
    assert {"simulator/traces/nasa_jul95.csv", "simulator/traces/worldcup98_may01_jun09.csv"} <= set(files)
    assert "simulator/traces/WORLDCUP98-COPYRIGHT.txt" in files  # the licence travels with the trace
    assert not any(f.startswith(("numba/", "scipy/")) for f in files)  # no stand-ins: the core needs neither
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)


def test_same_sources_stage_the_same_directory(root: Path, tmp_path: Path) -> None:
    first = build_controller_package(root, tmp_path)
    second = build_controller_package(root, tmp_path)
    assert first == second and first.name.startswith("controller-")
    staged = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert staged == sorted(package_files(root))


def test_missing_handler_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ControllerPackageError, match=r"controller/handler.py not found"):
        package_files(tmp_path)


def test_a_top_level_import_the_lambda_lacks_fails_naming_module_and_file(root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\n\ntry:\n    import optional_thing\nexcept ImportError:\n    pass\n")
    with pytest.raises(ControllerPackageError, match=r"controller/extra.py imports torch") as error:
        check_imports({**package_files(root), "controller/extra.py": bad})
    assert "optional_thing" not in str(error.value)  # guarded by `except ImportError`: optional


def test_imports_inside_functions_are_allowed(root: Path, tmp_path: Path) -> None:
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def export():\n    import torch\n    return torch\n")
    check_imports({**package_files(root), "controller/lazy.py": lazy})


def test_package_and_layers_fit_lambdas_unzipped_limit(root: Path) -> None:
    code = package_size(package_files(root))
    assert code < 5 * MIB  # code and the two traces
    assert check_size(code) == code + layers_unzipped_bytes() <= LAMBDA_UNZIPPED_LIMIT_BYTES
    with pytest.raises(ControllerPackageError, match=r"exceed Lambda's 250 MiB"):
        check_size(LAMBDA_UNZIPPED_LIMIT_BYTES)


def test_layers_are_pinned_aws_managed_public_layers_for_python312() -> None:
    arns = [layer.arn() for layer in CONTROLLER_LAYERS]
    assert arns == [
        "arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python312:26",
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:27",
    ]
    with pytest.raises(ValueError, match="eu-west-1 only"):
        CONTROLLER_LAYERS[0].arn("us-east-1")


_SIMULATE = """
import json
import numpy as np
from simulator import FleetSim, SimConfig, trace_scenario

scenario = trace_scenario("nasa", "eval", mean_machines=20.0, minutes=90, seed=3)  # low volume: smoothed
sim = FleetSim(SimConfig(), [scenario], seed=7)
rows = []
for t in range(90):
    result = sim.step(np.array([18 + (t // 10) % 5]))
    rows.append([float(result.load[0]), float(result.served[0]), float(result.active[0]), float(result.reward[0])])
print(json.dumps(rows))
"""


def test_simulator_core_runs_from_the_package_without_numba_and_scipy(root: Path, tmp_path: Path) -> None:
    """A fresh interpreter whose path starts at the staged package (as /var/task does in Lambda) simulates the
    same 90 minutes as the repository's environment with the real numba and scipy: the same fleet minute for
    minute, loads and profit equal to 1e-9 (numpy's smoothing against scipy's, see tests/training/test_sim_core.py)."""
    import json

    staged = build_controller_package(root, tmp_path)
    check = (  # the Lambda has neither numba nor scipy: block them as it would lack them
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in {'numba', 'scipy'}:\n"
        "            raise ImportError(name + ' is not in the Lambda package or its layers')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import controller.handler\n"
    )
    lambda_like = subprocess.run(
        [sys.executable, "-c", check + _SIMULATE],
        cwd=staged,
        env={"PYTHONPATH": str(staged)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert lambda_like.returncode == 0, lambda_like.stderr[-2000:]
    repository = subprocess.run(
        [sys.executable, "-c", _SIMULATE], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert repository.returncode == 0, repository.stderr[-2000:]
    ours, theirs = json.loads(lambda_like.stdout), json.loads(repository.stdout)
    assert len(ours) == 90
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-9, atol=1e-9)

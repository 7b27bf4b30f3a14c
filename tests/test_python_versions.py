"""The code runs on the interpreters it meets in production, not only on the main venv's Python 3.11.

The SageMaker images pin their own Python (stacks/images.py): 3.12 in both. The main venv stays on 3.11 because the
only torch build on disk is for 3.11 (an unpinned torch downloads GBs), so `make test` also builds two small venvs
without torch or ray (requirements-py312.txt with the inference image's numpy 2.1.0, requirements-py312-training.txt
with the training job's numpy) and this test runs, in each, the tests of the code that image runs:

- .venv-py312 (inference image): inference/ with all of tests/inference (the HTTP server, the SageMaker toolkit's
  Transformer, the shield, the contract), serving an artifact the main venv packaged. Not run there: the two tests
  that package a policy from a torch network (tests/inference/test_artifact.py, test_packaging_is_reproducible):
  packaging happens in the training job, not in the endpoint.
- .venv-py312-training (training image): the simulator, environment, loads, baselines, oracle and evaluation
  (tests/training/test_{sim,env,loads,baselines,oracle,evaluate}.py). Not run there: RLlib training and export
  (tests/training/test_train_*.py, test_export.py) and the one evaluation test that packages a policy, because ray and
  torch are not installed in that venv; they run on 3.11 here and in the training image itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.images import INFERENCE_PY, TRAINING_PY

ROOT = Path(__file__).resolve().parent.parent
SERVING_TESTS = ["tests/inference", "--ignore=tests/inference/test_artifact.py"]
SERVING_DESELECT = ["tests/inference/test_packaging.py::test_packaging_is_reproducible"]
SIMULATOR_TESTS = [
    f"tests/training/test_{name}.py" for name in ("sim", "env", "loads", "baselines", "oracle", "evaluate")
]
SIMULATOR_DESELECT = ["tests/training/test_evaluate.py::test_a_packaged_policy_is_one_more_entry"]


def _venv_python(py: str) -> Path:
    python = ROOT / f".venv-{py}" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python.parent.parent.name} is missing: `make test` builds it (`make .venv-{py}/.installed`)")
    return python


def _run(python: Path, args: list[str], deselect: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    command += [word for test in deselect for word in ("--deselect", test)]
    return subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)


SERVING_VENV, TRAINING_VENV = INFERENCE_PY, f"{TRAINING_PY}-training"


@pytest.mark.parametrize(("venv", "image"), [(SERVING_VENV, INFERENCE_PY), (TRAINING_VENV, TRAINING_PY)])
def test_second_venvs_use_the_images_interpreters(venv: str, image: str) -> None:
    version = subprocess.run(
        [str(_venv_python(venv)), "-c", "import sys; print(f'py{sys.version_info[0]}{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == image, "the venv's Python must follow stacks/images.py"


def test_serving_code_passes_its_tests_on_the_inference_images_python(tmp_path: Path) -> None:
    from inference import artifact
    from tests.inference.helpers import MODEL_VERSION

    artifact.package_policy(artifact.random_policy(0), tmp_path, metadata=artifact.untrained_metadata(MODEL_VERSION))
    result = _run(
        _venv_python(SERVING_VENV), SERVING_TESTS, SERVING_DESELECT, {"AUTOSCALER_TEST_ARTIFACT_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_simulator_and_evaluation_pass_their_tests_on_the_training_images_python() -> None:
    result = _run(_venv_python(TRAINING_VENV), SIMULATOR_TESTS, SIMULATOR_DESELECT, {})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
    assert sys.version_info[:2] == (3, 11)  # this outer run is the main venv's

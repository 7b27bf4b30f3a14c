"""SageMaker training entry point (``sagemaker_program``): runs ``training.train`` inside the PyTorch container.

The container runs ``python sagemaker_entry.py --hp1 v1 ...`` from the source directory root (``training/``,
``inference/`` and ``requirements.txt``, installed with pip first), on every host of the job. The
hyperparameters arrive both as those flags and in ``SM_HPS``; ``training.train`` reads the SageMaker
environment itself (``training.cloud.sagemaker_env``). This file only makes ``training`` and ``inference`` importable
whether the container puts this script at the root of the source dir or inside ``training/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if HERE.name == "training" and sys.path and Path(sys.path[0]).resolve() == HERE:
    sys.path.pop(0)  # run as training/sagemaker_entry.py: our module names must not become top-level ones
for candidate in (HERE, HERE.parent):
    if (candidate / "training" / "train.py").is_file() and (candidate / "inference").is_dir():
        sys.path.insert(0, str(candidate))
        break
else:
    raise SystemExit(f"sagemaker_entry: cannot find training/ and inference/ beside or above {HERE}")

from training.rl.train import main  # noqa: E402 (sys.path fixed above)

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

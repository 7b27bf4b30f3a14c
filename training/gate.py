"""``python -m training.gate``: gate and package a checkpoint (``training.rl.gate``)."""

from training.rl.gate import main

if __name__ == "__main__":
    raise SystemExit(main())

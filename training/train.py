"""``python -m training.train``: train, gate and package the PPO policy (``training.rl.train``)."""

from training.rl.train import main

if __name__ == "__main__":
    raise SystemExit(main())

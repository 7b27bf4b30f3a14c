"""PPO on Ray RLlib: configuration, training loop, validation, warm start, export, checkpoints, curves, gate."""

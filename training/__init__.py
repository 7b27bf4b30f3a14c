"""Training side of the RL auto-scaler: simulator, policies, evaluation, PPO on Ray RLlib, cloud glue.

    sim/         the fleet simulator (numpy only, numba when available), load generator and traces, Gymnasium envs
    policies/    the policy interface, tuned scaling rules, clairvoyant oracle, the served-artifact policy
    evaluation/  held-out cases, the scoreboard, noise draws and paired statistics, report, the gate's judging
    rl/          PPO configuration and training loop, validation, warm start, export, checkpoints, curves, gate
    cloud/       SageMaker environment and the multi-host Ray cluster

Entry points: ``python -m training.train``, ``python -m training.evaluate``, ``python -m training.gate``.
Importing ``training`` or ``simulator`` loads numpy (and numba if installed), nothing heavier.
"""

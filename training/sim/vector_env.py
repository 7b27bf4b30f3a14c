"""A native Gymnasium vector environment over the batched simulator, for fast RLlib sampling.

RLlib 2.60's ``SingleAgentEnvRunner`` builds its environments with ``gymnasium.make_vec``; with
``gym_env_vectorize_mode="vector_entry_point"`` it calls the registered creator with ``num_envs`` in the config
and uses the returned ``VectorEnv`` as is. ``FleetVectorEnv`` steps ``num_envs`` fleets with one numpy call of
``simulator.FleetSim`` instead of ``num_envs`` Python environments, which is what makes >= 20,000 env steps/s
on 2 cores possible (see ``training/bench_rllib.py``).

Semantics are those of ``training.sim.env.FleetEnv`` batched: the observation comes from
``inference.features.featurize`` of what the cloud observes, an action index goes through
``inference.actions.desired_from_action``, and the reward is the minute's profit in dollars, divided by each
fleet's dollar scale with ``reward_normalization == "economics"`` (``economics_scale``; with a
``fleet_distribution``, which draws every fleet's size, capacity and economics per episode: ``draw_fleet``), by
the episode's mean load in machines with ``"mean_need"``, or by its square root with ``"sqrt_need"`` (a positive
constant per episode: it leaves each episode's optimal policy unchanged, and only
sets how much each fleet size weighs in the gradient: equally per machine, or more for large fleets).
With ``expected_rewards`` the minute's profit is its expectation over the capacity noise given the load and the
serving fleet (``simulator.fleet.expected_profit``): same optimal policy, far less variance. With
``exclude_offered_revenue`` the revenue the whole offered load would bring is subtracted from every minute: the
load does not depend on the policy, so neither does that term (same optimal policy), but it is most of the
reward's variance, and none of it says anything about the fleet: what is left is minus the minute's costs (lost
requests, machines, downtime). ``downtime_penalty`` (with the ``economics`` normalisation) charges each minute down
that many more units of reward (``TrainConfig.downtime_penalty``).
Episodes are truncated after ``episode_minutes``, never terminated.

With ``decision_minutes = k > 1`` each step holds the chosen level for k minutes (the fleet it asks for still
follows every minute's load) and returns the sum of their rewards: action repeat, as frame skipping in Atari.
The policy's per-minute exploration noise is what makes a stochastic policy cautious (each sampled low level
shaves serving machines that a sampled high level re-orders minutes later); holding the level k minutes cuts
that churn k-fold and shortens the credit-assignment horizon k-fold. Serving still asks the policy every minute.

All fleets of one vector env run episodes of equal length and end together; the following ``step`` then
returns the first observation of freshly sampled scenarios with reward 0 (Gymnasium's ``NEXT_STEP`` autoreset,
which is what RLlib's env runner expects), ignoring that step's actions. ``pop_counters`` hands the training
callback the steps, training reward and profit in dollars accumulated since its last call, so that every
iteration reports a return estimate even before any episode has finished.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from inference.actions import N_ACTIONS
from inference.features import OBS_DIM, group_columns, hide_groups
from simulator.config import SimConfig
from simulator.distribution import FleetDistribution
from simulator.fleet import FleetSim, Observation, desired_of, expected_profit, observation_of
from simulator.loads import TRAIN_STREAM, Scenario, TraceFile, load_trace, sample_with_past, with_past

RewardNormalization = Literal["economics", "mean_need", "sqrt_need", "none"]
REWARD_NORMALIZATIONS = get_args(RewardNormalization)


class FleetVectorEnv(VectorEnv):
    """``num_envs`` fleets on training scenarios drawn by ``simulator.loads.sample_scenario``."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        sim_config: SimConfig | dict[str, Any] | None = None,
        trace_probability: float = 0.3,
        reward_normalization: RewardNormalization = "mean_need",
        reward_scale: float = 1.0,
        return_normalization_gamma: float | None = None,
        scenario_sampler: Any = None,
        # returns a Scenario, or (Scenario, past) as sample_with_past does
        expected_rewards: bool = False,
        exclude_offered_revenue: bool = False,
        downtime_penalty: float = 0.0,
        decision_minutes: int = 1,
        team_traces: tuple[str, ...] | list[str] = (),
        short_history_probability: float = 0.2,
        ablate: tuple[str, ...] | list[str] = (),
        fleet_distribution: FleetDistribution | dict[str, Any] | None = None,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if reward_normalization not in REWARD_NORMALIZATIONS:
            raise ValueError(
                f"reward_normalization must be one of {REWARD_NORMALIZATIONS}, got {reward_normalization!r}"
            )
        if decision_minutes < 1:
            raise ValueError(f"decision_minutes must be >= 1, got {decision_minutes}")
        if not 0.0 <= trace_probability <= 1.0:
            raise ValueError(f"trace_probability must be in [0, 1], got {trace_probability}")
        if not 0.0 <= short_history_probability <= 1.0:
            raise ValueError(f"short_history_probability must be in [0, 1], got {short_history_probability}")
        self.short_history_probability = float(short_history_probability)
        # Feature groups the policy trains without (held at 0, their "not known" value): ablations only.
        self.ablate = tuple(ablate)
        group_columns(self.ablate)  # refuses an unknown group now, not at the first step
        if isinstance(sim_config, dict):
            sim_config = SimConfig.from_dict(sim_config)
        self.sim_config = sim_config or SimConfig()
        # Each fleet's size, capacity and economics drawn per episode (simulator.distribution), else all at sim_config.
        if isinstance(fleet_distribution, dict):
            fleet_distribution = FleetDistribution.from_dict(fleet_distribution)
        self.fleet_distribution = fleet_distribution
        if fleet_distribution is not None and expected_rewards:
            raise ValueError("expected_rewards prices every fleet at sim_config: not with a fleet_distribution")
        if fleet_distribution is None and reward_normalization == "economics":
            raise ValueError('reward_normalization "economics" needs a fleet_distribution')
        if downtime_penalty < 0 or (downtime_penalty and reward_normalization != "economics"):
            raise ValueError(
                f'downtime_penalty must be >= 0, and needs reward_normalization "economics", got {downtime_penalty}'
            )
        self.downtime_penalty = float(downtime_penalty)
        self.num_envs = num_envs
        self.trace_probability = trace_probability
        self.reward_normalization = reward_normalization
        self.reward_scale = float(reward_scale)
        self.expected_rewards = expected_rewards
        self.exclude_offered_revenue = exclude_offered_revenue
        self.decision_minutes = int(decision_minutes)
        # Teams' trace files mixed into the training scenarios (their training part only; ``sample_scenario``).
        self.team_traces = tuple(load_trace(path) for path in team_traces)
        self.scenario_sampler = scenario_sampler or self._sample_training_scenario
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self.single_action_space = gym.spaces.Discrete(N_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rng = np.random.default_rng([TRAIN_STREAM, 0])
        self.sim: FleetSim | None = None
        self._obs: Observation | None = None
        self._needs_reset = True
        self._counters = np.zeros(3)
        self._return_norm = (
            RunningReturnScale(num_envs, return_normalization_gamma) if return_normalization_gamma else None
        )
        self._zeros = np.zeros(num_envs)
        self._false = np.zeros(num_envs, dtype=bool)

    def _sample_training_scenario(self, rng: np.random.Generator) -> tuple[Scenario, np.ndarray]:
        return sample_with_past(
            rng,
            self.sim_config.episode_minutes,
            short_history_probability=self.short_history_probability,
            trace_probability=self.trace_probability,
            capacity=self.sim_config.capacity_rpm_per_machine,
            team_traces=self.team_traces,
        )

    def _draw(self) -> tuple[SimConfig, Scenario, np.ndarray]:
        """One fleet's config, scenario and past."""
        if self.fleet_distribution is None:
            return (self.sim_config, *with_past(self.scenario_sampler(self._rng)))
        return draw_fleet(
            self._rng,
            self.fleet_distribution,
            self.sim_config,
            short_history_probability=self.short_history_probability,
            trace_probability=self.trace_probability,
            team_traces=self.team_traces,
        )

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            # Training streams only: held-out evaluation draws from EVAL_STREAM (simulator.loads).
            self._rng = np.random.default_rng([TRAIN_STREAM, 1, int(seed)])
        drawn = [self._draw() for _ in range(self.num_envs)]
        configs = [config for config, _, _ in drawn]
        scenarios = [scenario for _, scenario, _ in drawn]
        past = [p for _, _, p in drawn]
        self.sim = FleetSim(configs, scenarios, seed=int(self._rng.integers(2**63)), past=past, holds=False)
        cap = np.array([c.capacity_rpm_per_machine for c in configs])
        self._value = np.array([c.request_value / 1000.0 for c in configs])
        mean_need = np.maximum(self.sim.loads[:, -self.sim.minutes :].mean(axis=1) / cap, 1.0)
        if self.reward_normalization == "economics":
            self._reward_factor = self.reward_scale / economics_scale(configs, mean_need)
        elif self.reward_normalization == "mean_need":
            self._reward_factor = self.reward_scale / mean_need
        elif self.reward_normalization == "sqrt_need":
            self._reward_factor = self.reward_scale / np.sqrt(mean_need)
        else:
            self._reward_factor = np.full(self.num_envs, self.reward_scale)
        self._obs = self.sim.observe()
        self._needs_reset = False
        return self._observation(), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        if self._needs_reset:
            obs, info = self.reset()
            return obs, self._zeros.copy(), self._false.copy(), self._false.copy(), info
        assert self.sim is not None and self._obs is not None
        actions = np.asarray(actions)
        reward = np.zeros(self.num_envs)
        for _ in range(self.decision_minutes):
            # The level is held; the fleet it asks for follows each minute's observed load.
            result = self.sim.step(desired_of(actions, self._obs))
            self._obs = self.sim.observe()
            dollars = (
                expected_profit(self.sim_config, result.load, result.active, result.machine_cost)
                if self.expected_rewards
                else result.reward
            )
            if self.exclude_offered_revenue:
                dollars = dollars - result.load * self._value
            minute = dollars * self._reward_factor
            if self.downtime_penalty:
                minute = minute - self.downtime_penalty * self.reward_scale * result.down
            reward += minute
            self._counters += (self.num_envs, minute.sum(), result.reward.sum())
            if result.done:
                break
        if self._return_norm is not None:
            reward = self._return_norm(reward, result.done)
        self._needs_reset = result.done
        truncated = np.full(self.num_envs, result.done)
        return self._observation(), reward, self._false.copy(), truncated, {}

    def _observation(self) -> np.ndarray:
        assert self.sim is not None and self._obs is not None
        return hide_groups(observation_of(self._obs, self.sim.context()), self.ablate)

    def pop_counters(self) -> tuple[float, float, float]:
        """(minutes simulated per fleet x fleets, sum of training rewards, sum of profit in dollars) since the
        last call; resets them."""
        steps, reward, profit = self._counters
        self._counters = np.zeros(3)
        return float(steps), float(reward), float(profit)


SHARED_FIELDS = (
    "episode_minutes", "observation_lag_minutes", "capacity_noise", "cut_order", "min_machines", "max_machines",
    "max_scale_out_per_step", "max_scale_in_per_step",
)  # fmt: skip
"""Fields of the training ``SimConfig`` every drawn fleet keeps (the drawn ones: capacity, noise, economics)."""
DOWNTIME_UNITS = 50.0
"""``economics`` reward normalisation: a minute down weighs at most this many units of a fleet's scale."""


def draw_fleet(
    rng: np.random.Generator,
    distribution: FleetDistribution,
    base: SimConfig,
    *,
    short_history_probability: float,
    trace_probability: float,
    team_traces: tuple[TraceFile, ...] = (),
    minutes: int | None = None,
) -> tuple[SimConfig, Scenario, np.ndarray]:
    """One training fleet: its config from ``distribution`` (``base``'s ``SHARED_FIELDS`` kept), a scenario of its
    size at its capacity (a random time of the week; a team trace's window keeps the team's own fleet, ``base``)
    and the load before it (``sample_with_past``)."""
    config, size = distribution.sample(rng, **{k: getattr(base, k) for k in SHARED_FIELDS})
    scenario, past = sample_with_past(
        rng,
        minutes or base.episode_minutes,
        short_history_probability=short_history_probability,
        trace_probability=trace_probability,
        capacity=config.capacity_rpm_per_machine,
        team_traces=team_traces,
        mean_machines=(size, size),
        random_phase=True,
    )
    if "trace_file" in scenario.meta:  # a team's own trace: its own capacity and economics
        config = base
        scenario, past = with_past((scenario, past))
    return config, scenario, past


def economics_scale(configs: list[SimConfig], mean_need: np.ndarray) -> np.ndarray:
    """Per fleet, dollars per unit of training reward: its mean need times the larger of a machine's price and a
    busy machine's revenue, plus a minute down over ``DOWNTIME_UNITS``. A constant per episode (the episode's
    optimal policy is unchanged); it puts a 2-machine and a 2,000-machine fleet, cheap or dear, on one scale."""
    busy = np.array([c.capacity_rpm_per_machine * c.request_value / 1000.0 for c in configs])
    cost = np.array([c.machine_cost for c in configs])
    outage = np.array([c.downtime_cost for c in configs])
    return np.maximum(mean_need * np.maximum(busy, cost) + outage / DOWNTIME_UNITS, 1e-6)


class RunningReturnScale:
    """Divide rewards by the running standard deviation of the discounted return (as Gymnasium's
    ``NormalizeReward`` and CleanRL's PPO do), so that value targets stay of order one while the policy goes
    from frequent downtime (returns in the thousands) to steady profit. The statistics live in each env runner
    (restarting with it: they settle within a few hundred steps)."""

    def __init__(self, num_envs: int, gamma: float, epsilon: float = 1e-8):
        self.gamma = gamma
        self.epsilon = epsilon
        self.returns = np.zeros(num_envs)
        self.count = 1e-4
        self.mean = 0.0
        self.var = 1.0

    def __call__(self, reward: np.ndarray, done: bool) -> np.ndarray:
        self.returns = self.returns * self.gamma + reward
        batch_mean, batch_var, n = float(self.returns.mean()), float(self.returns.var()), len(self.returns)
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total
        if done:
            self.returns[:] = 0.0
        return reward / np.sqrt(self.var + self.epsilon)

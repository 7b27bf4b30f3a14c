"""The policy network: a plain MLP from the observation (``features.OBS_DIM``) to one logit per action.

Architecture, as stored under ``architecture`` in the artifact metadata::

    {"type": "mlp", "obs_dim": 23, "hidden": [64, 64], "activations": ["tanh", "tanh"], "n_actions": 13,
     "decode": "median"}

    Linear(obs_dim, hidden[0]) -> activations[0] -> ... -> Linear(hidden[-1], n_actions)   (logits, no activation)

Weights are named as in the ``torch.nn.Sequential`` that ``build_torch`` returns: ``{2*i}.weight`` (out, in) and
``{2*i}.bias`` for the i-th Linear. Serving runs the forward pass in numpy (float32): for a network this
small a numpy matmul costs about a microsecond where a torch call costs tens, and serving needs no torch at all.

``decode`` is how the served action is read from the logits (``decode``). "median": the median of the action
distribution, the smallest action whose cumulative probability reaches one half. The actions are ordered margins
(``actions.OFFSETS`` ascend), and PPO leaves its policy spread over neighbouring margins (about 1.6 nats of 2.56
after a quick run): the mode of such a spread can sit on a far margin while most of the probability lies on the
other side of it, and the median cannot. Measured on the quick policy over 10 paired noise draws of the quick
cells: the median makes 388,912 $ against 383,876 $ for the mode, is down 0.279 % of minutes instead of 0.435 %,
and the gate's failing groups fall from 6 to 5 (``research/notes/training.md``). "argmax": the mode, what every
artifact packaged before ``decode`` existed was served with (a missing ``decode`` reads as "argmax").

Exporting RLlib's default PPO module (new API stack, ``DefaultPPOTorchRLModule``, discrete actions): the policy
path is the actor encoder followed by the ``pi`` head; the value function (``vf``, ``critic_encoder``) and
``*.log_std_clip_param_const`` are not needed. With ``model_config={"fcnet_hiddens": [64, 64],
"fcnet_activation": "tanh"}`` its ``state_dict()`` maps as follows (checked on ray 2.60):

| RLlib key | here |
| --- | --- |
| ``encoder.actor_encoder.net.mlp.0.{weight,bias}`` (``encoder.encoder...`` if ``vf_share_layers``) | hidden layer 1 |
| ``encoder.actor_encoder.net.mlp.2.{weight,bias}`` | hidden layer 2 (and ``mlp.4``, ... for more) |
| ``pi.net.mlp.0.{weight,bias}`` | output layer (``head_fcnet_hiddens`` add ``pi.net.mlp.2``, ...) |

``from_rllib_state_dict(module.state_dict(), fcnet_activation="tanh")`` does this mapping and returns the plain
``torch.nn.Sequential`` that ``artifact.package_policy`` takes; its activations follow ``fcnet_activation`` for
the encoder and ``head_fcnet_activation`` (RLlib's default ``"relu"``) for any hidden layer of the head.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .actions import N_ACTIONS
from .features import OBS_DIM

ACTIVATIONS = ("tanh", "relu", "linear", "silu", "elu", "sigmoid")
"""Names follow RLlib's ``fcnet_activation`` ("swish" is accepted as "silu")."""
DECODES = ("median", "argmax")
"""How an action is read from the logits (``decode``); the first is what new artifacts are packaged with."""
LEGACY_DECODE = "argmax"
"""The decode of an artifact whose architecture names none (packaged before ``decode`` existed)."""


def cumulative_probability(logits: np.ndarray) -> np.ndarray:
    """(N, n_actions) logits -> (N, n_actions) float64: the softmax probabilities, cumulated over the actions in
    order (the last column is 1)."""
    z = np.asarray(logits, dtype=np.float64)
    cum = np.exp(z - z.max(axis=1, keepdims=True)).cumsum(axis=1)
    return cum / cum[:, -1:]


def decode(logits: np.ndarray, rule: str = DECODES[0]) -> np.ndarray:
    """(N, n_actions) logits -> (N,) int64 actions by ``rule`` (module docstring): "median", the smallest action
    whose cumulative softmax probability reaches 1/2, or "argmax"."""
    if rule == "argmax":
        return np.asarray(logits).argmax(axis=1)
    if rule != "median":
        raise ValueError(f"decode must be one of {DECODES}, got {rule!r}")
    return (cumulative_probability(logits) >= 0.5).argmax(axis=1)


@dataclass(frozen=True)
class MLPSpec:
    """Shape of the policy MLP; ``to_dict``/``from_dict`` give its metadata form."""

    obs_dim: int = OBS_DIM
    hidden: tuple[int, ...] = (64, 64)
    activations: tuple[str, ...] = ("tanh", "tanh")
    n_actions: int = N_ACTIONS
    decode: str = DECODES[0]

    def __post_init__(self) -> None:
        if len(self.hidden) != len(self.activations):
            raise ValueError(f"need one activation per hidden layer: hidden={self.hidden}, got {self.activations}")
        if any(a not in ACTIVATIONS for a in self.activations):
            raise ValueError(f"activations must be among {ACTIVATIONS}, got {self.activations}")
        if any(int(h) < 1 for h in (self.obs_dim, *self.hidden, self.n_actions)):
            raise ValueError(f"layer sizes must be positive: {self.sizes}")
        if self.decode not in DECODES:
            raise ValueError(f"decode must be one of {DECODES}, got {self.decode!r}")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.obs_dim, *self.hidden, self.n_actions)

    def weight_names(self) -> list[tuple[str, str, tuple[int, int]]]:
        """(weight key, bias key, weight shape) per Linear layer, in forward order."""
        s = self.sizes
        return [(f"{2 * i}.weight", f"{2 * i}.bias", (s[i + 1], s[i])) for i in range(len(s) - 1)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "mlp",
            "obs_dim": self.obs_dim,
            "hidden": list(self.hidden),
            "activations": list(self.activations),
            "n_actions": self.n_actions,
            "decode": self.decode,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> MLPSpec:
        if doc.get("type") != "mlp":
            raise ValueError(f"architecture type must be 'mlp', got {doc.get('type')!r}")
        return cls(
            obs_dim=int(doc["obs_dim"]),
            hidden=tuple(int(h) for h in doc["hidden"]),
            activations=tuple(_activation_name(a) for a in doc["activations"]),
            n_actions=int(doc["n_actions"]),
            decode=str(doc.get("decode", LEGACY_DECODE)),
        )


def _activation_name(name: object) -> str:
    key = "linear" if name is None else str(name).lower()
    return "silu" if key == "swish" else key


def _np_activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(x, out=x)
    if name == "relu":
        return np.maximum(x, 0.0, out=x)
    if name == "linear":
        return x
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "silu":
        return x / (1.0 + np.exp(-x))
    if name == "elu":
        return np.where(x > 0.0, x, np.expm1(np.minimum(x, 0.0)))
    raise ValueError(f"unknown activation {name!r}")


class NumpyPolicy:
    """Forward pass of the MLP in numpy float32; ``logits(obs)`` and ``act(obs)`` (``decode``) over a batch."""

    def __init__(self, spec: MLPSpec, weights: Mapping[str, np.ndarray]) -> None:
        self.spec = spec
        self._layers: list[tuple[np.ndarray, np.ndarray]] = []
        for w_key, b_key, shape in spec.weight_names():
            if w_key not in weights or b_key not in weights:
                raise ValueError(f"weights lack {w_key} or {b_key}; found {sorted(weights)}")
            w = np.asarray(weights[w_key], dtype=np.float32)
            b = np.asarray(weights[b_key], dtype=np.float32)
            if w.shape != shape or b.shape != (shape[0],):
                raise ValueError(f"{w_key} must be {shape} with bias ({shape[0]},), got {w.shape} and {b.shape}")
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ValueError(f"{w_key} or {b_key} holds NaN or infinity")
            self._layers.append((np.ascontiguousarray(w.T), b))
        self._activations = spec.activations

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """(N, obs_dim) -> (N, n_actions) float32."""
        x = np.asarray(obs, dtype=np.float32)
        last = len(self._layers) - 1
        for i, (wt, b) in enumerate(self._layers):
            x = x @ wt
            x += b
            if i < last:
                x = _np_activation(self._activations[i], x)
        return x

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Served actions, (N,) int64 (``decide`` of the logits)."""
        return self.decide(self.logits(obs))

    def decide(self, logits: np.ndarray) -> np.ndarray:
        """Actions from this network's logits by its spec's ``decode``."""
        return decode(logits, self.spec.decode)


def build_torch(spec: MLPSpec, weights: Mapping[str, Any] | None = None) -> Any:
    """The plain torch module (an ``nn.Sequential``) for a spec, optionally loaded with weights."""
    import torch
    from torch import nn

    acts = {
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "linear": nn.Identity,
        "silu": nn.SiLU,
        "elu": nn.ELU,
        "sigmoid": nn.Sigmoid,
    }
    mods: list[nn.Module] = []
    s = spec.sizes
    for i in range(len(s) - 1):
        mods.append(nn.Linear(s[i], s[i + 1]))
        if i < len(spec.hidden):
            mods.append(acts[spec.activations[i]]())
    net = nn.Sequential(*mods)
    if weights is not None:
        state = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in weights.items()}
        net.load_state_dict(state, strict=True)
    return net.eval()


def from_rllib_state_dict(
    state: Mapping[str, Any], *, fcnet_activation: str = "tanh", head_fcnet_activation: str = "relu"
) -> Any:
    """Plain torch policy network from a ``DefaultPPOTorchRLModule.state_dict()`` (see the module docstring)."""
    encoder = _rllib_layers(state, r"encoder\.(?:actor_encoder|encoder)\.net\.mlp\.(\d+)\.weight")
    head = _rllib_layers(state, r"pi\.net\.mlp\.(\d+)\.weight")
    if not encoder or not head:
        raise ValueError(
            "not a DefaultPPOTorchRLModule state dict: expected keys encoder.actor_encoder.net.mlp.N.weight "
            f"and pi.net.mlp.N.weight, found {sorted(state)[:8]}..."
        )
    layers = encoder + head
    sizes = [int(np.shape(_np(state[layers[0]]))[1])] + [int(np.shape(_np(state[k]))[0]) for k in layers]
    acts = [_activation_name(fcnet_activation)] * len(encoder) + [_activation_name(head_fcnet_activation)] * (
        len(head) - 1
    )
    spec = MLPSpec(obs_dim=sizes[0], hidden=tuple(sizes[1:-1]), activations=tuple(acts), n_actions=sizes[-1])
    weights: dict[str, np.ndarray] = {}
    for (w_key, b_key, _), src in zip(spec.weight_names(), layers):
        weights[w_key] = _np(state[src])
        weights[b_key] = _np(state[src[: -len("weight")] + "bias"])
    return build_torch(spec, weights)


def _rllib_layers(state: Mapping[str, Any], pattern: str) -> list[str]:
    rx = re.compile(pattern + "$")
    found = sorted(((int(m.group(1)), k) for k in state if (m := rx.match(k))), key=lambda t: t[0])
    return [k for _, k in found]


def _np(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def spec_of_torch(net: Any) -> tuple[MLPSpec, dict[str, np.ndarray]]:
    """Architecture and weights of a torch MLP: its Linear layers and activations in registration order.

    ``artifact.package_policy`` checks the result numerically against ``net`` itself, so a network whose
    forward pass is not this chain is refused rather than exported wrong.
    """
    from torch import nn

    names = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.Identity: "linear", nn.SiLU: "silu", nn.ELU: "elu"}
    names[nn.Sigmoid] = "sigmoid"
    linears: list[Any] = []
    acts: list[str] = []
    for mod in net.modules():
        if isinstance(mod, nn.Linear):
            if len(acts) < len(linears):
                acts.append("linear")
            linears.append(mod)
        elif type(mod) in names and linears:
            if len(acts) < len(linears):
                acts.append(names[type(mod)])
            elif type(mod) is not nn.Identity:
                raise ValueError(f"two activations in a row after Linear layer {len(linears)}")
        elif not list(mod.children()) and not isinstance(mod, (nn.Dropout, nn.Identity)):
            raise ValueError(f"cannot export a {type(mod).__name__} layer; the policy must be Linear + activations")
    if not linears:
        raise ValueError("the network has no Linear layer")
    acts = acts[: len(linears) - 1]
    if len(acts) < len(linears) - 1:
        acts += ["linear"] * (len(linears) - 1 - len(acts))
    for i in range(1, len(linears)):
        if linears[i].in_features != linears[i - 1].out_features:
            raise ValueError(f"Linear layers {i - 1} and {i} do not chain: {linears[i - 1]} then {linears[i]}")
    spec = MLPSpec(
        obs_dim=linears[0].in_features,
        hidden=tuple(m.out_features for m in linears[:-1]),
        activations=tuple(acts),
        n_actions=linears[-1].out_features,
    )
    weights: dict[str, np.ndarray] = {}
    for (w_key, b_key, _), mod in zip(spec.weight_names(), linears):
        weights[w_key] = _np(mod.weight)
        weights[b_key] = _np(mod.bias) if mod.bias is not None else np.zeros(mod.out_features, np.float32)
    return spec, weights

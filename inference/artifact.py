"""The model artifact: package a torch policy network into ``model.tar.gz``, and load one back.

Layout of ``model.tar.gz`` (what SageMaker extracts to ``/opt/ml/model``)::

    metadata.json                 contract version, architecture, observation spec, action table, provenance
    policy.npz                    float32 weights, one array per tensor (numpy format, no pickle)
    code/inference.py             the SageMaker entry point: re-exports the four hooks from the package below
    code/requirements.txt         nothing to install: the PyTorch inference image has numpy and torch
    code/rl_autoscaler_serving/   a copy of this whole package (``inference/``), imported by the shim

Why not a TorchScript or ``torch.save`` file: weights as plain numpy arrays plus an architecture spec load on any
torch version (``policy.build_torch``) and need no torch at all to serve (``policy.NumpyPolicy``), so an artifact
exported with our torch 2.13 serves on the older torch of the SageMaker image. ``np.load(allow_pickle=False)``
runs no code from the file. The weights' sha256 is in the metadata and checked on load.

Metadata keys: ``contract_version``, ``model_version``, ``created_at``, ``architecture`` (``policy.MLPSpec``),
``weights`` (file and sha256), ``observation`` (``history``, ``lag_minutes``, ``dim`` and, per feature, ``name``,
``lo``, ``hi``: the range seen in training, which the shield's out-of-distribution check uses), ``actions`` (the
action table), ``training`` (with the ranges the policy was trained on: ``economics_ranges``,
``fleet_size_range``, ``min_history_minutes``, read by ``domain.TrainingDomain``), ``evaluation``,
``gate`` (``passed``, ``forced``, ``reason``), ``data_sha256``, ``code_version``.
The caller of ``package_policy`` provides ``model_version``, ``observation`` (from ``observation_spec``),
``training``, ``evaluation``, ``gate``, ``data_sha256`` and ``code_version``; the rest is filled in here.

From RLlib's default PPO module (``DefaultPPOTorchRLModule``, new API stack): ``policy.from_rllib_state_dict``
takes the actor encoder ``encoder.actor_encoder.net.mlp.{0,2,...}`` (``encoder.encoder...`` with
``vf_share_layers``) as the hidden layers and ``pi.net.mlp.*`` as the output layer, drops the value network, and
returns the ``nn.Sequential`` to pass here; ``fcnet_hiddens`` and ``fcnet_activation`` become ``hidden`` and
``activations`` of the architecture. The full table is in ``policy``'s docstring.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import os
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import actions, economics, features
from .contract import OBSERVATION_LAG_MINUTES
from .domain import TrainingDomain
from .errors import ModelLoadError
from .policy import MLPSpec, NumpyPolicy, build_torch, spec_of_torch

CONTRACT_VERSION = "2"
"""Version of the decision contract, observation and action table an artifact was trained against.

Bump it whenever ``features`` or ``actions`` change meaning; ``load_artifact`` refuses any other version.
"""
SERVING_PACKAGE = "rl_autoscaler_serving"
"""Name of this package inside ``code/`` of the tarball (``inference`` is taken by the entry-point file)."""
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "policy.npz"
CALLER_KEYS = ("model_version", "observation", "training", "evaluation", "gate", "data_sha256", "code_version")

NOMINAL_RANGES: dict[str, tuple[float, float]] = {
    "log_need": (0.0, math.log1p(10_000) / 5.0),
    **{f"load_ratio_{k}": (-features.RATIO_CLIP, features.RATIO_CLIP) for k in range(1, features.HISTORY)},
    "sin_day": (-1.0, 1.0),
    "cos_day": (-1.0, 1.0),
    "sin_week": (-1.0, 1.0),
    "cos_week": (-1.0, 1.0),
    "log_active_vs_need": (-3.0, 3.0),
    "log_fleet_vs_need": (-3.0, 3.0),
    "failed_fraction": (0.0, 1.0),
    "day_fraction": (0.0, 1.0),
    "noise": (-2.0, 0.4),
    "swing": (0.0, 3.0),
    "spike_rate": (0.0, 1.0),
    "surprise": (0.0, 3.0),
    "yday_level": (-features.RATIO_CLIP, features.RATIO_CLIP),
    "yday_rise": (-features.RATIO_CLIP, features.RATIO_CLIP),
    "log_warmup": (0.0, math.log1p(240) / 2.0),
    "log_cost_ratio": (-8.0 / 3.0, 4.0 / 3.0),
    "log_outage_ratio": (0.0, 3.0),
    "availability": (0.0, 1.0),
    "warming_cost": (0.0, 1.0),
    "critical_ratio": (0.0, 1.0),
    "count_noise": (0.0, 1.0),
}
"""Ranges by construction, for a policy that has seen no data (``untrained_metadata``): up to 10,000 machines'
worth of load, fleets from 1/20 to 20 times the need."""

_SHIM = f'''"""SageMaker entry point. The PyTorch inference container imports this file as the module ``inference``."""

from {SERVING_PACKAGE}.handler import input_fn, model_fn, output_fn, predict_fn

__all__ = ["model_fn", "input_fn", "predict_fn", "output_fn"]
'''
_REQUIREMENTS = """# Nothing to install: serving needs only numpy (torch only to rebuild the network as a module),
# and the SageMaker PyTorch inference image ships both. The container runs `pip install -r` on
# this file at start-up; keeping it empty keeps start-up offline and fast.
"""


def observation_spec(
    observations: np.ndarray | None = None, lag_minutes: int = OBSERVATION_LAG_MINUTES
) -> dict[str, Any]:
    """The ``observation`` metadata: feature names and per-feature training range [lo, hi], and the
    observation lag the policy was trained with (``lag_minutes``, which a stage's controller should match).

    ``observations`` is an (N, OBS_DIM) sample of what the policy saw in training; without one, the nominal
    ranges (``NOMINAL_RANGES``) are used.
    """
    if observations is None:
        lo = np.array([NOMINAL_RANGES[n][0] for n in features.FEATURE_NAMES])
        hi = np.array([NOMINAL_RANGES[n][1] for n in features.FEATURE_NAMES])
    else:
        obs = np.asarray(observations, dtype=np.float64)
        if obs.ndim != 2 or obs.shape[1] != features.OBS_DIM or len(obs) == 0:
            raise ValueError(f"observations must be (N, {features.OBS_DIM}) with N >= 1, got {obs.shape}")
        if not np.isfinite(obs).all():
            raise ValueError("observations hold NaN or infinity")
        lo, hi = obs.min(axis=0), obs.max(axis=0)
    return {
        "history": features.CONTEXT_MINUTES,
        "lag_minutes": int(lag_minutes),
        "dim": features.OBS_DIM,
        "features": [{"name": n, "lo": float(a), "hi": float(b)} for n, a, b in zip(features.FEATURE_NAMES, lo, hi)],
    }


def untrained_metadata(model_version: str = "untrained-random") -> dict[str, Any]:
    """Caller metadata for a network that has not been trained (``random_policy``): nominal ranges, failed gate;
    its training ranges are everything the contract accepts (tests and demos exercise the policy's path)."""
    return {
        "model_version": model_version,
        "observation": observation_spec(None),
        "training": {
            "algorithm": "none",
            "note": "randomly initialised, not trained: equally untrained for every economics and history length",
            "economics_ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in economics.BOUNDS.items()}
            | {"warming_cost": [0.0, 1.0]},
            "min_history_minutes": 1,
        },
        "evaluation": {},
        "gate": {"passed": False, "forced": True, "reason": "untrained network, for tests and demos only"},
        "data_sha256": "",
        "code_version": "",
    }


def random_policy(seed: int = 0, spec: MLPSpec | None = None) -> Any:
    """The standard architecture (``MLPSpec()``), randomly initialised as torch does, from ``seed`` alone."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_torch(spec or MLPSpec())


def package_policy(net: Any, out_dir: str | os.PathLike[str], *, metadata: Mapping[str, Any]) -> Path:
    """Write ``out_dir/model.tar.gz`` and beside it ``out_dir/metadata.json``; return the tarball's path.

    ``net`` is any torch MLP of Linear layers and activations from OBS_DIM inputs to N_ACTIONS logits (see
    ``policy.from_rllib_state_dict`` for RLlib's PPO module). The exported weights are checked against ``net``
    itself on random observations, so a network this format cannot reproduce is refused, not exported wrong.
    """
    spec, weights = spec_of_torch(net)
    if spec.obs_dim != features.OBS_DIM or spec.n_actions != actions.N_ACTIONS:
        raise ValueError(
            f"the policy must map {features.OBS_DIM} observations to {actions.N_ACTIONS} logits, "
            f"got {spec.obs_dim} -> {spec.n_actions}"
        )
    _check_reproduces(net, NumpyPolicy(spec, weights))
    weights_bytes = _npz_bytes(weights)
    meta = _complete_metadata(metadata, spec, hashlib.sha256(weights_bytes).hexdigest())
    meta_bytes = (json.dumps(meta, indent=2, sort_keys=False, allow_nan=False) + "\n").encode()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, bytes]] = [(METADATA_FILE, meta_bytes), (WEIGHTS_FILE, weights_bytes)]
    files.append(("code/inference.py", _SHIM.encode()))
    files.append(("code/requirements.txt", _REQUIREMENTS.encode()))
    package_dir = Path(__file__).resolve().parent
    for src in sorted(package_dir.glob("*.py")):
        files.append((f"code/{SERVING_PACKAGE}/{src.name}", src.read_bytes()))
    tarball = out / "model.tar.gz"
    _atomic_write(tarball, _targz(files))
    _atomic_write(out / METADATA_FILE, meta_bytes)
    return tarball


def _check_reproduces(net: Any, exported: NumpyPolicy) -> None:
    import torch

    rng = np.random.default_rng(0)
    obs = (rng.standard_normal((512, features.OBS_DIM)) * rng.choice([0.1, 1.0, 3.0], (512, 1))).astype(np.float32)
    was_training = bool(getattr(net, "training", False))
    net.eval()  # dropout and the like as at inference time
    with torch.no_grad():
        try:
            ref = net(torch.from_numpy(obs))
        except Exception as err:
            raise ValueError(f"cannot call the network on a (N, {features.OBS_DIM}) tensor: {err}") from err
        finally:
            net.train(was_training)
    ref = np.asarray(ref.detach().cpu().numpy(), dtype=np.float32)
    got = exported.logits(obs)
    if ref.shape != got.shape or not np.allclose(ref, got, rtol=1e-4, atol=1e-4):
        raise ValueError(
            "the network's forward pass is not a plain chain of its Linear layers and activations; export it "
            "as an nn.Sequential (see policy.from_rllib_state_dict)"
        )


def _complete_metadata(given: Mapping[str, Any], spec: MLPSpec, weights_sha256: str) -> dict[str, Any]:
    missing = [k for k in CALLER_KEYS if k not in given]
    if missing:
        raise ValueError(f"metadata lacks {missing}; see artifact.untrained_metadata() for the shape")
    if "contract_version" in given and str(given["contract_version"]) != CONTRACT_VERSION:
        raise ValueError(f"metadata contract_version {given['contract_version']!r} is not {CONTRACT_VERSION!r}")
    gate = given["gate"]
    if not isinstance(gate, Mapping) or not {"passed", "forced", "reason"} <= set(gate):
        raise ValueError(f"metadata gate must be {{passed: bool, forced: bool, reason: str}}, got {gate!r}")
    if not isinstance(given["model_version"], str) or not given["model_version"]:
        raise ValueError(f"metadata model_version must be a non-empty string, got {given['model_version']!r}")
    _observation_bounds(given["observation"])  # raises ValueError naming what is wrong
    TrainingDomain.from_metadata(given)  # the training ranges, likewise
    meta = {
        "contract_version": CONTRACT_VERSION,
        "model_version": given["model_version"],
        "created_at": given.get("created_at") or datetime.now(UTC).isoformat(timespec="seconds"),
        "architecture": spec.to_dict(),
        "weights": {"file": WEIGHTS_FILE, "sha256": weights_sha256, "dtype": "float32"},
        "observation": given["observation"],
        "actions": [dict(a) for a in actions.ACTION_TABLE],
    }
    meta.update({k: given[k] for k in CALLER_KEYS if k not in meta})
    meta.update({k: v for k, v in given.items() if k not in meta})
    return meta


def _observation_bounds(obs_spec: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (lo, hi) from the observation spec, which must list our features in order."""
    if not isinstance(obs_spec, Mapping) or not isinstance(obs_spec.get("features"), list):
        raise ValueError("observation must be {'features': [{'name', 'lo', 'hi'}, ...]}; see observation_spec()")
    names = [f.get("name") if isinstance(f, Mapping) else None for f in obs_spec["features"]]
    if names != list(features.FEATURE_NAMES):
        raise ValueError(
            f"observation features {names} differ from the featurizer's {list(features.FEATURE_NAMES)}: "
            "the artifact was trained on another observation"
        )
    try:
        lo = np.array([float(f["lo"]) for f in obs_spec["features"]])
        hi = np.array([float(f["hi"]) for f in obs_spec["features"]])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"every observation feature needs numeric lo and hi: {err}") from None
    if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo <= hi).all()):
        raise ValueError("observation ranges must be finite with lo <= hi")
    return lo, hi


def _npz_bytes(weights: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, dtype=np.float32) for k, v in weights.items()})
    return buf.getvalue()


def _targz(files: list[tuple[str, bytes]]) -> bytes:
    """Reproducible tar.gz: fixed order, owner and mtime, so equal contents give equal bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(name).parent) for name, _ in files} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- loading --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedPolicy:
    """A loaded artifact: metadata, the numpy policy and the observation training range."""

    metadata: dict[str, Any]
    spec: MLPSpec
    policy: NumpyPolicy
    obs_lo: np.ndarray
    obs_hi: np.ndarray
    weights: dict[str, np.ndarray]
    domain: TrainingDomain
    """Economics, fleet sizes and history lengths the policy was trained on; outside them the shield falls back."""

    @property
    def model_version(self) -> str:
        return str(self.metadata["model_version"])

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Served actions (the architecture's ``decode``) for an (N, OBS_DIM) batch."""
        return self.policy.act(obs)

    def torch_module(self) -> Any:
        """The network as a torch ``nn.Sequential`` (imports torch; serving does not need it)."""
        return build_torch(self.spec, self.weights)


def load_artifact(path: str | os.PathLike[str]) -> LoadedPolicy:
    """Load ``model.tar.gz`` or an extracted model directory; refuse anything this code cannot serve.

    Raises ``ModelLoadError`` naming the file and the reason: a missing file, a contract version other than
    ``CONTRACT_VERSION``, an observation or action table that differs from this code's, bad weights.
    """
    src = Path(path)
    if src.is_dir():
        meta_bytes = _read_dir(src, METADATA_FILE)
        weight_bytes = _read_dir(src, WEIGHTS_FILE)
    elif src.is_file():
        meta_bytes, weight_bytes = _read_tar(src)
    else:
        raise ModelLoadError(f"model artifact {src} does not exist")
    try:
        meta = json.loads(meta_bytes)
    except ValueError as err:
        raise ModelLoadError(f"{src}: {METADATA_FILE} is not valid JSON: {err}") from None
    if not isinstance(meta, dict):
        raise ModelLoadError(f"{src}: {METADATA_FILE} must hold a JSON object")
    version = meta.get("contract_version")
    if str(version) != CONTRACT_VERSION:
        raise ModelLoadError(
            f"{src}: artifact contract_version is {version!r} but this serving code implements "
            f"{CONTRACT_VERSION!r}; retrain or repackage the policy with matching code"
        )
    if meta.get("actions") != [dict(a) for a in actions.ACTION_TABLE]:
        raise ModelLoadError(f"{src}: the artifact's action table differs from this code's actions.ACTION_TABLE")
    try:
        lo, hi = _observation_bounds(meta.get("observation"))
        spec = MLPSpec.from_dict(meta.get("architecture") or {})
        domain = TrainingDomain.from_metadata(meta)
    except (ValueError, KeyError, TypeError) as err:
        raise ModelLoadError(f"{src}: bad metadata: {err}") from None
    if spec.obs_dim != features.OBS_DIM or spec.n_actions != actions.N_ACTIONS:
        raise ModelLoadError(
            f"{src}: network maps {spec.obs_dim} -> {spec.n_actions}, this code needs "
            f"{features.OBS_DIM} -> {actions.N_ACTIONS}"
        )
    expected_sha = (meta.get("weights") or {}).get("sha256")
    if expected_sha != hashlib.sha256(weight_bytes).hexdigest():
        raise ModelLoadError(f"{src}: {WEIGHTS_FILE} does not match the sha256 in {METADATA_FILE}")
    try:
        with np.load(io.BytesIO(weight_bytes), allow_pickle=False) as npz:
            weights = {k: npz[k] for k in npz.files}
        policy = NumpyPolicy(spec, weights)
    except (ValueError, OSError) as err:
        raise ModelLoadError(f"{src}: cannot load {WEIGHTS_FILE}: {err}") from None
    return LoadedPolicy(metadata=meta, spec=spec, policy=policy, obs_lo=lo, obs_hi=hi, weights=weights, domain=domain)


def _read_dir(model_dir: Path, name: str) -> bytes:
    try:
        return (model_dir / name).read_bytes()
    except OSError as err:
        raise ModelLoadError(f"cannot read {model_dir / name}: {err.strerror or err}") from None


def _read_tar(tarball: Path) -> tuple[bytes, bytes]:
    try:
        with tarfile.open(tarball, mode="r:*") as tar:
            out = []
            for name in (METADATA_FILE, WEIGHTS_FILE):
                try:
                    member = tar.extractfile(name)
                except KeyError:
                    member = None
                if member is None:
                    raise ModelLoadError(f"{tarball} has no {name} at its root")
                out.append(member.read())
            return out[0], out[1]
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ModelLoadError(f"{tarball} is not a readable tar.gz: {err}") from None

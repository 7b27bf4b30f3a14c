"""Artifact format: package -> load round trip, refusals with clear messages, RLlib export mapping."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from inference import actions, artifact, features, policy
from inference.errors import ModelLoadError


def realistic_observations(n: int, seed: int = 0) -> np.ndarray:
    """Observations through the one featurizer, over fleets, loads and times of all sizes."""
    rng = np.random.default_rng(seed)
    cap = rng.uniform(50, 1000, n)
    base = cap * rng.uniform(0.5, 200, n)
    load = base[:, None] * rng.lognormal(0.0, 0.3, (n, features.HISTORY))
    active = rng.integers(0, 500, n)
    return features.featurize(
        load,
        rng.uniform(0, 1, n) * load[:, -1] * (rng.random(n) < 0.2),
        active,
        rng.integers(0, 20, n),
        cap,
        rng.integers(0, features.MINUTES_PER_WEEK, n),
    )


def torch_actions(net: nn.Module, obs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return policy.decode(net(torch.from_numpy(obs)).numpy())


@pytest.mark.parametrize(
    "spec",
    [
        policy.MLPSpec(),
        policy.MLPSpec(hidden=(256, 256), activations=("relu", "relu")),
        policy.MLPSpec(hidden=(32,), activations=("silu",)),
    ],
    ids=["64x64-tanh", "256x256-relu", "32-silu"],
)
def test_round_trip_same_actions_on_1000_observations(tmp_path: Path, spec: policy.MLPSpec) -> None:
    net = artifact.random_policy(7, spec)
    tarball = artifact.package_policy(net, tmp_path, metadata=artifact.untrained_metadata())
    loaded = artifact.load_artifact(tarball)
    obs = np.concatenate(
        [realistic_observations(500), np.random.default_rng(1).normal(0, 2, (500, features.OBS_DIM))]
    ).astype(np.float32)
    assert loaded.spec == spec
    np.testing.assert_array_equal(loaded.act(obs), torch_actions(net, obs))
    with torch.no_grad():
        ref = net(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(loaded.policy.logits(obs), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(torch_actions(loaded.torch_module(), obs), torch_actions(net, obs))


def test_extracted_directory_loads_like_the_tarball(model_tarball: Path, tmp_path: Path) -> None:
    with tarfile.open(model_tarball) as tar:
        tar.extractall(tmp_path, filter="data")
    a, b = artifact.load_artifact(model_tarball), artifact.load_artifact(tmp_path)
    assert a.metadata == b.metadata
    obs = realistic_observations(100)
    np.testing.assert_array_equal(a.act(obs), b.act(obs))


def test_random_policy_is_seeded_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = artifact.random_policy(0), artifact.random_policy(0), artifact.random_policy(1)
    assert torch.rand(1) == before
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def rewrite(tarball: Path, out: Path, edit_meta=None, edit_weights=None) -> Path:
    """Copy of ``tarball`` with its metadata and/or weights bytes changed."""
    with tarfile.open(tarball) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "metadata.json" and edit_meta:
                meta = json.loads(data)
                edit_meta(meta)
                data = json.dumps(meta).encode()
            if member.name == "policy.npz" and edit_weights:
                data = edit_weights(data)
            if data is not None:
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
            else:
                dst.addfile(member)
    return out


def test_contract_version_mismatch_is_refused_naming_both(model_tarball: Path, tmp_path: Path) -> None:
    bad = rewrite(model_tarball, tmp_path / "m.tar.gz", lambda m: m.update(contract_version="0"))
    with pytest.raises(ModelLoadError) as exc:
        artifact.load_artifact(bad)
    assert "'0'" in str(exc.value) and repr(artifact.CONTRACT_VERSION) in str(exc.value)
    assert str(bad) in str(exc.value)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda m: m["actions"].pop(), "action table"),
        (lambda m: m["observation"]["features"].reverse(), "observation features"),
        (lambda m: m["observation"]["features"][0].pop("hi"), "lo and hi"),
        (lambda m: m["architecture"].update(hidden=[64]), "bad metadata"),
        (lambda m: m["architecture"].update(n_actions=3), "3"),
        (lambda m: m["architecture"].update(decode="mean"), "decode"),
        (lambda m: m["weights"].update(sha256="0" * 64), "sha256"),
        (lambda m: m.pop("contract_version"), "None"),
    ],
    ids=["actions", "feature-order", "range", "architecture", "n-actions", "decode", "sha", "no-version"],
)
def test_inconsistent_artifact_is_refused(model_tarball: Path, tmp_path: Path, edit, needle: str) -> None:
    bad = rewrite(model_tarball, tmp_path / "m.tar.gz", edit)
    with pytest.raises(ModelLoadError) as exc:
        artifact.load_artifact(bad)
    assert needle in str(exc.value)


def test_decode_median_is_packaged_and_an_artifact_without_decode_keeps_argmax(
    model_tarball: Path, tmp_path: Path
) -> None:
    """New artifacts serve the median action; one packaged before ``decode`` existed is served as it was."""
    new = artifact.load_artifact(model_tarball)
    assert new.metadata["architecture"]["decode"] == "median" and new.spec.decode == "median"
    old = artifact.load_artifact(
        rewrite(model_tarball, tmp_path / "m.tar.gz", lambda m: m["architecture"].pop("decode"))
    )
    assert old.spec.decode == "argmax"
    obs = realistic_observations(1000)
    logits = new.policy.logits(obs)
    np.testing.assert_array_equal(new.act(obs), policy.decode(logits, "median"))
    np.testing.assert_array_equal(old.act(obs), logits.argmax(axis=1))


def test_tampered_weights_are_refused(model_tarball: Path, tmp_path: Path) -> None:
    bad = rewrite(model_tarball, tmp_path / "m.tar.gz", edit_weights=lambda b: b[:-8] + b"\0" * 8)
    with pytest.raises(ModelLoadError, match="sha256"):
        artifact.load_artifact(bad)


def test_missing_or_unreadable_artifact_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        artifact.load_artifact(tmp_path / "nope.tar.gz")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    with pytest.raises(ModelLoadError, match=r"junk\.tar\.gz"):
        artifact.load_artifact(junk)
    with pytest.raises(ModelLoadError, match=r"metadata\.json"):
        artifact.load_artifact(tmp_path)  # a directory without the files


def test_package_refuses_incomplete_metadata(tmp_path: Path) -> None:
    meta = artifact.untrained_metadata()
    del meta["gate"], meta["data_sha256"]
    with pytest.raises(ValueError, match=r"\['gate', 'data_sha256'\]"):
        artifact.package_policy(artifact.random_policy(), tmp_path, metadata=meta)
    with pytest.raises(ValueError, match="gate"):
        artifact.package_policy(
            artifact.random_policy(), tmp_path, metadata={**artifact.untrained_metadata(), "gate": {"passed": True}}
        )


def test_package_refuses_networks_it_cannot_reproduce(tmp_path: Path) -> None:
    meta = artifact.untrained_metadata()
    wrong_shape = nn.Sequential(nn.Linear(features.OBS_DIM, 8), nn.Tanh(), nn.Linear(8, 3))
    with pytest.raises(ValueError, match="logits"):
        artifact.package_policy(wrong_shape, tmp_path, metadata=meta)
    with pytest.raises(ValueError, match="LayerNorm"):
        artifact.package_policy(
            nn.Sequential(nn.Linear(features.OBS_DIM, 8), nn.LayerNorm(8), nn.Linear(8, actions.N_ACTIONS)),
            tmp_path,
            metadata=meta,
        )

    class Residual(nn.Module):  # Linear layers, but not chained as they are registered
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(features.OBS_DIM, features.OBS_DIM)
            self.b = nn.Linear(features.OBS_DIM, actions.N_ACTIONS)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(x + torch.tanh(self.a(x)))

    with pytest.raises(ValueError, match="not a plain chain"):
        artifact.package_policy(Residual(), tmp_path, metadata=meta)
    assert not (tmp_path / "model.tar.gz").exists()


def test_observation_spec_from_training_samples() -> None:
    obs = realistic_observations(2000)
    spec = artifact.observation_spec(obs)
    assert [f["name"] for f in spec["features"]] == list(features.FEATURE_NAMES)
    np.testing.assert_allclose([f["lo"] for f in spec["features"]], obs.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose([f["hi"] for f in spec["features"]], obs.max(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match=rf"\(N, {features.OBS_DIM}\)"):
        artifact.observation_spec(obs[:, :5])


def test_rllib_default_ppo_module_exports_exactly() -> None:
    """The documented key mapping reproduces RLlib's own forward pass (ray 2.60, new API stack)."""
    gym = pytest.importorskip("gymnasium")
    ppo = pytest.importorskip("ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module")
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    obs = realistic_observations(1000)
    for cfg in (
        {"fcnet_hiddens": [64, 64], "fcnet_activation": "tanh"},
        {"fcnet_hiddens": [32, 32], "fcnet_activation": "relu", "vf_share_layers": True},
        {"fcnet_hiddens": [32], "fcnet_activation": "tanh", "head_fcnet_hiddens": [16]},
    ):
        module = RLModuleSpec(
            module_class=ppo.DefaultPPOTorchRLModule,
            observation_space=gym.spaces.Box(-np.inf, np.inf, (features.OBS_DIM,), np.float32),
            action_space=gym.spaces.Discrete(actions.N_ACTIONS),
            model_config=cfg,
        ).build()
        with torch.no_grad():
            ref = module.forward_inference({Columns.OBS: torch.from_numpy(obs)})[Columns.ACTION_DIST_INPUTS].numpy()
        net = policy.from_rllib_state_dict(module.state_dict(), fcnet_activation=cfg["fcnet_activation"])
        exported = policy.NumpyPolicy(*policy.spec_of_torch(net))
        np.testing.assert_allclose(exported.logits(obs), ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(exported.act(obs), policy.decode(ref))


def test_rllib_mapping_refuses_other_state_dicts() -> None:
    with pytest.raises(ValueError, match="DefaultPPOTorchRLModule"):
        policy.from_rllib_state_dict({"0.weight": np.zeros((2, 2))})

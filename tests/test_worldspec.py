"""`medenv.worldspec`: what a run records about its world, and how it is read back."""

from __future__ import annotations

import copy
import json
import pickle

import msgspec
import pytest

from medenv.errors import MedenvError
from medenv.events.replay import Trajectory
from medenv.verify import make_replay_env
from medenv.worldspec import WorldSpec, recorded_spec, spec_of_config, world_config


def test_paths_are_recorded_absolute_and_only_non_default_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = WorldSpec.of("edgelist", "kg.csv", seed=3, backend="whoosh")
    assert spec.path == str(tmp_path / "kg.csv")
    merged = WorldSpec.of(
        "hpo+hetionet", {"hetionet": "het"}, align="names", alignment="a.csv",
        keep_side_effects=True,
    )  # fmt: skip
    assert merged.path == {"hetionet": str(tmp_path / "het")}
    assert merged.kg_options() == {
        "align": "names", "alignment": str(tmp_path / "a.csv"), "keep_side_effects": True,
    }  # fmt: skip
    assert WorldSpec().kg_options() == {} and WorldSpec().is_default
    assert not spec.is_default


def test_world_config_records_a_spec_a_default_or_custom(tmp_path):
    spec = WorldSpec.of("edgelist", tmp_path / "kg.csv")
    assert world_config(None) == "default"
    assert world_config(WorldSpec()) == "default"
    assert world_config(WorldSpec(seed=1)) == WorldSpec(seed=1).to_config()  # not the env's
    assert world_config(WorldSpec(seed=1), seed=1) == "default"
    assert world_config(spec) == json.loads(msgspec.json.encode(spec))
    assert world_config(object()) == "custom"
    # read back: as a dict, as DuckDB's JSON text, and the env's own default
    assert spec_of_config({"world": world_config(spec)}) == spec
    assert recorded_spec(json.dumps(world_config(spec))) == spec
    assert recorded_spec("default") is None and recorded_spec("custom") is None
    assert recorded_spec('{"source": 3}') is None  # unreadable: fall back to kg_source
    assert spec_of_config({"source": "hpo", "world_seed": 2, "backend": "whoosh"}) == WorldSpec(
        seed=2, backend="whoosh"
    )
    assert spec_of_config({"world": "custom"}) is None
    with pytest.raises(MedenvError, match="recorded world spec is bad"):
        spec_of_config({"world": {"source": ["x"]}})


def test_a_spec_survives_gymnasium_deepcopy_and_pickling(tmp_path):
    spec = WorldSpec.of("edgelist", tmp_path / "kg.csv")
    assert copy.deepcopy(spec) == spec and pickle.loads(pickle.dumps(spec)) == spec


def test_an_env_given_a_spec_dict_records_it(tmp_path):
    """The env takes a recorded spec as a dict (a Minari env_spec's kwargs)."""
    from medenv.env import MedResearchEnv

    spec = WorldSpec.of("edgelist", tmp_path / "kg.csv")
    env = MedResearchEnv(qa=[], world=spec.to_config(), db=None)
    assert env.config["world"] == spec.to_config() and env._world_arg == spec


def test_replaying_a_custom_world_without_one_names_the_flags():
    traj = Trajectory(
        run_id="r", episode_id="e", question_id="q", seed=0, prompt="", item={},
        config={"world": "custom", "source": "hpo"}, corpus_hash=None, tags={}, steps=[],
    )  # fmt: skip
    with pytest.raises(MedenvError) as exc:
        make_replay_env(traj)
    assert "custom world" in str(exc.value) and "--source/--path" in str(exc.value)


def test_the_default_world_is_recorded_by_its_recipe():
    from medenv.world import load_world

    assert world_config(load_world(progress=False)) == "default"

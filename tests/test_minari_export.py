"""Minari as its docs show: ``minari.load_dataset(id)``, every step inside the dataset's
spaces, ``recover_environment()``; from a real event store, without touching os.environ."""

from __future__ import annotations

import os

import gymnasium as gym
import pytest
from medenv.training.export import export, load_episodes
from medenv.training.minari_export import minari_available, write_minari

import medenv  # noqa: F401  (registers MedResearch-v0)
from medenv.env import CHARSET, ModelText

pytestmark = pytest.mark.skipif(not minari_available(), reason="needs medenv[minari]")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two oracle episodes plus one episode whose actions hold characters outside the
    charset (an emoji, a private-use character), all in one run of a 6-step env."""
    from medenv.agents.rollout import rollout

    base = tmp_path_factory.mktemp("minari")
    db = base / "s.duckdb"
    rollout("oracle", episodes=2, db=db, seed=0, progress=False, max_steps=6)
    env = gym.make("MedResearch-v0", db=db, max_steps=6, run_id="odd-run", tags={"agent": "odd"})
    env.reset(seed=3)
    env.step("thinking \U0001f600 about it \ue000")
    env.step("<answer>Marfan \U0001f600 syndrome</answer>")
    env.close()
    return db


def _inside(text: str, space: ModelText) -> bool:
    """Independent membership check: a str, within length, every character in CHARSET."""
    return isinstance(text, str) and len(text) <= space.max_length and set(text) <= CHARSET


def test_dataset_loads_and_every_step_is_inside_its_spaces(store, tmp_path, monkeypatch):
    import minari

    environ = dict(os.environ)
    records = load_episodes(store)
    ds = write_minari(records, tmp_path, db=store)
    assert dict(os.environ) == environ  # no process-wide change
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    loaded = minari.load_dataset(ds.spec.dataset_id)
    assert loaded.total_episodes == len(records) == 3
    obs_space, act_space = loaded.observation_space, loaded.action_space
    assert obs_space.max_length == 65_536 and act_space.max_length == 131_072
    n_steps = 0
    for episode, record in zip(loaded.iterate_episodes(), records, strict=True):
        assert len(episode.actions) == len(record.steps)
        for obs in episode.observations:
            assert _inside(obs, obs_space) and obs_space.contains(obs)
        for action in episode.actions:
            assert _inside(action, act_space) and act_space.contains(action)
            n_steps += 1
        assert list(episode.rewards[:-1]) == [0.0] * (len(record.steps) - 1)
        assert episode.rewards[-1] == pytest.approx(record.reward)
        assert bool(episode.terminations[-1]) == record.terminated
    assert n_steps == sum(len(r.steps) for r in records)
    odd = [e for e in loaded.iterate_episodes() if "\ufffd" in e.actions[0]]
    assert len(odd) == 1 and odd[0].actions[0] == "thinking \ufffd about it \ufffd"


def test_recover_environment_makes_the_runs_env(store, tmp_path, monkeypatch):
    import minari

    records = [r for r in load_episodes(store) if r.agent == "oracle"]
    ds = write_minari(records, tmp_path, db=store)
    run = records[0].run_id
    assert ds.spec.dataset_id == f"medresearch-oracle-{run}-v0"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    env = minari.load_dataset(ds.spec.dataset_id).recover_environment(db=None)
    obs, info = env.reset(seed=0, options={"question_id": records[0].question_id})
    assert obs == records[0].prompt  # the same env: same question, same prompt, 6 turns
    assert env.unwrapped.max_steps == 6 and info["budget"] == 6
    assert isinstance(env.observation_space, ModelText)
    env.close()


def test_cli_export_names_the_dataset_by_agent_and_run(store, tmp_path):
    stats = export(store, tmp_path / "out", ["minari"], agent="odd", select=False)
    assert stats["files"]["minari"].endswith("minari/medresearch-odd-odd-run-v0")
    assert (tmp_path / "out" / "minari" / "medresearch-odd-odd-run-v0" / "data").is_dir()

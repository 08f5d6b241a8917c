"""Minari's own recorder on the live env, as Minari's docs show (``env =
DataCollector(gym.make(...))``, play episodes, ``env.create_dataset(...)``,
``minari.load_dataset(id)``): the dataset holds exactly what the env returned and what its
event store logged. Needs the ``medenv[minari-collect]`` extra (jax); skipped without it
(``make test`` installs ``.[train,dev]``, which does not include it)."""

from __future__ import annotations

import gymnasium as gym
import pytest

import medenv  # noqa: F401  (registers MedResearch-v0)

minari = pytest.importorskip("minari", reason="needs medenv[minari-collect]")
pytest.importorskip("jax", reason="Minari's DataCollector needs jax: medenv[minari-collect]")


def _actions(item) -> list[str]:
    """A search for the question's first words, then the gold answer."""
    query = " ".join(item.question.split()[:6])
    return [
        f'<tool_call>{{"name": "medical_search", "arguments": {{"query": "{query}"}}}}</tool_call>',
        f"<answer>{item.answer}</answer>",
    ]


def test_data_collector_records_the_env_as_minari_docs_show(tmp_path, monkeypatch):
    from minari import DataCollector

    from medenv.events.store import connect

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    db = tmp_path / "collect.duckdb"
    env = DataCollector(gym.make("MedResearch-v0", db=str(db), max_steps=4, run_id="collect"))
    played = []
    for seed in (0, 1, 2):
        obs, info = env.reset(seed=seed)
        episode = {"obs": [obs], "actions": [], "rewards": []}
        for action in _actions(env.unwrapped.item):
            obs, reward, terminated, truncated, info = env.step(action)
            episode["obs"].append(obs)
            episode["actions"].append(action)
            episode["rewards"].append(float(reward))
            if terminated or truncated:
                break
        episode["terminated"] = terminated
        played.append(episode)
    dataset = env.create_dataset(
        dataset_id="medresearch/collected-v0",
        algorithm_name="scripted-search-then-answer",
        description="MedResearch-v0 episodes recorded live by Minari's DataCollector",
        author="medenv tests",
        author_email="tests@example.org",
        code_permalink="https://example.org/medenv",
    )
    env.close()
    loaded = minari.load_dataset("medresearch/collected-v0")
    assert dataset.total_episodes == loaded.total_episodes == 3
    obs_space, act_space = loaded.observation_space, loaded.action_space
    for episode, mine in zip(loaded.iterate_episodes(), played, strict=True):
        assert list(episode.observations) == mine["obs"]
        assert list(episode.actions) == mine["actions"]
        assert [float(r) for r in episode.rewards] == mine["rewards"]
        assert bool(episode.terminations[-1]) == mine["terminated"]
        assert all(obs_space.contains(o) for o in episode.observations)
        assert all(act_space.contains(a) for a in episode.actions)
    # the same episodes, as the env's own event log recorded them
    con = connect(db)
    try:
        logged = [
            r[0]
            for r in con.execute(
                "SELECT reward FROM episodes WHERE run_id = 'collect' ORDER BY episode_id"
            ).fetchall()
        ]
    finally:
        con.close()
    assert logged == pytest.approx([m["rewards"][-1] for m in played])
    # and Minari rebuilds the env from the recorded spec
    again = loaded.recover_environment(db=None)
    first, _ = again.reset(seed=0)
    assert first == played[0]["obs"][0]
    again.close()

# ruff: noqa: F811  (pytest fixtures imported from test_env)
"""Gymnasium as its docs show: ``gym.make_vec`` (async with defaults), ``max_episode_steps``
(`TimeLimit`), ``pickle``; over the default world and a real DuckDB store."""

from __future__ import annotations

import pickle

import gymnasium as gym
import pytest
from gymnasium.vector.utils import (
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

import medenv  # noqa: F401  (registers MedResearch-v0)
from medenv.env import OBSERVATION_MAX_CHARS, ModelText
from medenv.events.store import connect
from tests.test_env import items, scripted_actions, world  # noqa: F401  (fixtures)


def _actions(world, item):
    name = world.kg.node(item.chain[0]).name
    return [
        f'<tool_call>{{"name": "medical_search", "arguments": {{"query": "{name}"}}}}</tool_call>',
        "no call here",
        f'<tool_call>{{"name": "web_search", "arguments": {{"query": "{name} inheritance"}}}}',
    ]


def _run_vector(items, world, mode: str, **kwargs) -> list[bytes]:
    envs = gym.make_vec(
        "MedResearch-v0", num_envs=2, vectorization_mode=mode, qa=items, db=None, **kwargs
    )
    try:
        obs, infos = envs.reset(seed=[7, 8])
        seen = [o.encode("utf-8") for o in obs]
        qids = list(infos["question_id"])
        by_id = {i.id: i for i in items}
        plans = [_actions(world, by_id[q]) for q in qids]
        for k in range(3):
            obs, *_ = envs.step(tuple(plan[k] for plan in plans))
            assert isinstance(obs, tuple)
            seen += [o.encode("utf-8") for o in obs]
    finally:
        envs.close()
    return seen


def test_async_vector_with_defaults_returns_the_same_bytes_as_sync(items, world):
    sync = _run_vector(items, world, "sync")
    assert _run_vector(items, world, "async") == sync  # default vector_kwargs: shared memory
    # and both equal what one plain env returns for the same seed and actions
    env = gym.make("MedResearch-v0", qa=items, db=None)
    obs, info = env.reset(seed=7)
    plan = _actions(world, env.unwrapped.item)
    single = [obs.encode()] + [env.step(a)[0].encode() for a in plan]
    assert single == sync[0::2] and all(b"\x00" not in s and s for s in sync)


@pytest.mark.parametrize(
    "texts", [("", "abc"), ("αβγ – résumé \ufffd ≥ →", "x" * 300), ("\x00\n\t", "日本")]
)
def test_model_text_shared_memory_round_trip(texts):
    """Write through gymnasium's own functions, read back live (no stale start-up copy)."""
    space = ModelText(300)
    texts = tuple(t if all(c in space.character_set for c in t) else "?" for t in texts)
    memory = create_shared_memory(space, n=2)
    view = read_from_shared_memory(space, memory, n=2)  # read once, like AsyncVectorEnv
    for i, text in enumerate(texts):
        write_to_shared_memory(space, i, text, memory)
    assert tuple(view) == texts and all(t in space for t in view)
    write_to_shared_memory(space, 0, "later", memory)
    assert view[0] == "later" and view[1] == texts[1]
    with pytest.raises(ValueError):
        write_to_shared_memory(space, 0, "y" * 301, memory)


def _episodes(path):
    con = connect(path)
    try:
        return con.execute(
            "SELECT steps, terminated, truncated, reward, format, n_format_errors "
            "FROM episodes ORDER BY episode_id"
        ).fetchall()
    finally:
        con.close()


def test_max_episode_steps_truncation_is_logged_and_rewarded_like_max_steps(items, world, tmp_path):
    results = {}
    for name, kwargs in {
        "time_limit": {"max_episode_steps": 2},  # gym.make wraps in TimeLimit(2)
        "max_steps": {"max_steps": 2},
    }.items():
        db = tmp_path / f"{name}.duckdb"
        env = gym.make("MedResearch-v0", qa=items, db=db, **kwargs)
        trace = []
        for seed in (1, 2):
            env.reset(seed=seed)
            actions = scripted_actions(world, env.unwrapped.item)[:2]  # search, browse
            for action in actions:
                obs, reward, terminated, truncated, info = env.step(action)
                trace.append((obs, reward, terminated, truncated, info["budget"]))
        env.close()
        results[name] = (trace, _episodes(db))

    assert results["time_limit"] == results["max_steps"]
    trace, episodes = results["time_limit"]
    # the second step ends each episode as truncated, with the no-answer reward:
    # format = 1 - 0.5*0 halved without an answer = 0.5, weighted 0.2
    assert [t[3] for t in trace] == [False, True, False, True]
    assert [t[1] for t in trace] == [0.0, pytest.approx(0.1), 0.0, pytest.approx(0.1)]
    assert episodes == [(2, False, True, pytest.approx(0.1), 0.5, 0)] * 2
    with pytest.raises(Exception):  # noqa: B017  (TimeLimit stops stepping past the end)
        env.step("x")


def test_max_episode_steps_above_max_steps_leaves_the_env_budget(items, tmp_path):
    env = gym.make("MedResearch-v0", qa=items, db=None, max_steps=3, max_episode_steps=5)
    obs, info = env.reset(seed=0)
    assert info["budget"] == 3 and "You have 3 turns" in obs
    truncs = [env.step("x")[3] for _ in range(3)]
    assert truncs == [False, False, True]


class _NoDeepcopy(list):
    """A question list that fails if anything deep-copies it (gymnasium's wrapper ``spec``
    deep-copies the make kwargs: 0.6 s per env with the 2,000-item default set)."""

    def __deepcopy__(self, memo):
        raise AssertionError("the question set was deep-copied")


def test_making_an_env_never_deep_copies_its_questions(items, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium turns a failed copy into a warning
        env = gym.make("MedResearch-v0", qa=_NoDeepcopy(items), db=None, max_episode_steps=2)
        env.reset(seed=0)
        assert env.unwrapped.max_steps == 2  # the TimeLimit still caps the env's own budget
        assert [env.step("x")[3] for _ in range(2)] == [False, True]
        env.close()


def test_env_pickles_and_the_copy_continues_the_same_draws(items, world, tmp_path):
    env = gym.make("MedResearch-v0", qa=items, db=tmp_path / "p.duckdb", run_id="pk")
    env.reset(seed=3)
    env.step("no call")
    blob = pickle.dumps(env)
    assert len(blob) < 2_000_000  # config, questions and RNG; no world, no store
    copy = pickle.loads(blob)
    assert copy.unwrapped.world is None and copy.unwrapped.store is None
    with pytest.raises(Exception, match="reset"):
        copy.step("x")  # the open episode is not carried over
    a, b = env.reset(), copy.reset()  # same RNG state: the same next question
    assert a[0] == b[0] and a[1]["question_id"] == b[1]["question_id"]
    action = scripted_actions(world, env.unwrapped.item)[0]
    assert env.step(action)[0] == copy.step(action)[0]
    assert copy.unwrapped.world is world  # reopened from its recipe (the cached default)
    env.close()
    copy.close()
    con = connect(tmp_path / "p.duckdb")
    writers = con.execute("SELECT n_writers FROM runs WHERE run_id = 'pk'").fetchone()[0]
    con.close()
    assert writers == 2  # the copy logged its own run_started, in its own shard


def test_world_pickles_as_its_recipe(world):
    blob = pickle.dumps(world)
    assert len(blob) < 1000 and pickle.loads(blob) is world


def test_vector_env_space_is_model_text(items):
    envs = gym.make_vec("MedResearch-v0", num_envs=2, vectorization_mode="async", qa=items, db=None)
    assert isinstance(envs.single_observation_space, ModelText)
    assert envs.single_observation_space.max_length == OBSERVATION_MAX_CHARS
    envs.close()


@pytest.mark.parametrize(
    ("source", "version", "built"),
    [("hetionet", "v1.0", "hetionet v1.0"), ("hpo", "1999-01-01", "hpo 1999-01-01")],
)
def test_questions_from_another_graph_are_refused_in_one_line(items, world, source, version, built):
    import msgspec

    from medenv.errors import MedenvError

    foreign = [msgspec.structs.replace(i, kg_source=source, kg_version=version) for i in items]
    env = gym.make("MedResearch-v0", qa=foreign, db=None)
    with pytest.raises(MedenvError) as err:
        env.reset(seed=0)
    message = str(err.value)
    assert "\n" not in message and f"built from the {built} graph" in message
    assert f"the world is {world.kg.source} {world.kg.version}" in message
    same = [msgspec.structs.replace(i, kg_source=world.kg.source, kg_version="") for i in items]
    gym.make("MedResearch-v0", qa=same, db=None).reset(seed=0)  # no version recorded: fine

"""The tool result cache (`medenv.tools.cache`): with it on, the env's observations and
its logged events are those of the cache off (the same oracle actions, each question
played twice, on the real default world); the cache is bounded, per world, and off with
``MEDENV_TOOL_CACHE=0``."""

from __future__ import annotations

import gymnasium as gym
import msgspec
import pytest

import medenv  # noqa: F401  (registers MedResearch-v0)
from bench.oracle_trace import record_actions
from medenv.errors import MedenvError
from medenv.events.store import connect
from medenv.questions import default_qa_set
from medenv.tools import cache
from medenv.tools.registry import execute

TIMING = {"latency_ms", "h"}  # what differs between any two runs: time, and the chain over it


@pytest.fixture(scope="module")
def trace():
    return record_actions(default_qa_set(progress=False), limit=6)


def _play(trace, db):
    env = gym.make("MedResearch-v0", db=db, run_id="r")
    env.reset(seed=0)
    cache.clear_cache(env.unwrapped.world)
    observations = []
    for _ in range(2):  # each question twice: the second time every call repeats
        for question_id, actions in trace:
            observations.append(env.reset(seed=0, options={"question_id": question_id})[0])
            for action in actions:
                obs, reward, terminated, truncated, info = env.step(action)
                observations.append((obs, reward, terminated, truncated, info.get("tool")))
    stats = cache.cache_stats(env.unwrapped.world)
    env.close()
    return observations, stats


def _events(db):
    con = connect(db)
    rows = con.execute(
        "SELECT seq, type, CAST(payload AS VARCHAR) FROM events "
        "WHERE episode_id IS NOT NULL ORDER BY ts, seq"
    ).fetchall()
    out = []
    for seq, type_, payload in rows:
        data = msgspec.json.decode(payload)
        out.append((seq, type_, {k: v for k, v in data.items() if k not in TIMING}))
    return out


def test_observations_and_events_are_the_same_with_the_cache_on_or_off(
    trace, tmp_path, monkeypatch
):
    monkeypatch.setenv(cache.ENV_VAR, "0")
    off_obs, off_stats = _play(trace, tmp_path / "off.duckdb")
    monkeypatch.setenv(cache.ENV_VAR, "4096")
    on_obs, on_stats = _play(trace, tmp_path / "on.duckdb")
    assert off_stats == (0, 0, 0)
    hits, misses, held = on_stats
    assert hits >= misses > 0 and held == misses  # the second pass is served from the cache
    assert on_obs == off_obs
    off_events = _events(tmp_path / "off.duckdb")
    on_events = _events(tmp_path / "on.duckdb")
    assert len(on_events) == len(off_events) > 40
    assert on_events == off_events
    assert any(t == "tool_returned" for _, t, _ in on_events)


def test_the_cache_is_bounded_least_recently_used_first(trace, monkeypatch):
    env = gym.make("MedResearch-v0", db=None)
    env.reset(seed=0)
    world = env.unwrapped.world
    cache.clear_cache(world)
    monkeypatch.setenv(cache.ENV_VAR, "3")
    queries = [f"abnormality {w}" for w in ("heart", "liver", "kidney", "eye", "skin")]
    first = [execute(world, "medical_search", {"query": q}) for q in queries]
    assert cache.cache_stats(world) == (0, 5, 3)  # five misses, three kept
    again = execute(world, "medical_search", {"query": queries[-1]})  # still held: a hit
    assert again is first[-1] and cache.cache_stats(world)[0] == 1
    recomputed = execute(world, "medical_search", {"query": queries[0]})  # evicted: runs again
    assert recomputed is not first[0] and recomputed == first[0]
    assert cache.cache_stats(world) == (1, 6, 3)
    monkeypatch.setenv(cache.ENV_VAR, "0")  # off: nothing stored or counted
    execute(world, "medical_search", {"query": "abnormality bone"})
    assert cache.cache_stats(world) == (1, 6, 3)
    env.close()


def test_a_bad_size_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(cache.ENV_VAR, "lots")
    with pytest.raises(MedenvError, match="MEDENV_TOOL_CACHE must be a whole number"):
        cache.cache_size()


def test_a_query_json_cannot_encode_runs_uncached_and_the_same(monkeypatch):
    """A lone surrogate (text no UTF-8 encoder takes) is not a cache key: the call runs,
    unstored, and gives what it gives with the cache off."""
    env = gym.make("MedResearch-v0", db=None)
    env.reset(seed=0)
    world = env.unwrapped.world
    cache.clear_cache(world)
    on = execute(world, "medical_search", {"query": "\ud83d marfan"})
    assert cache.cache_stats(world)[2] == 0  # nothing stored
    monkeypatch.setenv(cache.ENV_VAR, "0")
    assert execute(world, "medical_search", {"query": "\ud83d marfan"}) == on
    obs, _r, _t, _tr, info = env.step({"name": "medical_search", "arguments": {"query": "\ud83d"}})
    assert isinstance(obs, str)
    env.close()

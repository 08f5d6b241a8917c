"""Arguments gymnasium's own ``make`` tripped over, and sizes past any sane use (round 17's
leftovers): each is one `MedenvError` naming the argument and what it may be, raised by
``gym.make`` (the registered entry point, `medenv.env_entry.make_env`), never gymnasium's
traceback, never taken in silence to fail later."""

from __future__ import annotations

import warnings
from functools import partial

import gymnasium as gym
import pytest

import medenv  # noqa: F401  (registers MedResearch-v0)
from medenv.env import MedResearchEnv
from medenv.errors import MedenvError
from medenv.events.files import check_run_id, new_run_id
from medenv.events.parquet import export_parquet
from medenv.events.store import EventStore, connect
from tests.test_hostile_args import _run_started


@pytest.mark.parametrize("mode", [5, "human", "rgb_array", ["ansi"]])
def test_a_render_mode_the_env_lacks_is_one_named_error_from_gym_make(mode):
    # 5 and ["ansi"] were gymnasium's AttributeError ('int' object has no attribute
    # 'endswith'); "human" a gymnasium warning before the env's own error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MedenvError) as caught:
            gym.make("MedResearch-v0", db=None, render_mode=mode)
    assert str(caught.value) == f"render_mode must be one of None, 'ansi', got {mode!r}"


def test_the_render_modes_the_env_has_are_taken():
    for mode in (None, "ansi"):
        env = gym.make("MedResearch-v0", db=None, render_mode=mode)
        assert env.unwrapped.render_mode == mode
        env.close()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_steps": 10**30}, "max_steps must be at most 1,000,000, got 1,000,000,000,"),
        ({"max_steps": 10**6 + 1}, "max_steps must be at most 1,000,000, got 1,000,001"),
        ({"run_id": "r" * 10_000}, "run_id must be at most 80 bytes in UTF-8, got 10,000"),
        ({"run_id": "日" * 27}, "run_id must be at most 80 bytes in UTF-8, got 81"),
        ({"shard": 10**30}, "shard must be None, 'auto' or an int from 0 to 4095, got 1000"),
        ({"shard": 4096}, "shard must be None, 'auto' or an int from 0 to 4095, got 4096"),
        ({"shard": "first"}, "shard must be None, 'auto' or an int from 0 to 4095, got 'first'"),
    ],
)
def test_sizes_past_the_documented_bounds_are_refused_at_make(kwargs, message, tmp_path):
    # each was taken: 10**30 steps, a 10 KB run id (its export failed later), a shard file
    # named x.shard-1000000000000000000000000000000.duckdb (at the first reset)
    for make in (partial(gym.make, "MedResearch-v0"), MedResearchEnv):  # constructed, too
        with pytest.raises(MedenvError) as caught:
            make(db=str(tmp_path / "x.duckdb"), **kwargs)
        assert str(caught.value).startswith(message)
        assert not (tmp_path / "x.duckdb").exists()


def test_the_bounds_themselves_are_taken():
    env = gym.make("MedResearch-v0", db=None, max_steps=10**6, shard=4095, run_id="r" * 80)
    assert env.unwrapped.max_steps == 10**6 and env.unwrapped.run_id == "r" * 80
    env.close()
    # every form of run id the README shows stays valid
    for run_id in (new_run_id(), "grpo-run-3", "oracle", "big-run", "日" * 26):
        assert check_run_id(run_id) == run_id


def test_the_longest_run_id_still_exports_to_parquet(tmp_path):
    # the bound is what a Parquet export can name: run_id=<id, %-escaped> within 255 bytes;
    # 80 bytes of a 3-byte script escape to 240 characters (90 bytes failed: DuckDB "Failed to create directory")
    run_id = "日" * 26 + "/%"
    assert len(run_id.encode()) == 80
    store = EventStore(tmp_path / "e.duckdb", run_id=run_id)
    store.emit(_run_started({}))
    store.close()
    summary = export_parquet(tmp_path / "e.duckdb", tmp_path / "pq", progress=False)
    assert summary["runs"] == 1
    con = connect(str(tmp_path / "pq"))
    assert con.execute("SELECT DISTINCT run_id FROM events").fetchall() == [(run_id,)]


def test_a_reset_seed_past_64_bits_is_refused_and_the_largest_is_stored(tmp_path):
    # seed=10**30 was taken and logged; the episodes table's 64-bit seed read it as NULL
    env = gym.make("MedResearch-v0", db=str(tmp_path / "e.duckdb"), run_id="seeds")
    for seed in (10**30, 2**63):
        with pytest.raises(MedenvError, match=r"seed must be at most 2\*\*63 - 1 \("):
            env.reset(seed=seed)
    env.reset(seed=2**63 - 1)
    env.step("<answer>x</answer>")
    env.close()
    con = connect(str(tmp_path / "e.duckdb"))
    assert con.execute("SELECT seed FROM episodes").fetchall() == [(2**63 - 1,)]

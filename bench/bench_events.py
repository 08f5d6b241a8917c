"""Event store speed: replaying one 10-step episode out of a 100k-event store, and raw
emit+commit throughput.

The store is written by the real `EventStore` (3,000+ episodes of ~32 events: prompt,
ten searches with observations, reward, end). Replay = `read_episode` on an open
`connect` result + `trajectory` (what ``medenv replay`` and SFT export do per episode).
"""

from __future__ import annotations

import random

import pytest

from medenv.events import schema as ev
from medenv.events.replay import trajectory
from medenv.events.store import EventStore, connect, read_episode

OBS = (
    'medical_search results for "x":\n1. Marfan syndrome | https://medref.medenv.org/entity/ORPHA:558\n   '
    * 3
)


RUN_STARTED = ev.RunStarted(
    config={"split": "test", "max_steps": 32}, kg_source="hpo", kg_version="2025-01-16",
    corpus_hash="c", parser_version="1", reward_weights={"accuracy": 1.0}, seed=0,
)  # fmt: skip


def _write_episode(store: EventStore, episode_id: str, rng: random.Random) -> int:
    store.emit(
        ev.EpisodeStarted(question_id=f"q{rng.randrange(2000)}", seed=0, split="test",
                          specialty="genetics", n_hops=3, optimal_calls=4, answer="A",
                          aliases=[], prompt="Which disease ... " * 20, config_hash="c",
                          tags={"agent": "bench"}),
        episode_id,
    )  # fmt: skip
    for step in range(10):
        store.emit(
            ev.ActionReceived(step=step, text='<tool_call>{"name": "medical_search"}</tool_call>'),
            episode_id,
        )
        store.emit(
            ev.ToolCalled(step=step, name="medical_search", arguments={"query": "x"}), episode_id
        )
        store.emit(ev.ToolReturned(step=step, name="medical_search", observation=OBS, latency_ms=1.0,
                                   doc_ids=["med:ORPHA:558"]), episode_id)  # fmt: skip
        store.commit()
    store.emit(ev.RewardAssigned(accuracy=1.0, format=1.0, efficiency=1.0, total=1.4, correct=True,
                                 evidence_recall=1.0, weights={}), episode_id)  # fmt: skip
    store.emit(ev.EpisodeEnded(steps=10, terminated=True, truncated=False, n_tool_calls=10,
                               n_format_errors=0), episode_id)  # fmt: skip
    store.end_episode(episode_id)
    return 33


@pytest.fixture(scope="module")
def store_100k(bench_dir):
    path = bench_dir / "events-100k.duckdb"
    rng = random.Random(0)
    n, k = 0, 0
    with EventStore(path, run_id="bench", durability="none", batch_events=50_000) as store:
        store.emit(RUN_STARTED)
        n += 1
        while n < 100_000:
            n += _write_episode(store, f"e{k:05d}", rng)
            k += 1
    return path, k, n


def test_replay_one_episode_from_100k_events(benchmark, extra, store_100k):
    path, episodes, n = store_100k
    con = connect(path)
    rng = random.Random(1)

    def replay():
        return trajectory(read_episode(con, f"e{rng.randrange(episodes):05d}"))

    traj = benchmark(replay)
    assert len(traj.steps) == 10
    assert read_episode(con, "e00000")[0].payload == RUN_STARTED  # as `medenv replay` reads it
    extra(benchmark, events=n, median_ms=benchmark.stats.stats.median * 1000)


@pytest.mark.parametrize("durability", ["step", "none"])
def test_emit_commit_throughput(benchmark, extra, bench_dir, durability):
    rng = random.Random(0)
    counter = iter(range(10**9))
    store = EventStore(
        bench_dir / f"emit-{durability}.duckdb", run_id="emit", durability=durability
    )

    def episode():
        return _write_episode(store, f"e{next(counter)}", rng)

    benchmark.pedantic(episode, rounds=300, iterations=1, warmup_rounds=5)
    store.close()
    extra(benchmark, events_per_s=33 / benchmark.stats.stats.median)

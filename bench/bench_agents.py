"""Agents: MTG trajectory synthesis throughput, and the tool-call efficiency benchmark.

- ``bench_mtg_2000``: the oracle (masked trajectory guidance) over the whole default
  question set (2,000 items), one process, events logged to a DuckDB store. Reported:
  seconds, trajectories/s, accuracy, mean tool calls (answer call included).
- ``bench_efficiency_<agent>``: oracle, heuristic and random agents on the same test
  split of the default set: accuracy, mean tool calls, mean calls of correct episodes.
"""

from __future__ import annotations

import pytest

from agents.rollout import rollout
from training.export import load_episodes


@pytest.fixture(scope="module")
def qa_path():
    from medenv.synth import default_qa_set

    return default_qa_set(progress=False)


def bench_mtg_2000(benchmark, extra, bench_dir, qa_path):
    runs = []

    def run():
        db = bench_dir / f"mtg-{len(runs)}.duckdb"
        runs.append(rollout("oracle", qa=qa_path, db=db, seed=0, progress=False))

    benchmark.pedantic(run, rounds=1, iterations=1)
    r = runs[-1]
    assert r.ran == 2000
    extra(
        benchmark,
        trajectories=r.ran,
        per_s=r.ran / r.seconds,
        accuracy=r.accuracy,
        mean_tool_calls=r.mean_tool_calls,
    )


@pytest.mark.parametrize("agent", ["oracle", "heuristic", "random"])
def bench_efficiency(benchmark, extra, bench_dir, qa_path, agent):
    db = bench_dir / f"eff-{agent}.duckdb"
    results = []
    benchmark.pedantic(
        lambda: results.append(
            rollout(agent, qa=qa_path, split="test", db=db, seed=0, progress=False)
        ),
        rounds=1,
        iterations=1,
    )
    r = results[-1]
    eps = [e for e in load_episodes(db) if e.agent == agent]
    correct = [e.n_tool_calls for e in eps if e.correct]
    extra(
        benchmark,
        episodes=len(eps),
        accuracy=r.accuracy,
        mean_tool_calls=sum(e.n_tool_calls for e in eps) / len(eps),
        mean_calls_correct=sum(correct) / len(correct) if correct else 0.0,
    )

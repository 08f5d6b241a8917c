"""Rollout workers forked from a parent that has loaded the world (`medenv.workers`).

``bench_oracle_workers[W]``: 4,000 oracle episodes (the default set, cycled) with ``W``
worker processes, world loading included (a cold parent loads it once, before forking).
Reported: episodes/s and, for W=2, the speedup over W=1 measured in the same session.
Target (issue 20): ``--workers 2`` at least 1.7x faster than 1 on a 2-core machine (the
figure depends on what else the machine runs: report it with the load).
"""

from __future__ import annotations

import os

import pytest
from medenv.agents.rollout import rollout

EPISODES = 4000
_SECONDS: dict[int, float] = {}


@pytest.mark.parametrize("workers", [1, 2])
def bench_oracle_workers(benchmark, extra, bench_dir, workers):
    results = []

    def run():
        db = bench_dir / f"workers-{workers}-{len(results)}.duckdb"
        results.append(
            rollout("oracle", episodes=EPISODES, workers=workers, db=db, seed=0, progress=False)
        )

    benchmark.pedantic(run, rounds=1, iterations=1)
    r = results[-1]
    assert r.ran == EPISODES and r.accuracy > 0.95
    _SECONDS[workers] = r.seconds
    figures = {"episodes_per_s": r.ran / r.seconds, "load_avg_1m": os.getloadavg()[0]}
    if workers > 1 and 1 in _SECONDS:
        figures["speedup_vs_1"] = _SECONDS[1] / r.seconds
    extra(benchmark, **figures)

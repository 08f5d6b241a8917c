"""Rollouts on Ray vs local: 2,000 oracle episodes on a local Ray (all CPUs of this
machine) vs the same rollout with ``--workers`` = CPUs, locally (forked workers).

Reported: episodes/s of each and Ray's ratio to local (same session). Ray's figure
includes starting its actors and loading the world once on the node (the local Ray itself
is started before timing, as a cluster would already be up).
"""

from __future__ import annotations

import os

import pytest
from medenv.agents.rollout import rollout

EPISODES = 2000
_RATES: dict[str, float] = {}


@pytest.fixture(scope="module")
def ray_local():
    pytest.importorskip("ray")
    from medenv.distributed import init_ray

    ray = init_ray("")
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("where", ["local", "ray"])
def bench_rollout_ray_vs_local(benchmark, extra, bench_dir, ray_local, where):
    results = []
    workers = os.cpu_count() or 1

    def run():
        db = bench_dir / f"ray-vs-local-{where}-{len(results)}.duckdb"
        kwargs = {"ray": ""} if where == "ray" else {"workers": workers}
        results.append(rollout("oracle", episodes=EPISODES, db=db, seed=0, progress=False,
                               **kwargs))  # fmt: skip

    benchmark.pedantic(run, rounds=1, iterations=1)
    r = results[-1]
    assert r.ran == EPISODES
    _RATES[where] = r.ran / r.seconds
    figures = {"episodes_per_s": _RATES[where], "workers": workers}
    if where == "ray" and "local" in _RATES:
        figures["ray_vs_local"] = _RATES["ray"] / _RATES["local"]
    extra(benchmark, **figures)

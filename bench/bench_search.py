"""Search benchmarks over the default corpus (all HPO entities, medical + web).

- index build: seconds and disk size of a fresh index of both collections, tantivy (always)
  and whoosh (only with ``MEDENV_BENCH_WHOOSH_BUILD=1``: it takes minutes).
- ``medical_search`` latency through the tool registry (validation, search, snippets,
  rendering): p50/p95 over 1,000 entity-name and multi-word queries, for both backends
  (the whoosh index is built once into ``$MEDENV_HOME`` and reused).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from pathlib import Path

import pytest

from medenv.corpus.build import cached_corpus
from medenv.corpus.index import open_index
from medenv.tools.registry import execute
from medenv.world import load_world


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def _queries(world, n: int = 1000) -> list[str]:
    rng = random.Random(0)
    names = sorted(n.name for n in world.kg.nodes())
    picked = rng.sample(names, n // 2)
    words = [w for name in rng.sample(names, n) for w in name.split()[:2]]
    picked += [" ".join(rng.sample(words, 3)) for _ in range(n - len(picked))]
    return picked


@pytest.mark.parametrize("backend", ["tantivy", "whoosh"])
def bench_index_build(benchmark, extra, kg, bench_dir, backend):
    if backend == "whoosh" and not os.environ.get("MEDENV_BENCH_WHOOSH_BUILD"):
        pytest.skip("set MEDENV_BENCH_WHOOSH_BUILD=1 to time the (slow) whoosh build")
    corpus = cached_corpus(kg, seed=0, progress=False)
    counter = iter(range(100))

    def build():
        root = bench_dir / f"{backend}-{next(counter)}"
        for name in ("medical", "web"):
            open_index(corpus.collection(name), backend, root / name)
        return root

    root = benchmark.pedantic(build, rounds=1, iterations=1)
    extra(
        benchmark,
        docs=len(corpus),
        medical_mb=_size_mb(root / "medical"),
        web_mb=_size_mb(root / "web"),
        disk_mb=_size_mb(root),
    )


@pytest.mark.parametrize("backend", ["tantivy", "whoosh"])
def bench_medical_search(benchmark, extra, backend):
    world = load_world("hpo", backend, seed=0, progress=False)
    queries = _queries(world)
    for q in queries[:50]:  # warm caches
        execute(world, "medical_search", {"query": q})
    latencies = []

    def run_all():
        for q in queries:
            t = time.perf_counter()
            result = execute(world, "medical_search", {"query": q})
            latencies.append(time.perf_counter() - t)
            assert result.ok

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    ms = sorted(x * 1000 for x in latencies)
    extra(
        benchmark,
        queries=len(ms),
        p50_ms=statistics.median(ms),
        p95_ms=ms[int(0.95 * len(ms)) - 1],
        max_ms=ms[-1],
    )

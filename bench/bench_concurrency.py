"""Concurrent LLM episodes: episodes/s against a model server that takes 200 ms per reply.

``bench_llm_concurrency[N]`` runs the llm agent (`rollout(..., concurrency=N)`) against the
scripted researcher of `tests.chat_server` (three requests per episode, 200 ms each), in a
separate server process on 127.0.0.1. Reported: episodes/s, and for N=64 the speedup over
N=1 (measured in the same session). Target (issue 20): 64 in flight give at least 40x the
episodes/s of 1. The first questions of the default set; one round each.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from medenv.agents.rollout import AgentSpec, rollout

DELAY_S = 0.2
EPISODES = {1: 6, 8: 48, 64: 384}
_RATES: dict[int, float] = {}


@pytest.fixture(scope="module")
def model_url(bench_dir):
    from medenv.world import load_world

    # one-off costs a long run amortises, paid before timing: the world's parts (a default
    # world is lazy since f30666b: without .load() the first timed tool call loaded them),
    # the HTTP client's imports, the first Arrow batch (pyarrow's lazy imports)
    load_world(progress=False).load()
    from medenv.agents.backend_openai import _aiohttp_client

    from medenv.events.table import arrow_table

    _aiohttp_client()
    arrow_table([("r", None, 0, 0, "run_started", "{}")])
    port_file = bench_dir / "chat-server.url"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.chat_server", str(port_file), str(DELAY_S)]
    )
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the bench chat server did not start")
            time.sleep(0.05)
        yield port_file.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("concurrency", sorted(EPISODES))
def bench_llm_concurrency(benchmark, extra, bench_dir, model_url, concurrency):
    spec = AgentSpec(
        "llm", {"model": f"openai:{model_url}#scripted", "backend_options": {"max_tokens": 64}}
    )
    results = []

    def run():
        db = bench_dir / f"concurrency-{concurrency}-{len(results)}.duckdb"
        results.append(
            rollout(spec, episodes=EPISODES[concurrency], db=db, seed=0, progress=False,
                    concurrency=concurrency)
        )  # fmt: skip

    benchmark.pedantic(run, rounds=1, iterations=1)
    r = results[-1]
    assert r.ran == EPISODES[concurrency]
    _RATES[concurrency] = r.ran / r.seconds
    figures = {"episodes": r.ran, "episodes_per_s": _RATES[concurrency]}
    if concurrency > 1 and 1 in _RATES:
        figures["speedup_vs_1"] = _RATES[concurrency] / _RATES[1]
    extra(benchmark, **figures)

"""The served env (`medenv serve`) under load on the loopback.

``bench_served_sessions``: a `medenv serve` process (its own interpreter) and 32 concurrent
`RemoteEnv` sessions (client threads), each playing 4 scripted episodes of 3 steps
(`tests.serve_load`). Reported: steps/s over all sessions, p50 and p95 step latency (ms,
as a client sees it: HTTP + env step + event logging), episodes recorded.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from medenv.serve_client import RemoteEnv  # noqa: E402
from tests.serve_load import free_port, run_load  # noqa: E402

SESSIONS, EPISODES = 32, 4


@pytest.fixture(scope="module")
def server(bench_dir):
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set

    ids = [it.id for it in read_qa_set(default_qa_set(progress=False)) if it.split == "test"]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "medenv.cli", "serve", "--port", str(port), "--db",
         str(bench_dir / "served.duckdb"), "--max-sessions", str(SESSIONS)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            RemoteEnv(url, timeout=2).health()
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("medenv serve did not start") from None
            time.sleep(0.2)
    try:
        yield url, ids
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def bench_served_sessions(benchmark, extra, server):
    url, ids = server
    runs = []
    benchmark.pedantic(lambda: runs.append(run_load(url, SESSIONS, EPISODES, ids)),
                       rounds=1, iterations=1)  # fmt: skip
    clients = runs[-1]
    latencies = sorted(x for c in clients for x in c["latencies"])
    seconds = benchmark.stats.stats.median
    episodes = sum(len(c["episodes"]) for c in clients)
    assert episodes == SESSIONS * EPISODES
    extra(
        benchmark,
        sessions=SESSIONS,
        episodes=episodes,
        steps_per_s=len(latencies) / seconds,
        p50_step_ms=1000 * statistics.median(latencies),
        p95_step_ms=1000 * latencies[int(0.95 * (len(latencies) - 1))],
    )

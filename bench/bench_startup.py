"""Start-up and memory (issue 19).

- ``bench_fresh_make_reset[db]``: a fresh process's ``import gymnasium, medenv`` +
  ``gym.make`` + ``reset`` with the default question set, without an event store
  (``db=None``) and with one (a new store file). Reported: wall seconds, CPU seconds (user +
  sys: less sensitive to a loaded machine than wall time), PSS and peak RSS. The default
  world is lazy (`medenv.world_memo`): its header must have been stored by an earlier load,
  which the bench does once first. Target: under 1 s and 400 MB.
- ``bench_async_vector_8_pss[preload]``: 8 ``AsyncVectorEnv`` workers (fork) after a reset
  and 3 ``medical_search`` steps each (so every worker's world is in use), summed PSS of the
  workers and the parent; ``preload``: the parent loads the world before forking
  (``load_world().load()``), so the workers share its pages; ``none``: each worker loads
  its own on its first tool call. Target: under 1.5 GB summed PSS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FRESH = textwrap.dedent(
    """
    import json, resource, sys, time
    start = time.perf_counter()
    import gymnasium as gym
    import medenv
    db = None if sys.argv[1] == "none" else sys.argv[1]
    env = gym.make("MedResearch-v0", db=db)
    env.reset(seed=0)
    seconds = time.perf_counter() - start
    pss = next(int(l.split()[1]) for l in open("/proc/self/smaps_rollup") if l.startswith("Pss:"))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    env.close()
    print(json.dumps({"seconds": seconds, "cpu_s": ru.ru_utime + ru.ru_stime,
                      "pss_mb": pss / 1024, "peak_rss_mb": ru.ru_maxrss / 1024}))
    """
)

VECTOR = textwrap.dedent(
    """
    import json, sys
    import gymnasium as gym
    import medenv
    if sys.argv[1] == "preload":
        from medenv.world import load_world
        load_world(progress=False).load()
    envs = gym.make_vec("MedResearch-v0", num_envs=8, vectorization_mode="async",
                        vector_kwargs={"context": "fork"}, db=None)
    obs, _ = envs.reset(seed=0)
    def pss(pid):
        path = f"/proc/{pid}/smaps_rollup"
        return next(int(l.split()[1]) for l in open(path) if l.startswith("Pss:")) / 1024
    workers = [p.pid for p in envs.processes]
    after_reset = sum(pss(p) for p in workers) + pss("self")
    word = [o.split("Question:")[-1].split()[0] for o in obs]
    call = '{"name": "medical_search", "arguments": {"query": "%s"}}'
    for _ in range(3):
        envs.step(tuple(call % w for w in word))
    total = sum(pss(p) for p in workers) + pss("self")
    envs.close()
    print(json.dumps({"workers": len(workers), "after_reset_mb": after_reset,
                      "summed_pss_mb": total}))
    """
)


def _run(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def header_stored():
    """Load the default world once, which stores its header (`medenv.world_memo`)."""
    from medenv.world import load_world

    load_world(progress=False)


@pytest.mark.parametrize("db", ["none", "store"])
def bench_fresh_make_reset(benchmark, extra, bench_dir, header_stored, db):
    runs: list[dict] = []

    def run():
        store = "none" if db == "none" else str(bench_dir / f"startup-{len(runs)}.duckdb")
        runs.append(_run(FRESH, store))

    benchmark.pedantic(run, rounds=5, iterations=1)
    best = min(runs, key=lambda r: r["seconds"])
    extra(benchmark, seconds=best["seconds"], cpu_s=best["cpu_s"], pss_mb=best["pss_mb"],
          peak_rss_mb=best["peak_rss_mb"], load_avg=os.getloadavg()[0])  # fmt: skip


@pytest.mark.parametrize("mode", ["preload", "none"])
def bench_async_vector_8_pss(benchmark, extra, header_stored, mode):
    runs: list[dict] = []
    benchmark.pedantic(lambda: runs.append(_run(VECTOR, mode)), rounds=1, iterations=1)
    extra(benchmark, workers=runs[0]["workers"], after_reset_mb=runs[0]["after_reset_mb"],
          summed_pss_mb=runs[0]["summed_pss_mb"], load_avg=os.getloadavg()[0])  # fmt: skip

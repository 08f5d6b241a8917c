"""Start-up and memory (issue 19): a fresh process's ``gym.make`` + ``reset`` with the
default question set (seconds, peak RSS and PSS), and 8 `AsyncVectorEnv` workers after a
reset (summed PSS of the workers and the parent). Targets: under 1 s and 400 MB; 8 workers
under 1.5 GB summed PSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FRESH = textwrap.dedent(
    """
    import json, resource, time
    start = time.perf_counter()
    import gymnasium as gym
    import medenv
    env = gym.make("MedResearch-v0", db=None)
    env.reset(seed=0)
    seconds = time.perf_counter() - start
    pss = next(int(l.split()[1]) for l in open("/proc/self/smaps_rollup") if l.startswith("Pss:"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "pss_mb": pss / 1024, "peak_rss_mb": peak / 1024}))
    """
)

VECTOR = textwrap.dedent(
    """
    import json
    import gymnasium as gym
    import medenv
    envs = gym.make_vec("MedResearch-v0", num_envs=8, vectorization_mode="async",
                        vector_kwargs={"context": "fork"}, db=None)
    envs.reset(seed=0)
    def pss(pid):
        path = f"/proc/{pid}/smaps_rollup"
        return next(int(l.split()[1]) for l in open(path) if l.startswith("Pss:")) / 1024
    workers = [p.pid for p in envs.processes]
    total = sum(pss(p) for p in workers) + pss("self")
    envs.close()
    print(json.dumps({"workers": len(workers), "summed_pss_mb": total}))
    """
)


def _run(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def bench_fresh_make_reset(benchmark, extra):
    runs: list[dict] = []
    benchmark.pedantic(lambda: runs.append(_run(FRESH)), rounds=3, iterations=1)
    best = min(runs, key=lambda r: r["seconds"])
    extra(benchmark, seconds=best["seconds"], pss_mb=best["pss_mb"],
          peak_rss_mb=best["peak_rss_mb"], load_avg=os.getloadavg()[0])  # fmt: skip


def bench_async_vector_8_pss(benchmark, extra):
    runs: list[dict] = []
    benchmark.pedantic(lambda: runs.append(_run(VECTOR)), rounds=1, iterations=1)
    extra(benchmark, workers=runs[0]["workers"], summed_pss_mb=runs[0]["summed_pss_mb"])

"""Two checkouts side by side on issue 19's one-pass workload: step latency tail and speed.

    python -m bench.tree_side_by_side [--baseline /work/main] [--rounds 3] [--passes 2]

Each run is a fresh process with one checkout on ``PYTHONPATH`` (``MEDENV_HOME`` as set):
an env with logging off (``db=None``) or on (a new store, ``durability="step"``, the
default ingest), ``reset(seed=0)``, then ``--passes`` replays of the grounded oracle's
recorded actions over the whole default set, each question once (`bench.oracle_trace`;
the tool result cache emptied before each pass). Pass 0 is cold (the page analyses and
caches of a fresh process fill during it), later passes warm. Runs alternate baseline /
this tree, logging off / on, for ``--rounds`` rounds, so the box's load falls on each
alike. Printed per (tree, logging, pass): the medians over rounds of steps/s (wall, resets
included), the stepping thread's CPU per step, and p99 / p99.9 of each step's wall time and
of its thread CPU time, with the load average at the start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
import gymnasium as gym
import medenv  # noqa: F401
from bench.oracle_trace import oracle_actions
from medenv.tools.cache import clear_cache

logging, passes = sys.argv[1] == "on", int(sys.argv[2])
trace = oracle_actions()
folder = Path(tempfile.mkdtemp(prefix="medenv-tsbs-"))
env = gym.make("MedResearch-v0", db=folder / "on.duckdb" if logging else None,
               durability="step")
env.reset(seed=0)
out = []
for _ in range(passes):
    clear_cache(env.unwrapped.world)
    wall, cpu = [], []
    start = time.perf_counter()
    for question_id, actions in trace:
        env.reset(seed=0, options={"question_id": question_id})
        for action in actions:
            t, c = time.perf_counter_ns(), time.thread_time_ns()
            env.step(action)
            wall.append(time.perf_counter_ns() - t)
            cpu.append(time.thread_time_ns() - c)
    out.append({"s": time.perf_counter() - start, "wall": wall, "cpu": cpu})
env.close()
print(json.dumps(out))
"""


def _q(xs: list[int], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))] / 1e6


def run(tree: Path, logging: str, passes: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(CHILD)
    try:
        done = subprocess.run(
            [sys.executable, f.name, logging, str(passes)], env=env, cwd=tree,
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        os.unlink(f.name)
    rows = []
    for p in json.loads(done.stdout.strip().splitlines()[-1]):
        n = len(p["cpu"])
        rows.append({
            "steps_per_s": n / p["s"], "cpu_us": sum(p["cpu"]) / n / 1e3,
            "p99_wall_ms": _q(p["wall"], 0.99), "p999_wall_ms": _q(p["wall"], 0.999),
            "p99_cpu_ms": _q(p["cpu"], 0.99), "p999_cpu_ms": _q(p["cpu"], 0.999),
            "max_cpu_ms": max(p["cpu"]) / 1e6,
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    trees = {"baseline": args.baseline, "this tree": Path(__file__).resolve().parents[1]}
    load0 = os.getloadavg()
    results: dict = {}
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(trees)[::-1]
        for logging in ("off", "on"):
            for name in order:
                t = time.time()
                rows = run(trees[name], logging, args.passes)
                for k, row in enumerate(rows):
                    results.setdefault((name, logging, k), []).append(row)
                print(f"round {r} {name} {logging}: {time.time() - t:.0f} s, "
                      f"load {os.getloadavg()[0]:.1f}, "
                      + "; ".join(f"p{k} p99.9 cpu {w['p999_cpu_ms']:.2f} wall "
                                  f"{w['p999_wall_ms']:.2f}" for k, w in enumerate(rows)),
                      flush=True)  # fmt: skip
    load1 = os.getloadavg()
    print(
        f"load average at start {load0[0]:.1f} / {load0[1]:.1f} (1/5 min), at end "
        f"{load1[0]:.1f} / {load1[1]:.1f}; medians over {args.rounds} rounds"
    )
    keys = ("steps_per_s", "cpu_us", "p99_cpu_ms", "p999_cpu_ms", "p99_wall_ms",
            "p999_wall_ms", "max_cpu_ms")  # fmt: skip
    print("tree       logging pass " + " ".join(f"{k:>12s}" for k in keys))
    table = {}
    for (name, logging, k), rows in sorted(
        results.items(), key=lambda x: (x[0][1], x[0][2], x[0][0])
    ):
        med = {key: statistics.median(r[key] for r in rows) for key in keys}
        table[f"{name}|{logging}|{k}"] = med
        print(f"{name:10s} {logging:7s} {k:4d} " + " ".join(f"{med[x]:12.3f}" for x in keys))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "load": [load0, load1],
                    "table": table,
                    "runs": {"|".join(map(str, k)): v for k, v in results.items()},
                }
            )
        )


if __name__ == "__main__":
    main()

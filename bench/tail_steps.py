"""The slowest steps of issue 19's one-pass workload, with what each step did.

    python -m bench.tail_steps [--reps 2] [--top 30] [--json OUT]

Replays the grounded oracle's recorded actions over the whole default set (each question
once, logging off, the tool result cache emptied before each pass: `bench.step_digest`'s
``onepass``) ``--reps`` times, recording each step's wall time and the stepping thread's
CPU time (`time.thread_time_ns`). Lists the ``--top`` steps by their smallest CPU time over
the passes (a step slow in every pass is the tool's work, not the box's load), each with
its tool, arguments (query / url / goal), the browsed page's length and the observation's
length, and prints p50 / p99 / p99.9 of CPU and wall per pass.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym

import medenv  # noqa: F401  (registers MedResearch-v0)
from bench.oracle_trace import oracle_actions
from medenv.tools.cache import clear_cache
from medenv.tools.parsing import parse_action


def one_pass(env, trace) -> tuple[list[int], list[int], list[int]]:
    """Per step, in order: thread CPU ns, wall ns, observation length."""
    clear_cache(env.unwrapped.world)
    cpu, wall, size = [], [], []
    for question_id, actions in trace:
        env.reset(seed=0, options={"question_id": question_id})
        for action in actions:
            c, w = time.thread_time_ns(), time.perf_counter_ns()
            obs = env.step(action)[0]
            wall.append(time.perf_counter_ns() - w)
            cpu.append(time.thread_time_ns() - c)
            size.append(len(obs) if isinstance(obs, str) else -1)
    return cpu, wall, size


def describe(world, action) -> dict:
    """The step's tool and arguments (and a browsed page's length)."""
    parsed = parse_action(action)
    if parsed.error is not None or not parsed.calls:
        return {"tool": f"error:{parsed.error.kind if parsed.error else '?'}"}
    call = parsed.calls[0]
    out = {"tool": call.name, **{k: v for k, v in call.arguments.items()}}
    if call.name == "browse":
        doc = world.corpus.get(str(call.arguments.get("url", "")).strip())
        if doc is not None:
            out["page_chars"] = len(doc.text)
    return out


def pct(xs: list[int], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    trace = oracle_actions()
    flat = [a for _q, acts in trace for a in acts]
    env = gym.make("MedResearch-v0", db=None)
    env.reset(seed=0)
    runs = []
    for rep in range(args.reps):
        cpu, wall, size = one_pass(env, trace)
        runs.append((cpu, wall))
        print(
            f"pass {rep}: {len(cpu)} steps; cpu ms p50 {pct(cpu, 0.5):.3f} p99 {pct(cpu, 0.99):.3f} "
            f"p99.9 {pct(cpu, 0.999):.3f}; wall ms p50 {pct(wall, 0.5):.3f} "
            f"p99 {pct(wall, 0.99):.3f} p99.9 {pct(wall, 0.999):.3f}",
            flush=True,
        )
    best = [min(r[0][i] for r in runs) for i in range(len(flat))]
    order = sorted(range(len(flat)), key=lambda i: -best[i])[: args.top]
    world = env.unwrapped.world
    rows = []
    for i in order:
        row = {
            "step": i,
            "cpu_ms": [round(r[0][i] / 1e6, 3) for r in runs],
            "wall_ms": [round(r[1][i] / 1e6, 3) for r in runs],
            "obs_chars": size[i],
            **describe(world, flat[i]),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    env.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "cpu": [r[0] for r in runs], "wall": [r[1] for r in runs]}, f)


if __name__ == "__main__":
    main()

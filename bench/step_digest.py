"""The step path with logging off, on issue 19's two oracle workloads: CPU per step and a
digest of everything the env returned, to compare two trees side by side.

    python -m bench.step_digest [--reps 2] [--json OUT]

Workloads (as `bench.bench_env`): ``onepass`` replays the grounded oracle's recorded
actions over the whole default set, each question once (~10k steps); ``grpo8`` the first
250 questions, each 8 times in a row as a GRPO group (the tool result cache emptied
before each pass). Reported per workload: ``cpu_us`` (the process's CPU microseconds per
step, resets included, best of ``--reps`` passes: what a loaded box stretches least),
``steps_per_s`` (wall, that pass) and ``digest`` (SHA-256 over every ``reset`` and
``step`` return value in order, ``info``'s generated ``run_id`` left out). Two trees give
the same digests exactly when their observations, rewards, flags and info agree; run it
under each tree's ``PYTHONPATH``, alternating, to compare speed on a shared box.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import gymnasium as gym

import medenv  # noqa: F401  (registers MedResearch-v0)
from bench.oracle_trace import oracle_actions
from medenv.tools.cache import clear_cache


def replay(env, trace, group: int) -> tuple[list, int, float, float]:
    """Every return value of one pass, its steps, CPU seconds and wall seconds."""
    clear_cache(env.unwrapped.world)
    outs: list = []
    cpu, wall, steps = time.process_time(), time.perf_counter(), 0
    for question_id, actions in trace:
        for _ in range(group):
            outs.append(env.reset(seed=0, options={"question_id": question_id}))
            for action in actions:
                outs.append(env.step(action))
            steps += len(actions)
    return outs, steps, time.process_time() - cpu, time.perf_counter() - wall


def digest(outs: list) -> str:
    h = hashlib.sha256()
    for out in outs:
        info = {k: v for k, v in out[-1].items() if k != "run_id"}
        h.update(repr((*out[:-1], info)).encode())
    return h.hexdigest()


def measure(reps: int = 2) -> dict:
    trace = oracle_actions()
    env = gym.make("MedResearch-v0", db=None)
    env.reset(seed=0)
    figures = {}
    for name, part, group in (("onepass", trace, 1), ("grpo8", trace[:250], 8)):
        best, digests = None, set()
        for _ in range(reps):
            outs, steps, cpu_s, wall_s = replay(env, part, group)
            digests.add(digest(outs))
            if best is None or cpu_s < best[1]:
                best = (steps, cpu_s, wall_s)
        steps, cpu_s, wall_s = best
        figures[name] = {
            "steps": steps,
            "cpu_us": round(1e6 * cpu_s / steps, 1),
            "steps_per_s": round(steps / wall_s),
            "digest": digests.pop() if len(digests) == 1 else f"differs between passes: {digests}",
        }
    env.close()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    figures = measure(args.reps)
    for name, row in figures.items():
        print(f"medenv figures {name}: {json.dumps(row)}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()

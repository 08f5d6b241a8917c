"""Logging off, a baseline event store and this tree's, side by side in one process (issue 19).

    python -m bench.logging_side_by_side grpo8|onepass [--baseline /path/to/checkout] [--passes 2]

Replays the grounded oracle's recorded actions (`bench.oracle_trace`) through three envs
in turn, pass by pass (interleaved, so the box's load hits each alike): logging off,
logging through a baseline checkout's ``medenv/events/store.py`` (loaded by path on top of
this tree's other modules, with the baseline's ``encode.py`` and ``seal_summary.py``;
default ``/work/main``, the main checkout, which until this round is merged holds the store
the round started from), and this tree's `EventStore`;
durability ``"step"``; ``--thread`` adds this tree's store with ``ingest="thread"``.
Prints, per env: best-pass steps/s and its ratio to logging off, the stepping thread's CPU
per step over its best pass, resets and the bench loop included (``pass_cpu_us``), and its
ratio to logging off (``cpu_ratio``: what the box's other jobs stretch least), the stepping
thread's CPU inside ``step`` alone (``thread_cpu_us``, mean), the process's CPU per step (an ingest thread included), its ingest process's
(``child_cpu_us``; this tree's default on Linux), and step latency percentiles (wall and
thread CPU), with the load average. The envs take turns at going first (pass ``k`` starts
with env ``k``): the env after a logging one runs while that one's ingest process may
still be inserting, so a fixed order would charge that to the same env every pass.
``grpo8``: the first 250 questions, 8 rollouts each (tool result cache on); ``onepass``:
every question of the default set once.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym

import medenv  # noqa: F401
from bench.bench_env import _child_cpu_s, _replay
from bench.oracle_trace import oracle_actions
from medenv.events.store import EventStore

# modules the baseline's store is loaded with from the baseline checkout too (their
# interfaces changed when the sealing left the step path: `medenv.events.sealer`)
_BASELINE_MODULES = ("encode", "seal_summary")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _baseline_store(checkout: Path):
    """The baseline checkout's ``EventStore``, with its own `_BASELINE_MODULES` in place
    of this tree's while it loads (this tree's ingest process keeps the sealed lines it
    spools as they are)."""
    events = checkout / "medenv" / "events"
    saved = {name: sys.modules.get(f"medenv.events.{name}") for name in _BASELINE_MODULES}
    try:
        for name in _BASELINE_MODULES:
            if (events / f"{name}.py").exists():
                sys.modules[f"medenv.events.{name}"] = _load(
                    f"baseline_{name}", events / f"{name}.py"
                )
        return _load("baseline_store", events / "store.py").EventStore
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(f"medenv.events.{name}", None)
            else:
                sys.modules[f"medenv.events.{name}"] = module


def _q(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=("grpo8", "onepass"))
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"))
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--thread", action="store_true", help="add ingest='thread'")
    args = parser.parse_args()
    trace = oracle_actions()
    trace, group = (trace, 1) if args.workload == "onepass" else (trace[:250], 8)
    folder = Path(tempfile.mkdtemp(prefix="medenv-sbs-"))
    stores = {"baseline": _baseline_store(args.baseline), "this tree": EventStore}
    envs = {"off": gym.make("MedResearch-v0", db=None)}
    for name, cls in stores.items():
        store = cls(folder / f"{name.replace(' ', '-')}.duckdb", durability="step")
        envs[name] = gym.make("MedResearch-v0", db=store, disable_env_checker=True)
    if args.thread:
        store = EventStore(folder / "thread.duckdb", durability="step", ingest="thread")
        envs["thread"] = gym.make("MedResearch-v0", db=store, disable_env_checker=True)
    for env in envs.values():
        env.reset(seed=0)
    rates, lat, cpu, proc, child, pass_cpu = ({k: [] for k in envs} for _ in range(6))
    order = list(envs)
    for k in range(args.passes):
        for name in order[k % len(order) :] + order[: k % len(order)]:  # each place in turn
            env = envs[name]
            start, child_start = time.process_time(), _child_cpu_s(env)
            thread_start, before = time.thread_time(), len(lat[name])
            rates[name].append(_replay(env, trace, lat[name], cpu[name], group))
            pass_cpu[name].append((time.thread_time() - thread_start) / (len(lat[name]) - before))
            proc[name].append(time.process_time() - start)
            child[name].append(_child_cpu_s(env) - child_start)
    load = os.getloadavg()
    for env in envs.values():
        env.close()
    steps = len(lat["off"])
    print(
        f"workload {args.workload}: {steps // args.passes} steps per pass, {args.passes} "
        f"passes per env, interleaved; load average {load[0]:.1f} (5 min {load[1]:.1f})"
    )
    print("env        steps/s  ratio  pass_cpu_us  cpu_ratio  thread_cpu_us  process_cpu_us  "
          "child_cpu_us  p50_ms  p99_ms  p999_ms  p999_cpu_ms")  # fmt: skip
    for name in envs:
        best, best_cpu = max(rates[name]), min(pass_cpu[name])
        print(
            f"{name:10s} {best:7.0f} {best / max(rates['off']):6.3f} "
            f"{1e6 * best_cpu:12.1f} {min(pass_cpu['off']) / best_cpu:10.3f} "
            f"{1e6 * sum(cpu[name]) / steps:14.1f} {1e6 * sum(proc[name]) / steps:15.1f} "
            f"{1e6 * sum(child[name]) / steps:13.1f} "
            f"{1e3 * _q(lat[name], 0.5):7.3f} {1e3 * _q(lat[name], 0.99):7.3f} "
            f"{1e3 * _q(lat[name], 0.999):8.3f} {1e3 * _q(cpu[name], 0.999):12.3f}"
        )


if __name__ == "__main__":
    main()

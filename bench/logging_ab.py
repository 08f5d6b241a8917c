"""What logging costs an env step, group by group, and with every core busy (issue 19).

    python -m bench.logging_ab [--questions 250] [--passes 2] [--baseline CHECKOUT]
    python -m bench.logging_ab --full-load [--questions 250]

One env replays the grounded oracle's recorded actions (`bench.oracle_trace`) as GRPO groups:
each question's 8 rollouts in a row, the tool result cache cleared before each group. Every
group runs once under each recorder in turn, the order rotating from group to group, so the
host's drift falls on all of them alike (`bench.logging_side_by_side` interleaves whole passes,
which a minute of drift skews). The stepping thread's CPU, resets included, is summed per
recorder, after a warm-up pass. Recorders:

- ``off``: logging off;
- ``records``: a recorder that keeps nothing: what the env spends building the step records
  and the episode events;
- ``store``: the default `EventStore` (``durability="step"``, its ingest process);
- ``store_no_ingest``: an `EventStore` that hands nothing to an ingest until it is closed: the
  stepping side alone, without the ingest process's share of the machine;
- ``baseline`` (``--baseline``): that checkout's ``medenv/events/store.py`` (loaded as in
  `bench.logging_side_by_side`).

Prints each recorder's CPU microseconds a step, its cost over ``off`` and ``off``'s CPU over
its own (the logging ratio the stepping thread alone allows), and the store's ingest process's
CPU a step.

``--full-load``: two stepping processes at once, one per core (the scale-out case: a vector
env's workers on every core), each replaying half of the questions' groups three times, first with logging
off, then on (each its own store file and ingest process), twice: the aggregate steps/s and
their ratio. There the ingest processes' CPU competes with the steppers'.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import gymnasium as gym

import medenv  # noqa: F401
from bench.bench_env import _child_cpu_s, _replay
from bench.logging_side_by_side import _baseline_store
from bench.oracle_trace import oracle_actions
from medenv.events.store import EventStore
from medenv.tools.cache import clear_cache

GROUP = 8  # rollouts of one question in a row (a GRPO group)


class KeepNothing:
    """A recorder that takes every call and keeps nothing (the env still builds what it
    hands over)."""

    shard = 0

    def emit(self, payload, episode_id=None) -> int:
        return 0

    def emit_step(self, step, episode_id) -> int:
        return 0

    def commit(self) -> None:
        pass

    def end_episode(self, episode_id=None) -> None:
        pass

    def discard(self) -> None:
        pass

    def close(self) -> None:
        pass


def _group(env, question_id: str, actions: list[str]) -> int:
    for _ in range(GROUP):
        env.reset(seed=0, options={"question_id": question_id})
        for action in actions:
            env.step(action)
    return GROUP * len(actions)


def group_by_group(questions: int, passes: int, baseline: Path | None) -> None:
    trace = oracle_actions()[:questions]
    folder = Path(tempfile.mkdtemp(prefix="medenv-ab-"))
    recorders = {
        "off": None,
        "records": KeepNothing(),
        "store": EventStore(folder / "store.duckdb", durability="step"),
        "store_no_ingest": EventStore(
            folder / "no-ingest.duckdb", durability="step", batch_events=10**12
        ),
    }
    if baseline is not None:
        recorders["baseline"] = _baseline_store(baseline)(
            folder / "baseline.duckdb", durability="step"
        )
    env = gym.make("MedResearch-v0", db=None, disable_env_checker=True)
    unwrapped = env.unwrapped
    env.reset(seed=0)
    for question_id, actions in trace:  # warm-up: lazy loads, the corpus's caches
        _group(env, question_id, actions)
    names = list(recorders)
    cpu_ns, steps = dict.fromkeys(names, 0), dict.fromkeys(names, 0)
    turn = 0
    for _ in range(passes):
        for question_id, actions in trace:
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                unwrapped.store = recorders[name]
                clear_cache(unwrapped.world)
                start = time.thread_time_ns()
                steps[name] += _group(env, question_id, actions)
                cpu_ns[name] += time.thread_time_ns() - start
            turn += 1
    unwrapped.store = recorders["store"]
    child_s = _child_cpu_s(env)  # (its ingest process starts at its first hand-off)
    unwrapped.store = None
    env.close()
    for recorder in recorders.values():
        if recorder is not None:
            recorder.close()
    off = cpu_ns["off"] / steps["off"] / 1000
    load = os.getloadavg()
    print(
        f"{len(trace)} questions x {GROUP} rollouts, {passes} passes, group by group; "
        f"{steps['off'] // passes} steps a pass per recorder; load {load[0]:.1f}"
    )
    print("recorder          cpu_us_per_step  cost_us  ratio_allowed")
    for name in names:
        us = cpu_ns[name] / steps[name] / 1000
        print(f"{name:17s} {us:15.2f} {us - off:8.2f} {off / us:14.3f}")
    print(f"store's ingest process: {1e6 * child_s / steps['store']:.1f} us of CPU a step")


def _full_load_worker(args: tuple) -> tuple[int, float]:
    logging, part, questions, folder = args
    trace = oracle_actions()[:questions][part::2]
    db = EventStore(Path(folder) / f"w{part}.duckdb", durability="step") if logging else None
    env = gym.make("MedResearch-v0", db=db, disable_env_checker=True)
    env.reset(seed=0)
    _replay(env, trace, [], None, GROUP)  # warm-up
    latencies: list[float] = []
    start = time.perf_counter()
    for _ in range(3):
        _replay(env, trace, latencies, None, GROUP)
    elapsed = time.perf_counter() - start
    env.close()  # (what is left to ingest is not timed: the ingest process ran all along)
    return len(latencies), elapsed


def full_load(questions: int) -> None:
    folder = tempfile.mkdtemp(prefix="medenv-load-")
    context = get_context("fork")
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(2):
        for name in ("off", "on"):
            with context.Pool(2) as pool:
                done = pool.map(
                    _full_load_worker,
                    [(name == "on", part, questions, folder) for part in (0, 1)],
                )
            rates[name].append(sum(n / s for n, s in done))
    off, on = max(rates["off"]), max(rates["on"])
    print(
        f"two stepping processes on {os.cpu_count()} cores, {questions} questions x {GROUP} "
        f"rollouts split between them; load {os.getloadavg()[0]:.1f}"
    )
    print(f"aggregate steps/s: off {off:,.0f}, logging on {on:,.0f} (ratio {on / off:.3f})")
    print(f"runs: off {[round(r) for r in rates['off']]}, on {[round(r) for r in rates['on']]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=250)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--baseline", type=Path, default=None)
    parser.add_argument("--full-load", action="store_true")
    args = parser.parse_args()
    if args.full_load:
        full_load(args.questions)
    else:
        group_by_group(args.questions, args.passes, args.baseline)


if __name__ == "__main__":
    main()

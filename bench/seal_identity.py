"""Two checkouts' event stores, row by row, on the same oracle episodes (issue 19's check
that moving the seal off the step path changed no stored byte).

    python -m bench.seal_identity [--baseline /work/main] [--questions 40] [--group 3]

Each (checkout, durability/ingest mode) is a fresh process with that checkout on
``PYTHONPATH``: an env logging to a new store (``run_id`` fixed) replays the grounded
oracle's recorded actions (`bench.oracle_trace`) on the first ``--questions`` questions,
``--group`` rollouts each, with the clocks made deterministic (``time.time_ns``,
``time.time`` and ``time.perf_counter`` count up by fixed steps, so timestamps and tool
latencies repeat exactly), then dumps every row of the store (every column; payload as
stored). Modes: ``step``/process, ``episode``/process with small batches (episodes
straddle segments), ``sync``/process, ``step``/thread, ``none``/thread. Prints, per mode,
the rows compared and the first difference; exits 1 when any mode differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import itertools, sys, time
from pathlib import Path
ns = itertools.count(1_764_000_000_000_000_000, 1_000_003)
time.time_ns = lambda: next(ns)
time.time = lambda: next(ns) / 1e9
pc = itertools.count(0)
time.perf_counter = lambda: next(pc) * 0.000_25
import gymnasium as gym
import msgspec
import medenv  # noqa: F401
from bench.oracle_trace import oracle_actions
from medenv.events.store import EventStore, connect

out, durability, ingest, batch, questions, group = sys.argv[1:7]
path = Path(out).with_suffix(".duckdb")
store = EventStore(path, run_id="seal-identity", durability=durability, ingest=ingest,
                   batch_events=int(batch))
env = gym.make("MedResearch-v0", db=path, run_id="seal-identity")
env.unwrapped.store = store  # this mode's store (the env opens one with its defaults)
for question_id, actions in oracle_actions()[: int(questions)]:
    for _ in range(int(group)):
        env.reset(seed=0, options={"question_id": question_id})
        for action in actions:
            env.step(action)
env.close()
store.close()
con = connect(path)
rows = con.execute(
    "SELECT run_id, episode_id, seq, epoch_us(ts), type, CAST(payload AS VARCHAR) FROM events "
    "ORDER BY run_id, episode_id NULLS FIRST, seq"
).fetchall()
con.close()
Path(out).write_bytes(msgspec.json.encode(rows))
"""

MODES = [("step", "process", 4096), ("episode", "process", 50), ("sync", "process", 300),
         ("step", "thread", 500), ("none", "thread", 4096)]  # fmt: skip


def _dump(tree: Path, out: Path, mode: tuple, questions: int, group: int) -> list:
    import msgspec

    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [str(out), mode[0], mode[1], str(mode[2]), str(questions), str(group)]
    subprocess.run([sys.executable, "-c", CHILD, *args], env=env, cwd=tree, check=True)
    return msgspec.json.decode(out.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"))
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--group", type=int, default=3)
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    differs = False
    with tempfile.TemporaryDirectory(prefix="medenv-seal-identity-") as folder:
        for n, mode in enumerate(MODES):
            a = _dump(args.baseline, Path(folder) / f"base{n}.json", mode, args.questions,
                      args.group)  # fmt: skip
            b = _dump(here, Path(folder) / f"tree{n}.json", mode, args.questions, args.group)
            first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            same = first is None and len(a) == len(b)
            differs |= not same
            print(f"{mode[0]}/{mode[1]} batch {mode[2]}: {len(a)} vs {len(b)} rows, "
                  f"{'identical' if same else f'first difference at row {first}'}")  # fmt: skip
            if first is not None:
                print("  baseline:", a[first], "\n  this tree:", b[first])
    sys.exit(1 if differs else 0)


if __name__ == "__main__":
    main()

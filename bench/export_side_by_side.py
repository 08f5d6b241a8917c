"""Two checkouts side by side on `medenv export`: what flushing outputs to disk costs.

    python -m bench.export_side_by_side --baseline DIR [--rounds 5] [--db STORE]

Each run is a fresh process with one checkout on ``PYTHONPATH`` (``MEDENV_HOME`` as set):
``medenv export --format all`` of one store into a fresh ``--out`` folder (SFT JSONL and
dataset, RL prompts, BrowseComp run files, Minari). Without ``--db``, the store is built
once: the oracle over the default set, 300 questions x 3 samples (900 episodes; the export
keeps about 300). Runs alternate baseline / this tree (the order flips each round), so the
box's load falls on each alike. Printed: each run's wall time, files written and load
average, then the medians per tree and the load at the start and end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = (
    "import contextlib, io, sys\n"
    "from medenv.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    sys.exit(main(sys.argv[1:]))\n"
)


def _store(folder: Path) -> Path:
    from medenv.agents.rollout import rollout

    db = folder / "oracle.duckdb"
    rollout("oracle", episodes=300, k=3, db=db, seed=0, progress=False)
    return db


def run(tree: Path, db: Path, scratch: Path) -> tuple[float, int]:
    """Seconds of one export by ``tree``'s code, and the number of files it wrote."""
    out = Path(tempfile.mkdtemp(prefix="export-", dir=scratch))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = ["export", "--db", str(db), "--out", str(out), "--format", "all"]
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", CHILD, *argv], env=env, cwd=tree, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    files = sum(len(names) for _, _, names in os.walk(out))
    shutil.rmtree(out)
    return seconds, files


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args(argv)
    trees = {"baseline": args.baseline, "this tree": Path(__file__).resolve().parents[1]}
    with tempfile.TemporaryDirectory(prefix="medenv-export-sbs-") as scratch:
        db = args.db or _store(Path(scratch))
        load0 = os.getloadavg()
        times: dict[str, list[float]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for name in list(trees) if r % 2 == 0 else list(trees)[::-1]:
                seconds, files = run(trees[name], db, Path(scratch))
                times[name].append(seconds)
                print(f"round {r} {name}: {seconds:.2f} s, {files} files, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        load1 = os.getloadavg()
    print(f"load average at start {load0[0]:.1f}, at end {load1[0]:.1f}")
    for name, values in times.items():
        print(f"{name:10s} median {statistics.median(values):.2f} s over {len(values)} runs")


if __name__ == "__main__":
    main()

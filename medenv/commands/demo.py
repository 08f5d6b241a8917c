"""``medenv demo``: the whole pipeline end to end on the built-in HPO graph.

Steps (each one is the `medenv` command of the same name, so the demo is also a tour of
the CLI): KG statistics, corpus + search indexes, synthesis of a small question set,
MTG (oracle) and heuristic rollouts into DuckDB, replay-verification of every oracle episode,
SFT export, a few tiny-model SFT steps, and the evaluation table. Everything it writes
goes under ``--out``; the built KG, corpus and indexes are cached under ``$MEDENV_HOME``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from medenv.cli import main
from medenv.errors import MedenvError, check_seed
from medenv.evaluation.report import check_report_folder
from medenv.paths import check_out_dir
from medenv.synth.io import check_set_folder

# Short rows (tool outputs cut, no duplicated tool block, no system turn) and a high
# learning rate, so a few CPU steps visibly lower the tiny model's held-out loss. The
# trainer's progress bar stays on: every demo step shows progress.
SFT_FLAGS = ("--lr", "5e-3", "--batch-size", "2", "--max-length", "1024",
             "--max-tool-chars", "150", "--no-template-tools", "--no-system")  # fmt: skip


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline end to end on the built-in HPO graph",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--n", type=int, default=200, help="questions to synthesize (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sft-steps", type=int, default=40, help="tiny-model SFT steps (default 40)")
    p.add_argument("--skip-train", action="store_true", help="stop after the SFT export")
    p.set_defaults(func=run)


def _step(title: str, argv: list[str]) -> None:
    print(f"\n=== {title}\n$ medenv {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    code = main(argv)
    if code:
        raise MedenvError(f"demo step {title!r} failed (exit code {code})")
    print(f"--- {title}: {time.perf_counter() - start:.1f}s", flush=True)


def _demo_runs_folder(runs: Path) -> bool:
    """Whether ``runs`` holds only what a demo writes there (its two stores, their shards
    and lock/spool files), so removing it loses nothing else."""
    return runs.is_dir() and all(
        f.is_file() and f.name.startswith(("oracle.", "heuristic.")) for f in runs.iterdir()
    )


# The demo's counts: a tour of the pipeline on a small set, not a production run (for more,
# run `medenv synth`, `rollout` and `train sft` themselves). Checked before any step runs:
# `--n 10**12` used to build the KG and corpus first, and fail only at synthesis.
MAX_N = 10_000
MAX_SFT_STEPS = 100_000


def check_counts(args) -> None:
    """Raise `MedenvError` (one line) unless the demo's counts are in range; no work before."""
    if not 10 <= args.n <= MAX_N:
        raise MedenvError(
            f"--n must be between 10 and {MAX_N:,} for the demo, got {args.n} (for a larger "
            "set run `medenv synth --n N` itself)"
        )
    check_seed(args.seed)
    if not 1 <= args.sft_steps <= MAX_SFT_STEPS:
        raise MedenvError(
            f"--sft-steps must be between 1 and {MAX_SFT_STEPS:,}, got {args.sft_steps} "
            "(or --skip-train)"
        )


def run(args) -> int:
    out = Path(args.out)
    check_counts(args)
    check_out_dir(out)
    # outputs of later steps that would refuse a file of yours: refused now, not at step 3/9
    check_set_folder(out / "qa")
    check_report_folder(out / "report")
    runs = out / "runs"
    if runs.exists():  # fresh episodes each time: the demo shows a whole run, not a resume
        if not _demo_runs_folder(runs):
            raise MedenvError(
                f"{runs} exists and holds files the demo did not write; the demo replaces "
                "that folder: choose another --out"
            )
        shutil.rmtree(runs)
    runs.mkdir(parents=True)
    qa, oracle, heuristic = out / "qa", runs / "oracle.duckdb", runs / "heuristic.duckdb"
    seed = str(args.seed)
    start = time.perf_counter()
    _step("1/9 knowledge graph", ["kg", "stats"])
    _step("2/9 corpus and search indexes", ["corpus", "build"])
    _step(
        "3/9 question synthesis (KISA)",
        ["synth", "--n", str(args.n), "--seed", seed, "--out", str(qa)],
    )
    _step(
        "4/9 MTG (oracle) rollouts",
        ["rollout", "--agent", "oracle", "--qa", str(qa), "--db", str(oracle), "--seed", seed],
    )
    _step(
        "5/9 heuristic baseline (no gold chain) on the same questions",
        [
            "rollout",
            "--agent",
            "heuristic",
            "--qa",
            str(qa),
            "--db",
            str(heuristic),
            "--seed",
            seed,
        ],
    )
    _step("6/9 replay-verify every oracle episode", ["replay", "--db", str(oracle), "--verify"])
    _step(
        "7/9 SFT export from the event log",
        [
            "export",
            "--db",
            str(oracle),
            "--out",
            str(out / "export"),
            "--format",
            "sft,rl,browsecomp",
        ],
    )
    if not args.skip_train:
        _step(
            "8/9 tiny-model SFT",
            [
                "train",
                "sft",
                "--data",
                str(out / "export"),
                "--model",
                "tiny",
                "--out",
                str(out / "model"),
                "--max-steps",
                str(args.sft_steps),
                *SFT_FLAGS,
            ],
        )
    _step(
        "9/9 evaluation",
        [
            "eval",
            "--db",
            str(oracle),
            "--db",
            str(heuristic),
            "--group-by",
            "agent",
            "--qa",
            str(qa),
            "--report",
            str(out / "report"),
        ],
    )
    print(f"\ndemo finished in {time.perf_counter() - start:.0f}s; everything is under {out}/")
    return 0

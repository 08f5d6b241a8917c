"""``medenv export``: datasets from the event store (SFT, RL prompts, Minari, BrowseComp-Plus).

``medenv export --db PATH --out DIR [--format sft|rl|minari|browsecomp|all]...``

Reads only the event store (and the KG its runs name, for per-row groundedness). SFT keeps
correct trajectories within budget without format errors, the shortest per question
(``--all`` keeps every episode; ``--grounded-only`` only grounded ones; ``--diverse`` every
distinct correct path). Groundedness is checked against the graph each run recorded
(`medenv.worldspec`); the KG flags (`medenv.commands.kgargs`) override it.
"""

from __future__ import annotations

import sys

from medenv.commands.kgargs import add_kg_arguments, has_kg_flags, world_spec
from medenv.errors import MedenvError
from medenv.paths import check_out_dir
from medenv.training.export import FORMATS, MINARI_MISSING, export, format_stats, minari_available


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export recorded episodes as SFT/RL/Minari/BrowseComp-Plus datasets",
        description="Export episodes from the DuckDB event store (and its worker shards).",
    )
    p.add_argument(
        "--db", required=True, help="event store file (its .shard-N.duckdb files are included)"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--format",
        action="append",
        default=None,
        help="sft (default), rl, minari, browsecomp, or all; repeat or comma-separate",
    )
    p.add_argument("--all", action="store_true", help="no rejection sampling: every episode")
    p.add_argument(
        "--max-calls",
        type=int,
        default=None,
        help="drop trajectories with more tool calls than this (answer excluded)",
    )
    p.add_argument(
        "--grounded-only",
        action="store_true",
        help="keep only grounded trajectories (every name and fact seen before it is used)",
    )
    p.add_argument(
        "--diverse",
        action="store_true",
        help="keep every correct sample of a question that takes a different path "
        "(recoveries first) instead of only the shortest",
    )
    p.add_argument("--agent", default=None, help="only episodes of this agent")
    p.add_argument("--no-hf", action="store_true", help="JSONL only (no datasets folder)")
    p.add_argument(
        "--tokenizer",
        default=None,
        help="report SFT rows' token lengths for this tokenizer (folder, hub id or tiny)",
    )
    add_kg_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    formats: list[str] = []
    for value in args.format or ["sft"]:
        formats += [f.strip() for f in value.split(",") if f.strip()]
    if not formats:
        raise MedenvError(f"--format is empty; choose from {', '.join(FORMATS)} or all")
    if args.max_calls is not None:
        if args.max_calls < 1:
            raise MedenvError(f"--max-calls must be at least 1, got {args.max_calls}")
        if args.all:
            raise MedenvError(
                "--max-calls selects trajectories; --all keeps every episode: give one"
            )
    for flag, value in (("--grounded-only", args.grounded_only), ("--diverse", args.diverse)):
        if value and args.all:
            raise MedenvError(f"{flag} selects trajectories; --all keeps every episode: give one")
    check_out_dir(args.out)
    if "all" in formats:
        formats = [f for f in FORMATS if f != "minari" or minari_available()]
        if not minari_available():
            print(f"skipping minari: {MINARI_MISSING}", file=sys.stderr)
    stats = export(
        args.db,
        args.out,
        formats,
        select=not args.all,
        max_tool_calls=args.max_calls,
        agent=args.agent,
        hf=not args.no_hf,
        tokenizer=args.tokenizer,
        grounded_only=args.grounded_only,
        diverse=args.diverse,
        world=world_spec(args) if has_kg_flags(args) else None,
    )
    for note in stats["notes"]:
        print(f"note {note}", file=sys.stderr)
    if stats["unfinished"]:
        print(
            f"not exported: {stats['unfinished']} unfinished episode(s) (no episode_ended: cut "
            "off by a kill or a crash; a resumed rollout runs them again)",
            file=sys.stderr,
        )
    print("recorded: " + format_stats(stats["recorded"]))
    print("exported: " + format_stats(stats["selected"]))
    for fmt, path in stats["files"].items():
        print(f"{fmt}: {path}")
    if "sft_tokens" in stats:
        t = stats["sft_tokens"]
        if t["rows"]:
            print(
                f"sft tokens ({t['tokenizer']}): prompt p50 {t['prompt']['p50']:,} max "
                f"{t['prompt']['max']:,}; row p50 {t['total']['p50']:,} p95 {t['total']['p95']:,} "
                f"max {t['total']['max']:,}; max_length for 95% whole "
                f"{t['max_length_for_95pct_whole']:,}"
            )
    if stats["removed"]:
        print(f"removed from {args.out} (an earlier export's): {', '.join(stats['removed'])}")
    if stats["left_as_is"]:
        shown = ", ".join(stats["left_as_is"][:8]) + (
            ", ..." if len(stats["left_as_is"]) > 8 else ""
        )
        print(f"also in {args.out}, not written by medenv export (left as is): {shown}")
    print(f"stats: {args.out}/stats.json")
    return 0

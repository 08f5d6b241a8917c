"""``medenv synth``: synthesize a verified multi-hop QA set from a knowledge graph.

``medenv synth --n N --min-hops A --max-hops B --seed S --out DIR [--source hpo]
[--path P]... [--align ids|names|none] [--alignment CSV] [--min-crossings K]
[--answer-type T]... [--seed-type T]... [--specialty NAME]... [--no-corpus]``

The KG flags are `medenv.commands.kgargs`'s (``--source hpo+hetionet --path
hetionet=DIR`` for the merged graph); ``--min-crossings K`` keeps chains that cross a
source boundary at least K times.

Writes ``DIR/qa.jsonl``, ``DIR/qa.parquet`` and ``DIR/manifest.json`` and prints a summary
(items by hops, by specialty, drops by reason). With the corpus part installed and without
``--no-corpus``, every item gets per-hop evidence pages and unanswerable items are dropped.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial

from medenv.commands.kgargs import add_kg_arguments, is_default, kg_spec


def add_parser(subparsers) -> None:
    from medenv.synth.specialty import SPECIALTIES

    p = subparsers.add_parser(
        "synth",
        help="synthesize verified multi-hop questions from the knowledge graph (KISA)",
        description="Pick rare seed entities, find long relation chains, keep only chains "
        "whose question has exactly one answer in the KG, and write the set as JSONL + "
        "Parquet + manifest.",
    )
    p.add_argument("--n", type=int, default=200, help="number of items (default 200)")
    p.add_argument("--min-hops", type=int, default=2, help="shortest chain (default 2)")
    p.add_argument("--max-hops", type=int, default=4, help="longest chain (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--world-seed",
        type=int,
        default=0,
        help="seed of the corpus the evidence pages come from; must match the env's "
        "world_seed (default 0, as the env's)",
    )
    p.add_argument("--out", required=True, help="output folder")
    add_kg_arguments(p)
    p.add_argument(
        "--min-crossings",
        type=int,
        default=0,
        help="merged graphs: keep only chains crossing a source boundary at least this "
        "often (default 0)",
    )
    p.add_argument(
        "--answer-type",
        action="append",
        default=[],
        metavar="TYPE",
        help="node types an answer may have (repeat or comma-separate; default disease, "
        "gene, phenotype), e.g. compound on hpo+hetionet",
    )
    p.add_argument(
        "--seed-type",
        action="append",
        default=[],
        metavar="TYPE",
        help="node types a chain may start from (default phenotype, disease, gene)",
    )
    p.add_argument(
        "--specialty",
        action="append",
        default=[],
        metavar="NAME",
        help=f"keep only these specialties (repeat or comma-separate): {', '.join(SPECIALTIES)}",
    )
    p.add_argument("--rare-share", type=float, default=None, help="share of rare seeds (0-1)")
    p.add_argument(
        "--hop-weights",
        default=None,
        help="comma-separated weights of chain lengths min..max (default 1,4,9,...)",
    )
    p.add_argument(
        "--lexicon",
        default=None,
        metavar="FILE",
        help="relation lexicon (TSV: relation, forward phrase, inverse phrase[, noun"
        "[, properties]]) for graphs whose relations the built-in lexicon lacks",
    )
    p.add_argument(
        "--no-corpus", action="store_true", help="skip evidence pages and the answerability check"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _specialties(values: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        out.extend(s.strip().lower() for s in v.split(",") if s.strip())
    return tuple(dict.fromkeys(out))


def _table(title: str, counts: dict[str, int]) -> str:
    if not counts:
        return f"{title}: none"
    width = max(len(k) for k in counts)
    lines = [title]
    total = sum(counts.values())
    for key, value in counts.items():
        lines.append(f"  {key:<{width}}  {value:>6}  {100 * value / total:5.1f}%")
    return "\n".join(lines)


def summary(manifest: dict) -> str:
    """The final summary table printed by the command."""
    counts = manifest["counts"]
    hops = dict(sorted(counts["by_hops"].items(), key=lambda kv: int(kv[0])))
    return "\n".join(
        [
            f"{counts['items']} items from {counts['seeds_tried']} seeds "
            f"({manifest['kg_source']} {manifest['kg_version']}, seed {manifest['seed']}), "
            f"mean hops {counts['mean_hops']} (effective {counts.get('mean_effective_hops')}), "
            f"search shortcut rate {counts.get('search_shortcut_rate')}, "
            f"{manifest['elapsed_s']} s",
            _table("by hops", hops),
            _table("by specialty", counts["by_specialty"]),
            _table("by split", counts["by_split"]),
            _table("drops by reason", manifest["drops"]),
        ]
    )


def run(args: argparse.Namespace) -> int:
    from medenv.errors import MedenvError
    from medenv.kg.cache import load_kg
    from medenv.paths import check_out_dir
    from medenv.synth import SynthConfig, synthesize, write_qa_set

    kw = {}
    if args.rare_share is not None:
        kw["rare_share"] = args.rare_share
    if args.answer_type:
        kw["answer_types"] = _specialties(args.answer_type)
    if args.seed_type:
        kw["seed_types"] = _specialties(args.seed_type)
    if args.hop_weights:
        try:
            kw["hop_weights"] = tuple(float(w) for w in args.hop_weights.split(","))
        except ValueError:
            raise MedenvError(
                f"--hop-weights must be comma-separated numbers, got {args.hop_weights!r}"
            ) from None
    config = SynthConfig(
        n=args.n,
        seed=args.seed,
        min_hops=args.min_hops,
        max_hops=args.max_hops,
        specialties=_specialties(args.specialty),
        lexicon=args.lexicon,
        min_crossings=args.min_crossings,
        **kw,
    ).check()  # bad arguments fail before the KG is loaded
    check_out_dir(args.out)
    started = time.perf_counter()
    names, path, kg_options = kg_spec(args)
    kg = load_kg(names, path, progress=not args.no_progress, **kg_options)
    world = None
    if not args.no_corpus:
        try:
            from medenv.world import World, load_world
        except ImportError:
            print("medenv synth: corpus part not installed; no evidence pages", file=sys.stderr)
        else:
            # a factory: `synthesize` builds the world once the KG is known to support --n
            if is_default(names, path, kg_options):
                world = partial(
                    load_world, source="hpo", seed=args.world_seed, progress=not args.no_progress
                )
            elif len(names) > 1:  # merged: corpus and indexes cached, as the env loads them
                world = partial(
                    load_world,
                    source="+".join(names),
                    seed=args.world_seed,
                    progress=not args.no_progress,
                    path=path,
                    **kg_options,
                )
            else:
                world = partial(World.for_kg, kg, seed=args.world_seed)
    result = synthesize(kg, config, world=world, progress=not args.no_progress)
    result.manifest["elapsed_total_s"] = round(time.perf_counter() - started, 3)
    out = write_qa_set(args.out, result.items, result.manifest)
    print(summary(result.manifest))
    print(f"wrote {out}/qa.jsonl, qa.parquet, manifest.json")
    return 0

"""``medenv synth``: synthesize a verified multi-hop QA set from a knowledge graph.

``medenv synth --n N --min-hops A --max-hops B --seed S --out DIR [--source hpo]
[--path P]... [--align ids|names|none] [--alignment CSV] [--min-crossings K]
[--answer-type T]... [--seed-type T]... [--specialty NAME]... [--specialties FILE]
[--obfuscation 0..2] [--max-candidates K]
[--no-corpus]``

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
from pathlib import Path

import msgspec

from medenv.commands.kgargs import add_kg_arguments, kg_spec
from medenv.curriculum import parse_hops
from medenv.distributed import _synth_task, require_ray, synth_on_ray
from medenv.errors import MedenvError, check_seed
from medenv.kg.cache import load_kg
from medenv.paths import check_out_dir
from medenv.synth import SynthConfig, synthesize, write_qa_set
from medenv.synth.io import check_set_folder
from medenv.synth.parallel import check_workers
from medenv.synth.specialty import SPECIALTIES
from medenv.worldspec import world_factory


def add_parser(subparsers) -> None:
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
    p.add_argument(
        "--hops", default=None, metavar="N[,N...]",
        help="curriculum: chains of exactly these hop counts (e.g. 1 for a 1-hop set; a "
        "contiguous list such as 1,2); overrides --min-hops/--max-hops",
    )  # fmt: skip
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
    p.add_argument(
        "--specialties",
        default=None,
        metavar="FILE",
        dest="specialty_file",
        help="specialty mapping (CSV/TSV: node id or name, specialty) for any graph; "
        "default: HPO's organ branches, else entity names and ancestors",
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
        "--obfuscation",
        type=str,  # checked in `run`: a bad value is one line, not argparse's usage block
        default=None,
        metavar="LEVEL",
        help="0 (default): name the seed and every constraint entity; 1: describe "
        "constraints (and the seed) in plain words where that keeps the question unique; "
        "2: as 1, trying more chains so that most questions name at most one entity",
    )
    p.add_argument(
        "--max-candidates",
        type=int,
        default=None,
        metavar="K",
        help="answerability: every middle chain node pinned to at most K candidates "
        "(facts are added until it holds; default 3, 0: no limit)",
    )
    p.add_argument(
        "--no-corpus", action="store_true", help="skip evidence pages and the answerability check"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="processes that synthesize (default: one per core); the items are the same for any N",
    )
    p.add_argument(
        "--seeds",
        default=None,
        metavar="S1,S2,...",
        help="one QA set per seed, written to OUT/seed-<S> (instead of --seed)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="synthesize the seeds as Ray tasks (no ADDRESS: a local Ray); extra medenv[ray]",
    )
    p.set_defaults(func=run)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise MedenvError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise MedenvError(f"--seeds must list distinct integers, got {text!r}")
    return [check_seed(s, "--seeds") for s in seeds]


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
    check_seed(args.seed)
    check_seed(args.world_seed, "--world-seed")
    kw = {}
    if args.obfuscation is not None:
        try:
            kw["obfuscation"] = int(args.obfuscation)
        except ValueError:
            raise MedenvError(
                f"obfuscation must be one of 0, 1, 2, got {args.obfuscation!r}"
            ) from None
    if args.rare_share is not None:
        kw["rare_share"] = args.rare_share
    if args.max_candidates is not None:
        kw["max_candidates"] = args.max_candidates
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
    if args.hops is not None:  # the curriculum's hop counts (medenv.curriculum)
        hops = parse_hops(args.hops)
        if list(hops) != list(range(hops[0], hops[-1] + 1)):
            raise MedenvError(f"--hops must be contiguous hop counts (e.g. 1,2), got {args.hops!r}")
        args.min_hops, args.max_hops = hops[0], hops[-1]
    config = SynthConfig(
        n=args.n,
        seed=args.seed,
        min_hops=args.min_hops,
        max_hops=args.max_hops,
        specialties=_specialties(args.specialty),
        lexicon=args.lexicon,
        specialty_file=args.specialty_file,
        min_crossings=args.min_crossings,
        **kw,
    ).check()  # bad arguments fail before the KG is loaded
    check_workers(args.workers)
    check_out_dir(args.out)
    if args.seeds is None:  # else one set per seed folder, each checked when written
        check_set_folder(args.out)  # before any work
    if args.seeds is not None or args.ray is not None:
        return _run_seeds(args, config)
    started = time.perf_counter()
    names, path, kg_options = kg_spec(args)
    kg = load_kg(names, path, progress=not args.no_progress, **kg_options)
    world = None
    if not args.no_corpus:
        try:
            import medenv.world  # noqa: F401
        except ImportError:
            print("medenv synth: corpus part not installed; no evidence pages", file=sys.stderr)
        else:
            # a factory: `synthesize` builds the world once the KG is known to support --n
            world = world_factory(
                names, path, kg_options, kg, args.world_seed, not args.no_progress
            )
    result = synthesize(
        kg, config, world=world, progress=not args.no_progress, workers=args.workers
    )
    result.manifest["elapsed_total_s"] = round(time.perf_counter() - started, 3)
    out = write_qa_set(args.out, result.items, result.manifest)
    print(summary(result.manifest))
    print(f"wrote {out}/qa.jsonl, qa.parquet, manifest.json")
    return 0


def _run_seeds(args: argparse.Namespace, config) -> int:
    """``--seeds`` and/or ``--ray``: one `synthesize` per seed, locally in order or as Ray
    tasks (`medenv.distributed.synth_on_ray`); the same seed gives the same items."""

    from medenv.synth import write_qa_set

    seeds = _seeds(args.seeds) if args.seeds is not None else [args.seed]
    configs = [msgspec.structs.replace(config, seed=s) for s in seeds]
    corpus = not args.no_corpus
    if args.ray is not None:
        require_ray()
        results = synth_on_ray(args.ray, configs, kg_spec=kg_spec(args),
                               world_seed=args.world_seed, corpus=corpus)  # fmt: skip
    else:
        spec = kg_spec(args)
        results = [_synth_task(spec, c, args.world_seed, corpus) for c in configs]
    for seed, result in zip(seeds, results, strict=True):
        out = Path(args.out) / f"seed-{seed}" if args.seeds is not None else Path(args.out)
        write_qa_set(out, result.items, result.manifest)
        print(summary(result.manifest))
        print(f"wrote {out}/qa.jsonl, qa.parquet, manifest.json")
    return 0

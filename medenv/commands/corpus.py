"""``medenv corpus``: build the corpus and search indexes, search them, check QA sets.

- ``medenv corpus build [--source hpo] [--backend tantivy|whoosh] [--seed 0]``: build (or
  load) the world and print page counts, index sizes and timings.
- ``medenv corpus search QUERY [--web] [--top-k 5]``: print the tool's observation.
- ``medenv corpus check --qa DIR``: the share of a QA set whose every hop is answerable; a
  set built from another graph than the world's is refused with one line.

Each takes the KG flags (`medenv.commands.kgargs`: ``--source edgelist --path kg.csv``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from medenv.commands.kgargs import add_kg_arguments, world_spec
from medenv.corpus.answerability import check
from medenv.errors import MedenvError, check_seed
from medenv.kg.credits import credits
from medenv.qa_world import check_qa_world
from medenv.tools.registry import execute, validate
from medenv.tools.result import ToolResult


def add_parser(subparsers) -> None:
    corpus = subparsers.add_parser("corpus", help="corpus and search indexes: build, search, check")
    sub = corpus.add_subparsers(dest="corpus_command", metavar="CORPUS_COMMAND", required=True)

    def common(p) -> None:
        add_kg_arguments(p)
        p.add_argument("--backend", default="tantivy", choices=("tantivy", "whoosh"))
        p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")

    build = sub.add_parser("build", help="build (or load) the corpus and its indexes")
    common(build)
    build.add_argument("--json", action="store_true", help="print one JSON object")
    build.set_defaults(func=run_build)

    search = sub.add_parser("search", help="run medical_search (or web_search) once")
    common(search)
    search.add_argument("query")
    search.add_argument("--web", action="store_true", help="search the web collection")
    search.add_argument("--top-k", type=int, default=5)
    search.set_defaults(func=run_search)

    check = sub.add_parser("check", help="share of a QA set answerable with the tools")
    common(check)
    check.add_argument("--qa", required=True, help="QA set folder, qa.jsonl or JSONL file")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(func=run_check)


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _world(args, progress: bool):
    return world_spec(args, seed=check_seed(args.seed), backend=args.backend).load(
        progress=progress
    )


def run_build(args) -> int:
    start = time.perf_counter()
    world = _world(args, progress=not args.json)
    seconds = time.perf_counter() - start
    stats = world.corpus.stats()
    figures = {
        "source": world.kg.source,
        "kg_version": world.kg.version,
        "backend": world.backend,
        "seed": world.seed,
        "medical_pages": stats["medical"],
        "web_pages": stats["web"],
        "text_mb": round(stats["chars"] / 1e6, 1),
        "medical_index_mb": round(_dir_size(world.medical_index.path) / 1e6, 1),
        "web_index_mb": round(_dir_size(world.web_index.path) / 1e6, 1),
        "seconds": round(seconds, 2),
        "fingerprint": world.fingerprint,
        "credits": credits(world.kg),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            if key == "credits":
                print("\n".join(f"{'credit':>18}: {line}" for line in value))
            else:
                print(f"{key:>18}: {value}")
    return 0


def run_search(args) -> int:
    # bad arguments fail before the (slow) world is loaded, as one error line: the tool's
    # own argument check, plus the blank query (which the tool answers as a result)
    if not args.query.strip():
        raise MedenvError("the query is empty; give words to search for")
    tool = "web_search" if args.web else "medical_search"
    arguments = {"query": args.query, "top_k": args.top_k}
    checked = validate(tool, arguments)
    if isinstance(checked, ToolResult):
        raise MedenvError(checked.text.removeprefix("Error: "))
    world = _world(args, progress=True)
    result = execute(world, tool, arguments)
    if not result.ok:
        raise MedenvError(result.text.removeprefix("Error: "))
    print(result.text)
    return 0


def run_check(args) -> int:
    try:
        from medenv.synth.io import read_qa_set
    except ImportError as exc:
        raise MedenvError("reading QA sets needs medenv.synth.io, which is not installed") from exc

    check_seed(args.seed)
    items = read_qa_set(args.qa)
    with_chain = [i for i in items if i.hops]
    spec = world_spec(args, seed=args.seed, backend=args.backend)
    check_qa_world(items, spec.source, args.qa)  # before the graph is loaded
    check_qa_world(items, spec.load_kg(), args.qa)  # before the (slow) corpus and indexes
    world = spec.load(progress=not args.json)
    report = check(world, with_chain)
    result = {
        "items": len(items),
        "with_chain": len(with_chain),
        "answerable": report.answerable,
        "share": round(report.share, 4),
        "failed_hops_by_relation": report.failed_hops,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{report.answerable} of {len(with_chain)} items with a gold chain are answerable "
            f"({report.share:.1%}); {len(items) - len(with_chain)} items have no chain."
        )
        for relation, n in report.failed_hops.items():
            print(f"  unanswerable hops via {relation}: {n}")
    return 0

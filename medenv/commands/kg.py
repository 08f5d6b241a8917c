"""``medenv kg stats``: build or load a knowledge graph and print what it holds.

``medenv kg stats [--source hpo|hetionet|edgelist|hpo+hetionet...] [--path P]... [--json]``

``--path`` may repeat: a plain value is the path of the one source that needs it (several
plain values = the files of a Hetionet graph); ``SOURCE=P`` assigns ``P`` to one source of
a merged graph (``--source hpo+hetionet --path hetionet=data/hetionet``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from medenv.errors import MedenvError


def add_parser(subparsers) -> None:
    kg = subparsers.add_parser("kg", help="knowledge graph: build, cache and inspect")
    sub = kg.add_subparsers(dest="kg_command", metavar="KG_COMMAND", required=True)
    stats = sub.add_parser(
        "stats",
        help="print nodes by type and edges by relation of a knowledge graph",
        description="Build (first time) or load (cached) a knowledge graph and print its "
        "source, release, data credit, node and edge counts and the load time.",
    )
    stats.add_argument(
        "--source",
        default="hpo",
        help="hpo (default), hetionet, edgelist, or several joined by '+' (merged)",
    )
    stats.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="P",
        help="input folder/file (required for hetionet and edgelist); SOURCE=P for merged "
        "graphs; repeat for several files",
    )
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument(
        "--keep-side-effects",
        action="store_true",
        help="keep Hetionet's CcSE side-effect edges (SIDER, non-commercial licence)",
    )
    stats.add_argument("--no-cache", action="store_true", help="build without the disk cache")
    stats.set_defaults(func=run)


def _path_argument(names: list[str], values: list[str]) -> object:
    """Turn the repeated ``--path`` values into `load_kg`'s ``path``."""
    from medenv.kg.cache import SOURCES

    assigned: dict[str, list[str]] = {}
    plain: list[str] = []
    for value in values:
        head, sep, rest = value.partition("=")
        if sep and head in SOURCES:
            if head not in names:
                raise MedenvError(f"--path {value}: source {head!r} is not in --source")
            assigned.setdefault(head, []).append(rest)
        else:
            plain.append(value)
    if plain:
        needing = [n for n in names if n != "hpo" and n not in assigned] or [
            n for n in names if n not in assigned
        ]
        if len(needing) != 1:
            raise MedenvError(
                "cannot tell which source a plain --path belongs to; write SOURCE=PATH"
            )
        assigned[needing[0]] = plain
    paths = {n: (v[0] if len(v) == 1 else v) for n, v in assigned.items()}
    if len(names) == 1:
        return paths.get(names[0])
    return paths or None


def run(args: argparse.Namespace) -> int:
    from medenv.kg.cache import cache_file, load_kg, parse_sources
    from medenv.kg.credits import credits

    names = parse_sources(args.source)
    path = _path_argument(names, args.path)
    cached = False
    if not args.no_cache:
        cached = cache_file(names, path, keep_side_effects=args.keep_side_effects).is_file()
    start = time.perf_counter()
    kg = load_kg(
        names,
        path,
        cache=not args.no_cache,
        keep_side_effects=args.keep_side_effects,
        progress=not args.json and sys.stderr.isatty(),
    )
    seconds = time.perf_counter() - start
    stats = kg.stats()
    stats["credits"] = credits(kg)
    stats["load_seconds"] = round(seconds, 3)
    stats["from_cache"] = cached
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    how = "loaded from cache" if cached else "built" + ("" if args.no_cache else " and cached")
    lines = [
        f"source:   {stats['source']}",
        f"version:  {stats['version']}",
        *(f"credit:   {c}" for c in stats["credits"]),
        f"nodes:    {stats['nodes']:,}",
        *(f"  {t:<28}{n:>10,}" for t, n in stats["node_types"].items()),
        f"edges:    {stats['edges']:,}",
        *(f"  {r:<28}{n:>10,}" for r, n in stats["relations"].items()),
        f"time:     {seconds:.2f} s ({how})",
    ]
    print("\n".join(lines))
    return 0

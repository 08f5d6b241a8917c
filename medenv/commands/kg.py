"""``medenv kg stats``: build or load a knowledge graph and print what it holds.

``medenv kg stats [--source hpo|hetionet|edgelist|hpo+hetionet...] [--path P]... [--json]
[--align ids|names|none] [--alignment CSV]``

Merged graphs also print the alignment report (`medenv.kg.provenance.alignment_report`):
aligned nodes per type and method, conflicts, and the 2-hop paths that cross a source
boundary.

``--path`` may repeat: a plain value is the path of the one source that needs it (several
plain values = the files of a Hetionet graph); ``SOURCE=P`` assigns ``P`` to one source of
a merged graph (``--source hpo+hetionet --path hetionet=data/hetionet``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from medenv.commands.kgargs import add_kg_arguments, kg_spec
from medenv.kg.cache import cache_file, load_kg
from medenv.kg.credits import credits


def add_parser(subparsers) -> None:
    kg = subparsers.add_parser("kg", help="knowledge graph: build, cache and inspect")
    sub = kg.add_subparsers(dest="kg_command", metavar="KG_COMMAND", required=True)
    stats = sub.add_parser(
        "stats",
        help="print nodes by type and edges by relation of a knowledge graph",
        description="Build (first time) or load (cached) a knowledge graph and print its "
        "source, release, data credit, node and edge counts and the load time.",
    )
    add_kg_arguments(stats)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument("--no-cache", action="store_true", help="build without the disk cache")
    stats.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    names, path, options = kg_spec(args)
    cached = False
    if not args.no_cache:
        cached = cache_file(names, path, **options).is_file()
    start = time.perf_counter()
    kg = load_kg(
        names,
        path,
        cache=not args.no_cache,
        progress=not args.json and sys.stderr.isatty(),
        **options,
    )
    seconds = time.perf_counter() - start
    stats = kg.stats()
    stats["credits"] = credits(kg)
    stats["load_seconds"] = round(seconds, 3)
    stats["from_cache"] = cached
    report = getattr(kg, "report", None)
    if report:
        stats["alignment"] = report
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
    if report:
        lines[-1:-1] = report_lines(report)
    print("\n".join(lines))
    return 0


def report_lines(report: dict) -> list[str]:
    """The alignment report of a merged graph as text lines."""
    lines = [f"aligned:  {report['aligned_nodes']:,} nodes (each one entity of several sources)"]
    for kind, methods in report["aligned"].items():
        by = ", ".join(f"{m} {n:,}" for m, n in methods.items())
        lines.append(f"  {kind:<28}{sum(methods.values()):>10,}  ({by})")
    reasons = ", ".join(f"{r} {n}" for r, n in report["conflicts_by_reason"].items())
    lines.append(f"conflicts: {report['conflicts']}" + (f" ({reasons})" if reasons else ""))
    for c in report["conflict_examples"]:
        pairs = ", ".join(f"{n} ({t})" for n, t in zip(c["nodes"], c["types"], strict=True))
        lines.append(f"  {c['key']} ({c['reason']}): {pairs}")
    lines.append(f"ambiguous identifiers (2+ nodes in one source): {report['ambiguous_ids']}")
    lines.append(
        f"crossing: {report['nodes_with_edges_from_several_sources']:,} nodes with edges from "
        f"several sources; {report['cross_source_2hop_paths']:,} 2-hop paths cross a source "
        "boundary"
    )
    for pair, n in report["cross_source_2hop_paths_by_relations"].items():
        lines.append(f"  {pair:<50}{n:>10,}")
    return lines

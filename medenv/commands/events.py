"""``medenv events export --db STORE --out DIR_OR_URL``: event shards as Parquet.

Writes every event of the store (its shard files included) as zstd Parquet partitioned by
run (``OUT/run_id=<id>/data_0.parquet``) to a folder or an fsspec URL (``s3://...``; extra
``medenv[s3]``). ``eval``, ``export``, ``runs`` and ``replay`` read the result with
``--db OUT`` (a folder, a ``*.parquet`` glob or the URL). See `medenv.events.parquet`.
"""

from __future__ import annotations

import sys

from medenv.events.parquet import export_parquet


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "events",
        help="event store utilities (export as Parquet)",
        description="Event store utilities.",
    )
    sub = p.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    e = sub.add_parser(
        "export",
        help="write the store as zstd Parquet partitioned by run (folder or s3:// URL)",
        description="Write every event of a store (all shard files) as zstd Parquet "
        "partitioned by run, to a folder or an fsspec URL such as s3://bucket/prefix.",
    )
    e.add_argument("--db", required=True, help="event store (its .shard-N.duckdb included)")
    e.add_argument("--out", required=True, help="output folder or URL (s3://bucket/prefix)")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=run_export)


def run_export(args) -> int:
    result = export_parquet(args.db, args.out, progress=not args.no_progress)
    print(
        f"exported {result['events']:,} events of {result['runs']} run(s) to {result['out']} "
        f"({len(result['files'])} Parquet file(s), zstd, partitioned by run_id)"
    )
    for note in result.get("notes", ()):
        print(f"note: {note}", file=sys.stderr)
    return 0

"""The ``events`` table: its DDL, its Arrow schema, and the check that a DuckDB file holds
medenv's table (and nothing else named ``events``) before anything reads or writes it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from medenv.errors import MedenvError

# The configuration of a writer's DuckDB connection (the store's own, its ingest thread's,
# its ingest process's): one thread (ingests take at most one core from the env), and a
# checkpoint once the WAL holds 64 MB rather than DuckDB's default 16 MB. The checkpoints
# were most of the ingest's DuckDB CPU: 155k GRPO-group events (~1 KB each) inserted in
# 4,096-event batches took 27 us of CPU per event at 16 MB, 12.7 at 64 MB (checkpoint at
# close included; 256 MB and 1 GB gave no more). The WAL is durable like the file (the
# next writer or a reader replays it); the rows are the same either way.
WRITER_CONFIG = {"threads": 1, "checkpoint_threshold": "64MB"}
# The payloads of a new table are compressed with zstd where DuckDB can (`create_table`):
# on the GRPO group's events (`python -m bench.logging_ab`'s workload, 38,921 events) DuckDB's
# own choice (dictionary, FSST) took 23 us of checkpoint CPU a step and 573 bytes an event on
# disk, zstd 4.2 us and 81 bytes (the ingest process: 85 -> 62 us a step). An older DuckDB,
# or a file in a storage format before v1.2.0, would keep zstd strings uncompressed, so there
# (and in tables created before) DuckDB keeps its own choice.
ZSTD_SINCE = ((1, 5), (1, 2))  # DuckDB version, file storage version (both measured)


def _version(text: str) -> tuple[int, ...]:
    """``"v1.5.0+"``, ``"2.0.1"`` as ``(1, 5, 0)``, ``(2, 0, 1)`` (``()`` where unreadable)."""
    parts = []
    for part in text.strip().lstrip("v").rstrip("+").split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def zstd_strings(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether DuckDB stores zstd-compressed strings in ``con``'s database file (DuckDB >=
    1.5 and the file's storage format >= v1.2.0; older ones keep them uncompressed)."""
    if _version(duckdb.__version__) < ZSTD_SINCE[0]:
        return False
    try:
        row = con.execute(
            "SELECT tags['storage_version'] FROM duckdb_databases() "
            "WHERE database_name = current_database()"
        ).fetchone()
    except duckdb.Error:  # (a DuckDB without the tag)
        return False
    return bool(row and row[0]) and _version(str(row[0])) >= ZSTD_SINCE[1]


# A forked child never collects the DuckDB objects it inherited: `medenv/__init__.py`
# registers `gc.freeze` after every fork.
TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS events (run_id VARCHAR, episode_id VARCHAR, seq INTEGER, "
    "ts TIMESTAMP, type VARCHAR, payload JSON)"
)


def create_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``events`` table unless the database has it: `TABLE_SQL`, with its
    payloads compressed with zstd where `zstd_strings` (the other columns, and a table that
    exists already, keep DuckDB's own compression)."""
    sql = TABLE_SQL
    if zstd_strings(con):
        sql = sql.replace("payload JSON)", "payload JSON USING COMPRESSION zstd)")
    con.execute(sql)
ARROW_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("episode_id", pa.string()),
        ("seq", pa.int32()),
        ("ts", pa.timestamp("us")),
        ("type", pa.string()),
        ("payload", pa.string()),
    ]
)

EVENT_COLUMNS = tuple(field.name for field in ARROW_SCHEMA)


def arrow_table(rows: Iterable[tuple]) -> pa.Table:
    """Rows ``(run_id, episode_id, seq, ts_us, type, payload)`` as a table of
    `ARROW_SCHEMA`; ``payload`` is the JSON as UTF-8 ``bytes`` (or ``str``)."""
    cols = list(zip(*rows, strict=True)) or [[] for _ in range(6)]
    return pa.table(
        [
            pa.array(cols[0], pa.string()),
            pa.array(cols[1], pa.string()),
            pa.array(cols[2], pa.int32()),
            pa.array(cols[3], pa.timestamp("us")),
            pa.array(cols[4], pa.string()),
            pa.array(cols[5], pa.binary()).cast(pa.string()),
        ],
        schema=ARROW_SCHEMA,
    )


def spool_rows_table(rows) -> pa.Table:
    """`medenv.events.spool` rows (payload as ``msgspec.Raw``) as an Arrow table."""
    return arrow_table((r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows)


def stored_in(table: str, rows: str) -> str:
    """The SQL condition that the event of row alias ``rows`` is already in ``table``: an
    event is identified by ``(run_id, episode_id, seq, type)`` (how spooled events that a
    table may hold already are told apart from new ones, by recovery, readers of leftovers
    and a retried ingest)."""
    return (
        f"EXISTS (SELECT 1 FROM {table} e WHERE e.run_id = {rows}.run_id AND e.episode_id IS "
        f"NOT DISTINCT FROM {rows}.episode_id AND e.seq = {rows}.seq AND e.type = {rows}.type)"
    )


def ingest_error(file: Path, spool: Path, exc: Exception) -> MedenvError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return MedenvError(
        f"cannot ingest events into event store {file}: {first} (disk full?); the events "
        f"stay in {spool} and the next writer or reader of the store picks them up"
    )


def check_events_table(
    con: duckdb.DuckDBPyConnection, database: str | None, file: Path, writing: bool = False
) -> bool:
    """Raise `MedenvError` unless ``database`` (None: the connection's own) holds medenv's
    ``events`` table; returns whether it has the table.

    A new, empty DuckDB file (no tables: e.g. its writer was killed before creating the
    table) passes as an empty store (False); a DuckDB file with other tables only, or an
    ``events`` table with other columns, is not an event store and is never written to."""
    rows = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = "
        f"{'current_database()' if database is None else '?'} AND schema_name = 'main' "
        "ORDER BY table_name, column_index",
        [] if database is None else [database],
    ).fetchall()
    columns = tuple(c for t, c in rows if t == "events")
    if columns == EVENT_COLUMNS:
        return True
    if columns:
        raise MedenvError(
            f"{file}: not a medenv event store: its events table has columns "
            f"({', '.join(columns)}), expected ({', '.join(EVENT_COLUMNS)})"
        )
    tables = sorted({t for t, _ in rows})
    if not tables:
        return False
    found = (
        f" (tables: {', '.join(tables[:5])}{', ...' if len(tables) > 5 else ''})" if tables else ""
    )
    raise MedenvError(f"{file}: not a medenv event store: no events table{found}")

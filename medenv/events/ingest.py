"""Moving logged events from the spool into DuckDB: one Arrow batch per insert (never
per-row INSERTs), run on a background thread off the env's step path.

`Ingester` runs one ingest at a time on a daemon thread: `start` hands it rows (and the
spool segments that hold them, deleted once the rows are in DuckDB), `busy` says whether it
still runs, and `wait` joins it and returns its failure, if any (the caller puts the rows
back into its pending events; their segments stay on disk). DuckDB releases the GIL while
it inserts and checkpoints, so the step thread keeps running meanwhile; the thread holds
the GIL only to build the Arrow batch (``pa.array`` over each column, one C call each).

`recover` ingests what a killed writer left in a store's spool files, skipping events the
store already holds (a kill between an insert and the deletion of its segment).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb

from medenv.errors import MedenvError
from medenv.events.files import read_spools, spool_segments
from medenv.events.table import arrow_table, ingest_error, spool_rows_table


def insert(con: duckdb.DuckDBPyConnection, file: Path, spool: Path, rows: list[tuple]) -> None:
    """Insert ``rows`` (``(run_id, episode_id, seq, ts_us, type, payload bytes)``) as one
    Arrow batch; a DuckDB failure (disk full) raises `MedenvError` naming the spool."""
    con.register("_batch", arrow_table(rows))
    try:
        con.execute("INSERT INTO events SELECT * FROM _batch")
    except duckdb.Error as exc:
        raise ingest_error(file, spool, exc) from None
    finally:
        con.unregister("_batch")


def recover(con: duckdb.DuckDBPyConnection, file: Path, spool: Path) -> tuple[int, list[str]]:
    """Ingest the events a killed writer left in the spool files of ``file`` (those the
    table lacks), then empty the spool and delete its segments: ``(new events, notes on
    the spool's problems)``."""
    rows, notes = read_spools(file)
    segments = spool_segments(file)[:-1]
    if not rows:
        if notes and spool.exists():
            os.truncate(spool, 0)
        for segment in segments:
            segment.unlink()
        return 0, notes
    before = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    con.register("_spooled", spool_rows_table(rows))
    try:
        con.execute(
            "INSERT INTO events SELECT DISTINCT ON (run_id, episode_id, seq, type) b.* "
            "FROM _spooled b WHERE NOT EXISTS (SELECT 1 FROM "
            "events e WHERE e.run_id = b.run_id AND e.episode_id IS NOT DISTINCT FROM "
            "b.episode_id AND e.seq = b.seq AND e.type = b.type)"
        )
    except duckdb.Error as exc:
        raise ingest_error(file, spool, exc) from None
    finally:
        con.unregister("_spooled")
    if spool.exists():
        os.truncate(spool, 0)
    for segment in segments:
        segment.unlink()
    return con.execute("SELECT count(*) FROM events").fetchall()[0][0] - before, notes


class Ingester:
    """The background ingest of one store file's writer connection (module docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, file: Path, spool: Path) -> None:
        self.con, self.file, self.spool = con, file, spool
        self._thread: threading.Thread | None = None
        self._failure: tuple[MedenvError, list[tuple], list[Path]] | None = None

    def busy(self) -> bool:
        """Whether an ingest is still running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, rows: list[tuple], segments: list[Path]) -> None:
        """Insert ``rows`` on the thread, then delete ``segments`` (call `wait` first)."""
        self._thread = threading.Thread(
            target=self._run, args=(rows, segments), name="medenv-ingest", daemon=True
        )
        self._thread.start()

    def _run(self, rows: list[tuple], segments: list[Path]) -> None:
        try:
            insert(self.con, self.file, self.spool, rows)
        except MedenvError as exc:
            self._failure = (exc, rows, segments)
            return
        for segment in segments:
            try:
                segment.unlink()
            except OSError:  # pragma: no cover - gone already: the next reader dedups anyway
                pass

    def wait(self) -> tuple[MedenvError, list[tuple], list[Path]] | None:
        """Join the running ingest; its ``(error, rows, segments)`` when it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        failure, self._failure = self._failure, None
        return failure

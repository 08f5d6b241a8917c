"""Moving logged events from the spool into DuckDB: one Arrow batch per insert (never
per-row INSERTs), run on a background thread off the env's step path.

`Pending` holds a writer's logged events not yet in DuckDB column by column: the payloads
appended to one growing buffer with their end offsets, seq and ts in typed arrays. Its
Arrow batch is built without converting a Python object per payload (`Pending.table`:
zero-copy buffers; only the short episode ids and types are converted), so the ingest
thread holds the GIL for well under a millisecond per batch: the step thread, which drops
the GIL at every spool write, is not kept waiting for it.

`Ingester` runs one ingest at a time on a daemon thread: `start` hands it a `Pending` (and
the spool segments that hold its events, deleted once they are in DuckDB), `busy` says
whether it still runs, and `wait` joins it and returns its failure, if any (the caller puts
the events back in front of its pending ones; their segments stay on disk). DuckDB releases
the GIL while it inserts and checkpoints.

`recover` ingests what a killed writer left in a store's spool files, skipping events the
store already holds (a kill between an insert and the deletion of its segment).
"""

from __future__ import annotations

import os
import threading
from array import array
from pathlib import Path

import duckdb
import pyarrow as pa

from medenv.errors import MedenvError
from medenv.events.files import keep_unreadable, spool_segments
from medenv.events.sealer import StoredChains, seal_rows
from medenv.events.spool import read_spool
from medenv.events.table import ingest_error, spool_rows_table, stored_in

_JSON = pa.json_(pa.large_string())


def _constant(text: str, n: int) -> pa.Array:
    """``n`` times ``text``, as a dictionary array (no per-row object, no compute kernel)."""
    zeros = pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(bytes(4 * n))])
    return pa.DictionaryArray.from_arrays(zeros, pa.array([text], pa.string()))


class Pending:
    """Events of one run waiting for DuckDB, by column (see the module docstring)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.episode_ids: list[str | None] = []
        self.types: list[str] = []
        self.seqs = array("q")
        self.ts_us = array("q")
        self.data = bytearray()  # the payloads, one after another
        self.ends = array("q", [0])  # offsets: payload i is data[ends[i]:ends[i + 1]]

    def __len__(self) -> int:
        return len(self.seqs)

    def append(
        self, episode_id: str | None, seq: int, ts_us: int, type_: str, body: bytes | memoryview
    ):
        self.episode_ids.append(episode_id)
        self.types.append(type_)
        self.seqs.append(seq)
        self.ts_us.append(ts_us)
        self.data += body
        self.ends.append(len(self.data))

    def extend(self, other: Pending) -> None:
        """Append ``other``'s events after these."""
        base = len(self.data)
        self.episode_ids += other.episode_ids
        self.types += other.types
        self.seqs += other.seqs
        self.ts_us += other.ts_us
        self.data += other.data
        self.ends += array("q", (base + end for end in other.ends[1:]))

    def table(self) -> pa.Table:
        """The events as an Arrow table (without ``run_id``: one value, given to the
        insert); the payloads are validated as UTF-8 on the way. They are typed as Arrow's
        JSON extension type, which DuckDB takes into its JSON column as they are (the
        writer's payloads are msgspec's JSON: parsing them again would double the insert's
        cost). No `pyarrow.compute` kernel is used: its first use imports for a second,
        holding the GIL, and so would stall the env's step that happens to run then."""
        n = len(self)
        payload = pa.Array.from_buffers(
            pa.large_string(), n, [None, pa.py_buffer(self.ends), pa.py_buffer(self.data)]
        )
        payload.validate(full=True)  # UTF-8 (raises ArrowInvalid naming the row)
        return pa.table(
            {
                "episode_id": pa.array(self.episode_ids, pa.string()),
                "seq": pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(self.seqs)]),
                "ts": pa.Array.from_buffers(
                    pa.timestamp("us"), n, [None, pa.py_buffer(self.ts_us)]
                ),
                "type": pa.array(self.types, pa.string()),
                "payload": pa.ExtensionArray.from_storage(_JSON, payload),
            }
        )


def insert(
    con: duckdb.DuckDBPyConnection, file: Path, spool: Path, rows: Pending | list[Pending]
) -> None:
    """Insert the events ``rows`` (of one run, or of several) as one Arrow batch, in one
    statement; a DuckDB failure (disk full) raises `MedenvError` naming the spool."""
    runs = [rows] if isinstance(rows, Pending) else rows
    table = pa.concat_tables(
        r.table().append_column("run_id", _constant(r.run_id, len(r))) for r in runs
    )
    con.register("_batch", table)
    try:
        con.execute(
            "INSERT INTO events SELECT run_id, episode_id, seq, ts, type, payload FROM _batch"
        )
    except duckdb.Error as exc:
        raise ingest_error(file, spool, exc) from None
    finally:
        con.unregister("_batch")


def recover(con: duckdb.DuckDBPyConnection, file: Path, spool: Path) -> tuple[int, list[str]]:
    """Ingest the events a killed writer left in the spool files of ``file`` (those the
    table lacks; sealed, `medenv.events.sealer`), keep the lines that are not events in ``<file>.unreadable``
    (`medenv.events.files.keep_unreadable`), then empty the spool and delete its segments:
    ``(new events, notes on the spool's problems)``. A torn last line is noted, not kept
    (`medenv.events.spool`)."""
    paths = spool_segments(file)
    contents = [read_spool(path) for path in paths]
    rows = seal_rows([row for c in contents for row in c.rows], StoredChains(con))
    segments = paths[:-1]
    if not rows:
        keep_unreadable(file, contents)
        notes = [note for c in contents for note in c.notes]
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
            f"FROM _spooled b WHERE NOT {stored_in('events', 'b')}"
        )
    except duckdb.Error as exc:
        raise ingest_error(file, spool, exc) from None
    finally:
        con.unregister("_spooled")
    keep_unreadable(file, contents)  # after the insert: a failure here loses nothing either
    if spool.exists():
        os.truncate(spool, 0)
    for segment in segments:
        segment.unlink()
    notes = [note for c in contents for note in c.notes]
    return con.execute("SELECT count(*) FROM events").fetchall()[0][0] - before, notes


class Ingester:
    """The background ingest of one store file's writer connection (module docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, file: Path, spool: Path) -> None:
        self.con, self.file, self.spool = con, file, spool
        self._thread: threading.Thread | None = None
        self._failure: tuple[MedenvError, Pending, list[Path]] | None = None

    def busy(self) -> bool:
        """Whether an ingest is still running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, rows: Pending, segments: list[Path]) -> None:
        """Insert ``rows`` on the thread, then delete ``segments`` (call `wait` first)."""
        self._thread = threading.Thread(
            target=self._run, args=(rows, segments), name="medenv-ingest", daemon=True
        )
        self._thread.start()

    def _run(self, rows: Pending, segments: list[Path]) -> None:
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

    def wait(self) -> tuple[MedenvError, Pending, list[Path]] | None:
        """Join the running ingest; its ``(error, rows, segments)`` when it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        failure, self._failure = self._failure, None
        return failure

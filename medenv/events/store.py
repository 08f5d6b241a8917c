"""The event store: one DuckDB table of events, written in Arrow batches through a spool.

Writing (`EventStore`): ``emit`` encodes an event (`encode_payload`: never raises for
declared types), chains its hash (`medenv.events.chain`) and stages it; ``commit`` (called at
the end of every env step) moves the staged step to the pending events and makes them durable
according to ``durability``; ``discard`` drops a staged step that failed half-way, so a step
is logged whole or not at all:

- ``"sync"``: written to the spool file and fsync'd every step (survives power loss);
- ``"step"`` (default): written to the spool every step (survives ``kill -9``);
- ``"episode"``: written to the spool at each episode end (a kill loses the open episode);
- ``"none"``: kept in memory until ingested (a kill loses everything not yet ingested).

Events are ingested into DuckDB as one Arrow batch (never per-row INSERTs) at the first
episode end after ``batch_events`` are pending, and on ``close``. The ingest (and any DuckDB
checkpoint it triggers) runs on a background thread, off the step path: at hand-off the
spool file is renamed to a numbered segment ``<file>.spool-<k>`` and a fresh spool opened,
and the segment is deleted only once its events are in DuckDB, so every logged event not yet
in DuckDB is in a spool file at every moment (the durability modes keep their meaning). One
ingest runs at a time; `drain` waits for it (and re-raises its failure: its events go back
to the pending ones and its segment stays until they are ingested).
An episode that never ends is not held in memory: in ``"episode"`` mode its events go to the
spool once ``batch_events`` are buffered, and pending events are ingested mid-episode once
4 x ``batch_events`` are pending. A failed spool write (disk full) leaves the spool at its
last complete line (`medenv.events.spool`), raises `SpoolError` and keeps the events
pending for the next write. A spool left by a killed writer is ingested by the next writer
of that file (a torn tail is dropped, noted in ``recovered_notes``), and readers see it too.
One writer per file, enforced with a lock file (a second writer gets MedenvError);
parallel workers use shard files ``<stem>.shard-<k>.duckdb`` next to the main file, and
`connect` reads the main file and all its shards together.

Reading: `connect(paths_or_glob)` returns an in-memory DuckDB connection with the table
``events`` (all files, plus unspooled leftovers) and the views ``runs``, ``episodes``,
``steps`` and ``tool_calls`` (columns documented in README.md, "Event log (DuckDB)").
"""

from __future__ import annotations

import fcntl
import glob as globlib
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from medenv.errors import MedenvError
from medenv.events import chain
from medenv.events.parquet import is_parquet_source, parquet_relation
from medenv.events.schema import (
    TYPE_NAMES,
    EpisodeSealed,
    Event,
    Payload,
    RunClosed,
    decode_payload,
    encode_payload,
    with_tokens,
)
from medenv.events.spool import Spool, encode_line, read_spool
from medenv.paths import check_out_file

DURABILITY = ("sync", "step", "episode", "none")

# A forked child never collects the DuckDB objects it inherited: `medenv/__init__.py`
# registers `gc.freeze` after every fork.
TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS events (run_id VARCHAR, episode_id VARCHAR, seq INTEGER, "
    "ts TIMESTAMP, type VARCHAR, payload JSON)"
)
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


def new_run_id() -> str:
    """A sortable, unique run id: ``YYYYmmdd-HHMMSS-<8 hex>``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def shard_path(path: str | Path, k: int) -> Path:
    """File of shard ``k`` of the store at ``path`` (shard 0 is ``path`` itself)."""
    path = Path(path)
    if k == 0:
        return path
    stem = path.with_suffix("") if path.suffix == ".duckdb" else path
    return stem.parent / f"{stem.name}.shard-{k}.duckdb"


def shard_files(path: str | Path) -> list[Path]:
    """The main file (when it exists) and every shard file of the store at ``path``."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix == ".duckdb" else path
    shards = sorted(
        (Path(p) for p in globlib.glob(globlib.escape(str(stem)) + ".shard-*.duckdb")),
        key=lambda p: (len(p.name), p.name),
    )
    return ([path] if path.exists() else []) + shards


def _sidecar(file: Path, suffix: str) -> Path:
    return file.with_name(file.name + suffix)


class _Lock:
    """An exclusive, non-blocking ``flock`` on ``<file>.lock`` holding the owner's pid."""

    def __init__(self, file: Path) -> None:
        self.path = _sidecar(file, ".lock")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            raise MedenvError(
                f"event store {file} is already being written by process {owner} (one "
                "writer per file): wait for it to finish, stop it, or give another --db "
                "path (Python: EventStore(..., shard='auto') writes a shard file beside it)"
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = -1


def _arrow(rows: Iterable[tuple]) -> pa.Table:
    cols = list(zip(*rows, strict=True)) or [[] for _ in range(6)]
    return pa.table(
        [
            pa.array(cols[0], pa.string()),
            pa.array(cols[1], pa.string()),
            pa.array(cols[2], pa.int32()),
            pa.array(cols[3], pa.timestamp("us")),
            pa.array(cols[4], pa.string()),
            pa.array(cols[5], pa.string()),
        ],
        schema=ARROW_SCHEMA,
    )


def _ingest_error(file: Path, spool: Path, exc: Exception) -> MedenvError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return MedenvError(
        f"cannot ingest events into event store {file}: {first} (disk full?); the events "
        f"stay in {spool} and the next writer or reader of the store picks them up"
    )


def spool_segments(file: Path) -> list[Path]:
    """The spool files of store ``file``, oldest first: numbered segments handed to a
    background ingest (``<file>.spool-<k>``), then the live spool ``<file>.spool``."""
    pattern = globlib.escape(str(_sidecar(file, ".spool-"))) + "*"
    segments = [Path(p) for p in globlib.glob(pattern) if p.rsplit("-", 1)[1].isdigit()]
    segments.sort(key=lambda p: int(str(p).rsplit("-", 1)[1]))
    return [*segments, _sidecar(file, ".spool")]


def read_spools(file: Path):
    """Every complete event line of the spool files of ``file`` (`spool_segments` order)
    and the notes on their problems: ``(rows, notes)``."""
    rows, notes = [], []
    for path in spool_segments(file):
        contents = read_spool(path)
        rows.extend(contents.rows)
        notes.extend(contents.notes)
    return rows, notes


def _spool_rows_table(rows) -> pa.Table:
    return _arrow((r[0], r[1], r[2], r[3], r[4], bytes(r[5]).decode()) for r in rows)


class EventStore:
    """The writer for one store file (see the module docstring).

    ``shard``: None writes ``path`` itself; an int ``k`` writes shard ``k``; ``"auto"`` takes
    the first shard file (``path`` first) that no other writer holds.
    """

    def __init__(
        self,
        path: str | Path,
        run_id: str | None = None,
        durability: str = "step",
        shard: int | str | None = None,
        batch_events: int = 4096,
    ) -> None:
        if durability not in DURABILITY:
            raise MedenvError(f"durability must be one of {DURABILITY}, got {durability!r}")
        self.base = Path(path).expanduser()
        check_out_file(self.base, "event store")
        try:
            self.base.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MedenvError(
                f"cannot create the folder of event store {self.base}: {exc}"
            ) from None
        self.run_id = run_id or new_run_id()
        self.durability = durability
        self.batch_events = max(1, int(batch_events))
        self.shard, self._lock = self._acquire(shard)
        self.file = shard_path(self.base, self.shard)
        try:
            self.con = duckdb.connect(str(self.file))
        except duckdb.Error as exc:
            self._lock.release()
            raise MedenvError(
                f"cannot open event store {self.file} for writing: {exc}".splitlines()[0]
            ) from None
        try:
            _check_events_table(self.con, None, self.file, writing=True)
        except MedenvError:
            self.con.close()
            self._lock.release()
            raise
        self.con.execute(TABLE_SQL)
        self._spool_path = _sidecar(self.file, ".spool")
        self.recovered_notes: list[str] = []
        self.recovered = self._recover()
        self._segment = 0  # number of the last spool segment handed to an ingest
        self._segments: list[Path] = []  # segments whose events failed to ingest (pending)
        self._ingest: threading.Thread | None = None
        self._ingest_failure: tuple[MedenvError, list[tuple], list[Path]] | None = None
        self._spool = (
            Spool(self._spool_path, sync=durability == "sync") if durability != "none" else None
        )
        self._rows: list[tuple] = []  # committed, not yet in DuckDB
        self._unspooled: list[bytes] = []  # committed, not yet in the spool
        self._staged: list[tuple] = []  # emitted during the current step (not committed)
        self._seq: dict[str | None, int] = {}
        self._head: dict[str | None, bytes] = {}  # last hash of each open chain
        self._tokens: dict[str, list[int]] = {}  # open episode -> [tokens, action tokens]
        self._sealed = 0
        self._wrote = False
        self.closed = False
        self._pid = os.getpid()  # a forked child never closes its parent's store
        self._resume_run_chain()

    # -- opening ---------------------------------------------------------------------------
    def _acquire(self, shard: int | str | None) -> tuple[int, _Lock]:
        if shard is None:
            return 0, _Lock(self.base)
        if isinstance(shard, int) and not isinstance(shard, bool) and shard >= 0:
            return shard, _Lock(shard_path(self.base, shard))
        if shard != "auto":
            raise MedenvError(f"shard must be None, 'auto' or an int >= 0, got {shard!r}")
        for k in range(4096):
            try:
                return k, _Lock(shard_path(self.base, k))
            except MedenvError:
                continue
        raise MedenvError(f"no free shard of event store {self.base} (4096 writers?)")

    def _recover(self) -> int:
        """Ingest events a killed writer left in the spool; returns how many were new."""
        rows, self.recovered_notes = read_spools(self.file)
        segments = spool_segments(self.file)[:-1]
        if not rows:
            if self.recovered_notes and self._spool_path.exists():
                os.truncate(self._spool_path, 0)
            for segment in segments:
                segment.unlink()
            return 0
        before = self.con.execute("SELECT count(*) FROM events").fetchall()[0][0]
        batch = _spool_rows_table(rows)
        self.con.register("_spooled", batch)
        try:
            self.con.execute(
                "INSERT INTO events SELECT DISTINCT ON (run_id, episode_id, seq, type) b.* "
                "FROM _spooled b WHERE NOT EXISTS (SELECT 1 FROM "
                "events e WHERE e.run_id = b.run_id AND e.episode_id IS NOT DISTINCT FROM "
                "b.episode_id AND e.seq = b.seq AND e.type = b.type)"
            )
        except duckdb.Error as exc:
            raise _ingest_error(self.file, self._spool_path, exc) from None
        finally:
            self.con.unregister("_spooled")
        if self._spool_path.exists():
            os.truncate(self._spool_path, 0)
        for segment in segments:
            segment.unlink()
        return self.con.execute("SELECT count(*) FROM events").fetchall()[0][0] - before

    def _resume_run_chain(self) -> None:
        """A writer of a run already in this file continues its run chain."""
        row = self.con.execute(
            "SELECT seq, CAST(payload AS VARCHAR) FROM events WHERE run_id = ? AND episode_id "
            "IS NULL ORDER BY seq DESC LIMIT 1",
            [self.run_id],
        ).fetchone()
        if row is not None:
            self._seq[None] = row[0] + 1
            hexhash = chain.split(row[1])[1]
            self._head[None] = bytes.fromhex(hexhash) if hexhash else chain.ZERO

    # -- writing ---------------------------------------------------------------------------
    def emit(self, payload: Payload, episode_id: str | None = None) -> int:
        """Stage one event of the current step; returns its ``seq``. It is logged by the
        next `commit` (or `end_episode`, `close`) and dropped by `discard`."""
        if self.closed:
            raise MedenvError(f"event store {self.file} is closed")
        type_ = TYPE_NAMES.get(type(payload))
        if type_ is None:
            raise MedenvError(
                f"cannot write a {type(payload).__name__} event: not a declared event type "
                "(medenv.events.schema.EVENT_TYPES)"
            )
        seq = self._seq.get(episode_id, 0)
        prev = self._head.get(episode_id, chain.ZERO)
        payload = with_tokens(payload)  # token counts recorded with the text
        body = encode_payload(payload)
        ts_us = time.time_ns() // 1000
        h = chain.link(prev, self.run_id, episode_id, seq, ts_us, type_, body)
        self._seq[episode_id] = seq + 1
        self._head[episode_id] = h
        self._wrote = True
        tokens = getattr(payload, "tokens", None) if episode_id is not None else None
        self._staged.append((episode_id, seq, ts_us, type_, chain.seal(body, h), prev, tokens))
        return seq

    def discard(self) -> None:
        """Drop the events staged since the last commit (a step that failed half-way)."""
        for episode_id, seq, _ts, _type, _body, prev, _tokens in reversed(self._staged):
            self._seq[episode_id] = seq
            self._head[episode_id] = prev
        self._staged.clear()

    def _promote(self) -> None:
        for episode_id, seq, ts_us, type_, body, _prev, tokens in self._staged:
            self._rows.append((self.run_id, episode_id, seq, ts_us, type_, body.decode()))
            if tokens is not None:  # the episode's token sums, for its seal
                sums = self._tokens.setdefault(episode_id, [0, 0])
                sums[0] += tokens
                if type_ == "action_received":
                    sums[1] += tokens
            if self._spool is not None:
                self._unspooled.append(
                    encode_line(self.run_id, episode_id, seq, ts_us, type_, body)
                )
        self._staged.clear()

    def commit(self) -> None:
        """End of a step: log the staged events and make them durable per ``durability``.
        A failed spool write raises `SpoolError`; the events stay pending."""
        self._promote()
        if self.durability in ("step", "sync") or len(self._unspooled) >= self.batch_events:
            self._write_spool()
        if len(self._rows) >= 4 * self.batch_events:  # an episode that goes on and on
            self._ingest_in_background()

    def end_episode(self, episode_id: str | None = None) -> None:
        """End of an episode: seal its chain in the run chain, spool (``"episode"`` mode)
        and ingest when a batch is full."""
        self._promote()
        if episode_id is not None and episode_id in self._seq:
            head = self._head.get(episode_id, chain.ZERO)
            tokens, action_tokens = self._tokens.get(episode_id, (0, 0))
            self.emit(
                EpisodeSealed(
                    episode_id=episode_id, events=self._seq[episode_id], hash=head.hex(),
                    tokens=tokens, action_tokens=action_tokens,
                )
            )  # fmt: skip
            self._promote()
            self._sealed += 1
        if self.durability != "none":
            self._write_spool()
        if episode_id is not None:
            self._seq.pop(episode_id, None)
            self._head.pop(episode_id, None)
            self._tokens.pop(episode_id, None)
        if len(self._rows) >= self.batch_events:
            self._ingest_in_background()

    def _write_spool(self) -> None:
        if self._unspooled and self._spool is not None:
            self._spool.write(b"".join(self._unspooled))
            self._unspooled.clear()

    def _ingest_in_background(self) -> None:
        """Hand every pending event to the ingest thread (after the previous ingest ends):
        the spool, which holds exactly them, becomes segment ``k`` and a fresh spool opens."""
        self._write_spool()
        self.drain()
        rows, self._rows = self._rows, []
        segments, self._segments = self._segments, []
        if self._spool is not None:
            self._segment += 1
            segment = _sidecar(self.file, f".spool-{self._segment}")
            os.replace(self._spool_path, segment)
            self._spool.close()
            self._spool = Spool(self._spool_path, sync=self.durability == "sync")
            if self._spool.sync:  # the rename and the new file survive a power loss
                _fsync_dir(self.file.parent)
            segments.append(segment)
        self._ingest = threading.Thread(
            target=self._ingest_rows, args=(rows, segments), name="medenv-ingest", daemon=True
        )
        self._ingest.start()

    def _ingest_rows(self, rows: list[tuple], segments: list[Path]) -> None:
        """The ingest thread: insert ``rows``, then delete the spool segments holding them."""
        try:
            self._insert(rows)
        except MedenvError as exc:
            self._ingest_failure = (exc, rows, segments)
            return
        for segment in segments:
            try:
                segment.unlink()
            except OSError:  # pragma: no cover - gone already: the next reader dedups anyway
                pass

    def drain(self) -> None:
        """Wait for the background ingest; a failed one raises its `MedenvError` and its
        events are pending again (its spool segment stays until they are ingested)."""
        if self._ingest is not None:
            self._ingest.join()
            self._ingest = None
        if self._ingest_failure is not None:
            exc, rows, segments = self._ingest_failure
            self._ingest_failure = None
            self._rows[:0] = rows
            self._segments[:0] = segments
            raise exc

    def _insert(self, rows: list[tuple]) -> None:
        batch = _arrow(rows)
        self.con.register("_batch", batch)
        try:
            self.con.execute("INSERT INTO events SELECT * FROM _batch")
        except duckdb.Error as exc:
            raise _ingest_error(self.file, self._spool_path, exc) from None
        finally:
            self.con.unregister("_batch")

    def flush(self) -> None:
        """Ingest every pending event into DuckDB (one Arrow batch) now, after the background
        ingest; then empty the spool and delete the segments of failed ingests."""
        self._write_spool()
        self.drain()
        if not self._rows:
            return
        self._insert(self._rows)
        self._rows.clear()
        if self._spool is not None:
            self._spool.clear()
        for segment in self._segments:
            segment.unlink(missing_ok=True)
        self._segments.clear()

    def close(self) -> None:
        """Log what is staged, mark the run closed, ingest what is pending and release the
        file. Safe to call twice. A failure (disk full) still releases the file and raises
        one MedenvError; what reached the spool is ingested by the next writer."""
        if self.closed:
            return
        try:
            self._promote()
            if self._wrote:
                self.emit(RunClosed(episodes=self._sealed))
                self._promote()
            self.flush()
        finally:
            self.closed = True
            if self._ingest is not None:  # a failure above: let the thread end first
                self._ingest.join()
            try:
                self.con.close()
            except duckdb.Error:  # pragma: no cover - closing a connection after a failure
                pass
            if self._spool is not None:
                self._spool.close()
                try:
                    if self._spool_path.stat().st_size == 0:
                        self._spool_path.unlink()
                except OSError:
                    pass
            self._lock.release()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            if not getattr(self, "closed", True) and self._pid == os.getpid():
                self.close()
        except Exception:
            pass


# ---------------------------------------------------------------- reading -------------------


def resolve_files(paths_or_glob: str | Path | Sequence[str | Path]) -> list[Path]:
    """Store files named by a path (its shards included), a folder, a glob, or a list.

    A path that exists is always taken literally (``runs[1].duckdb`` is that file); only a
    path that does not exist and holds ``*``, ``?`` or ``[`` is expanded as a glob.
    Parquet sources (`medenv.events.parquet.is_parquet_source`: a URL, ``*.parquet``, a
    folder of Parquet shards) are returned as given, as ``str``; `connect` reads them."""
    items = [paths_or_glob] if isinstance(paths_or_glob, str | Path) else list(paths_or_glob)
    files: list[Path] = []
    for item in items:
        if is_parquet_source(item):  # Parquet shards: kept as given (a str), read by connect
            files.append(str(item))
            continue
        text = str(Path(item).expanduser())
        if not Path(text).exists() and any(ch in text for ch in "*?["):
            found = [Path(p) for p in sorted(globlib.glob(text)) if p.endswith(".duckdb")]
        elif Path(text).is_dir():
            found = sorted(Path(text).glob("*.duckdb"))
        else:
            found = shard_files(text)
        if not found:
            raise MedenvError(f"no event store at {item}")
        files.extend(f for f in found if f not in files)
    return files


VIEWS_SQL = """
CREATE OR REPLACE VIEW runs AS
SELECT run_id, min(ts) AS started_at,
  any_value(payload->>'$.kg_source') AS kg_source,
  any_value(payload->>'$.kg_version') AS kg_version,
  any_value(payload->>'$.corpus_hash') AS corpus_hash,
  any_value(payload->>'$.parser_version') AS parser_version,
  any_value(TRY_CAST(payload->>'$.seed' AS BIGINT)) AS seed,
  any_value(payload->'$.reward_weights') AS reward_weights,
  any_value(payload->'$.config') AS config,
  count(*) AS n_writers,
  any_value(payload->>'$.index_hash') AS index_hash
FROM events WHERE type = 'run_started' GROUP BY run_id;

CREATE OR REPLACE VIEW episodes AS
WITH s AS (SELECT run_id, episode_id, ts, payload FROM events WHERE type = 'episode_started'),
r AS (SELECT episode_id, payload FROM events WHERE type = 'reward_assigned'),
e AS (SELECT episode_id, ts, payload FROM events WHERE type = 'episode_ended'),
a AS (SELECT episode_id, arg_max(payload->>'$.answer', seq) AS prediction
      FROM events WHERE type = 'answer_submitted' GROUP BY episode_id)
SELECT s.run_id, s.episode_id,
  s.payload->>'$.question_id' AS question_id,
  TRY_CAST(s.payload->>'$.seed' AS BIGINT) AS seed,
  s.payload->>'$.split' AS split,
  s.payload->>'$.specialty' AS specialty,
  CAST(s.payload->>'$.n_hops' AS INTEGER) AS n_hops,
  CAST(s.payload->>'$.optimal_calls' AS INTEGER) AS optimal_calls,
  s.payload->>'$.answer' AS answer,
  a.prediction,
  CAST(r.payload->>'$.correct' AS BOOLEAN) AS correct,
  CAST(r.payload->>'$.total' AS DOUBLE) AS reward,
  CAST(r.payload->>'$.accuracy' AS DOUBLE) AS accuracy,
  CAST(r.payload->>'$.format' AS DOUBLE) AS format,
  CAST(r.payload->>'$.efficiency' AS DOUBLE) AS efficiency,
  CAST(r.payload->>'$.evidence_recall' AS DOUBLE) AS evidence_recall,
  r.payload->'$.components' AS components,
  CAST(e.payload->>'$.n_tool_calls' AS INTEGER) AS n_tool_calls,
  CAST(e.payload->>'$.n_format_errors' AS INTEGER) AS n_format_errors,
  CAST(e.payload->>'$.steps' AS INTEGER) AS steps,
  CAST(e.payload->>'$.terminated' AS BOOLEAN) AS terminated,
  CAST(e.payload->>'$.truncated' AS BOOLEAN) AS truncated,
  e.episode_id IS NOT NULL AS finished,
  s.payload->>'$.tags.agent' AS agent,
  TRY_CAST(s.payload->>'$.tags.training_step' AS BIGINT) AS training_step,
  s.payload->'$.tags' AS tags,
  s.payload->>'$.config_hash' AS config_hash,
  s.ts AS started_at, e.ts AS ended_at
FROM s LEFT JOIN r USING (episode_id) LEFT JOIN e USING (episode_id)
LEFT JOIN a USING (episode_id);

CREATE OR REPLACE VIEW tool_calls AS
WITH c AS (SELECT run_id, episode_id, seq, ts, payload FROM events WHERE type = 'tool_called'),
t AS (SELECT episode_id, payload FROM events WHERE type = 'tool_returned')
SELECT c.run_id, c.episode_id,
  CAST(c.payload->>'$.step' AS INTEGER) AS step,
  CAST(c.payload->>'$.call' AS INTEGER) AS call,
  c.payload->>'$.name' AS name,
  c.payload->'$.arguments' AS arguments,
  t.payload->>'$.observation' AS observation,
  CAST(t.payload->>'$.ok' AS BOOLEAN) AS ok,
  t.payload->>'$.error' AS error,
  CAST(t.payload->>'$.latency_ms' AS DOUBLE) AS latency_ms,
  t.payload->'$.doc_ids' AS doc_ids,
  CAST(json_array_length(t.payload->'$.doc_ids') AS INTEGER) AS n_docs,
  c.ts
FROM c LEFT JOIN t ON t.episode_id = c.episode_id
  AND t.payload->>'$.step' = c.payload->>'$.step' AND t.payload->>'$.call' = c.payload->>'$.call';

CREATE OR REPLACE VIEW steps AS
WITH a AS (SELECT run_id, episode_id, ts, payload FROM events WHERE type = 'action_received'),
j AS (SELECT episode_id, CAST(payload->>'$.step' AS INTEGER) AS step,
        payload->>'$.kind' AS error_kind, payload->>'$.message' AS error_message,
        payload->>'$.observation' AS observation
      FROM events WHERE type = 'action_rejected'),
t AS (SELECT episode_id, CAST(payload->>'$.step' AS INTEGER) AS step,
        string_agg(payload->>'$.name', ',' ORDER BY seq) AS tool,
        string_agg(payload->>'$.observation', chr(10) || chr(10) ORDER BY seq) AS observation,
        count(*) AS n_calls, sum(CAST(payload->>'$.latency_ms' AS DOUBLE)) AS latency_ms
      FROM events WHERE type = 'tool_returned' GROUP BY ALL)
SELECT a.run_id, a.episode_id,
  CAST(a.payload->>'$.step' AS INTEGER) AS step,
  a.payload->>'$.text' AS action,
  a.payload->>'$.think' AS think,
  CASE WHEN j.error_kind IS NOT NULL THEN 'rejected'
       WHEN t.tool = 'answer' THEN 'answer' ELSE 'tool' END AS outcome,
  t.tool, COALESCE(t.n_calls, 0) AS n_calls,
  COALESCE(j.observation, t.observation) AS observation,
  j.error_kind, j.error_message, t.latency_ms, a.ts
FROM a LEFT JOIN j ON j.episode_id = a.episode_id AND j.step = CAST(a.payload->>'$.step' AS INTEGER)
LEFT JOIN t ON t.episode_id = a.episode_id AND t.step = CAST(a.payload->>'$.step' AS INTEGER);
"""


def connect(paths_or_glob: str | Path | Sequence[str | Path]) -> duckdb.DuckDBPyConnection:
    """A read-only view of one or more store files: table ``events`` and the views.

    Leftovers in a killed writer's spool are included (not yet ingested: the next writer
    ingests them); problems found in a spool (a torn tail, a skipped line) are listed by
    `spool_notes`. ``events_by_file`` is ``events`` with a leading ``file`` column (the
    index into `connected_files`). A file still open by a writer raises MedenvError (close
    the writer first).
    """
    files = resolve_files(paths_or_glob)
    con = duckdb.connect()
    parts, notes = [], []
    for i, file in enumerate(files):
        if isinstance(file, str):  # Parquet shards (`medenv.events.parquet`)
            try:
                # one ``file`` per exported shard: each has its own run-level chain
                parts.append(
                    f"SELECT {i} + {len(files)} * shard AS file, * EXCLUDE (shard) "
                    f"FROM ({parquet_relation(con, file)})"
                )
            except MedenvError:
                con.close()
                raise
            continue
        try:
            con.execute(f"ATTACH '{_sql_str(file)}' AS s{i} (READ_ONLY)")
        except duckdb.Error as exc:
            con.close()
            owner = _lock_owner(file)
            if owner:
                raise MedenvError(
                    f"cannot read event store {file}: process {owner} is writing it; wait "
                    f"for it to finish (or stop it) first ({str(exc).splitlines()[0]})"
                ) from None
            raise MedenvError(
                f"cannot read event store {file}: {str(exc).splitlines()[0]}"
            ) from None
        try:
            if _check_events_table(con, f"s{i}", file):
                parts.append(f"SELECT {i} AS file, * FROM s{i}.events")
        except MedenvError:
            con.close()
            raise
        spooled, spool_problems = read_spools(file)
        notes.extend(spool_problems)
        if spooled:
            con.register(f"_spool{i}", _spool_rows_table(spooled))
            con.execute(
                f"CREATE TEMP TABLE spool{i} AS SELECT DISTINCT ON (run_id, episode_id, seq, "
                f"type) b.* FROM _spool{i} b WHERE NOT EXISTS (SELECT 1 FROM s{i}.events e "
                "WHERE e.run_id = b.run_id AND e.episode_id IS NOT DISTINCT FROM b.episode_id "
                "AND e.seq = b.seq AND e.type = b.type)"
            )
            con.unregister(f"_spool{i}")
            parts.append(f"SELECT {i} AS file, * FROM spool{i}")
    if not parts:  # only empty files: an empty table of the right shape
        con.execute("CREATE TEMP TABLE _empty AS SELECT 0 AS file, * FROM (" + _EMPTY + ")")
        parts.append("SELECT * FROM _empty")
    con.execute("CREATE OR REPLACE TEMP VIEW events_by_file AS " + " UNION ALL ".join(parts))
    con.execute(
        "CREATE OR REPLACE TEMP VIEW events AS SELECT run_id, episode_id, seq, ts, type, "
        "payload FROM events_by_file"
    )
    con.execute(VIEWS_SQL.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW"))
    _CONNECTED[con] = (files, notes)
    return con


_EMPTY = (
    "SELECT NULL::VARCHAR AS run_id, NULL::VARCHAR AS episode_id, NULL::INTEGER AS seq, "
    "NULL::TIMESTAMP AS ts, NULL::VARCHAR AS type, NULL::JSON AS payload LIMIT 0"
)

# What `connect` opened, per connection: the files and the notes on their spools.
_CONNECTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def connected_files(con: duckdb.DuckDBPyConnection) -> list[Path]:
    """The store files a `connect` result reads (``events_by_file.file`` indexes it)."""
    return _CONNECTED.get(con, ([], []))[0]


def spool_notes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per problem `connect` found in a spool (torn tail, skipped line)."""
    return _CONNECTED.get(con, ([], []))[1]


EVENT_COLUMNS = tuple(field.name for field in ARROW_SCHEMA)


def _check_events_table(
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


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _lock_owner(file: Path) -> str | None:
    lock = _sidecar(file, ".lock")
    if not lock.exists():
        return None
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None  # nobody holds it
    except BlockingIOError:
        return os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
    finally:
        os.close(fd)


def _as_con(source) -> tuple[duckdb.DuckDBPyConnection, bool]:
    if isinstance(source, duckdb.DuckDBPyConnection):
        return source, False
    return connect(source), True


def _events(rows) -> list[Event]:
    return [
        Event(
            run_id=r[0],
            episode_id=r[1],
            seq=r[2],
            ts=r[3] if isinstance(r[3], datetime) else datetime.fromtimestamp(0, UTC),
            type=r[4],
            payload=decode_payload(r[4], r[5]),
        )
        for r in rows
    ]


def read_episode(source, episode_id: str) -> list[Event]:
    """The events of one episode in order, from paths/a glob or an open `connect` result."""
    con, owned = _as_con(source)
    try:
        rows = con.execute(
            "SELECT run_id, episode_id, seq, ts, type, payload FROM events "
            "WHERE episode_id = ? ORDER BY seq",
            [episode_id],
        ).fetchall()
        if not rows:
            raise MedenvError(f"no episode {episode_id!r} in the event store")
        run_started = read_run_started(con, rows[0][0])
    finally:
        if owned:
            con.close()
    return ([run_started] if run_started else []) + _events(rows)


def iter_episodes(con: duckdb.DuckDBPyConnection, batch: int = 20_000):
    """``(episode_id, events)`` for every episode of a `connect` result, in episode id
    order, each as `read_episode` gives it (run_started first), from one scan of the store
    (reading episodes one by one scans it once per episode). Run no other query on ``con``
    while iterating: DuckDB would end the scan's result."""
    runs = con.execute("SELECT DISTINCT run_id FROM events WHERE episode_id IS NOT NULL")
    runs = {r[0]: read_run_started(con, r[0]) for r in runs.fetchall()}  # before the scan:
    cur = con.execute(  # another query on ``con`` would end this one's result
        "SELECT run_id, episode_id, seq, ts, type, payload FROM events "
        "WHERE episode_id IS NOT NULL ORDER BY episode_id, seq"
    )
    current, rows = None, []
    while chunk := cur.fetchmany(batch):
        for row in chunk:
            if row[1] != current:
                if rows:
                    yield current, _with_run(runs.get(rows[0][0]), rows)
                current, rows = row[1], []
            rows.append(row)
    if rows:
        yield current, _with_run(runs.get(rows[0][0]), rows)


def _with_run(run_started: Event | None, rows) -> list[Event]:
    return ([run_started] if run_started else []) + _events(rows)


# A run's run_started is written before any of its episodes and never changes, so what a
# connection found for a run (or that it has none) is remembered per open connection:
# reading many episodes of a run scans for it once (a scan is ~2 ms per 100k events).
_RUN_STARTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def read_run_started(source, run_id: str) -> Event | None:
    """The first ``run_started`` event of ``run_id`` (None when the store has none)."""
    con, owned = _as_con(source)
    cache = {} if owned else _RUN_STARTED.setdefault(con, {})
    if run_id in cache:
        return cache[run_id]
    try:
        rows = con.execute(
            "SELECT run_id, episode_id, seq, ts, type, payload FROM events "
            "WHERE run_id = ? AND type = 'run_started' ORDER BY ts LIMIT 1",
            [run_id],
        ).fetchall()
    finally:
        if owned:
            con.close()
    cache[run_id] = event = _events(rows)[0] if rows else None
    return event

"""The event store: one DuckDB table of events, written in Arrow batches through a spool.

Writing (`EventStore`): ``emit`` stages an event (its type checked, its ``seq`` and time
taken), ``emit_step`` a whole env step (`medenv.events.logged_step.LoggedStep`: its
events take consecutive ``seq``s and are spooled as one line that readers expand into
them); ``commit`` (called at the end of every env step) encodes the staged step's events
as raw spool lines (`medenv.events.encode.encode_staged`: `encode_payload`'s JSON, which
never raises for declared types; no token count, no hash), moves them to the pending events
and makes them durable according to ``durability``; ``discard`` drops a staged step that
failed half-way, so a step is logged whole or not at all. The seal (token counts, the hash
chain of `medenv.events.chain`, each episode's ``episode_sealed`` with its token sums and
summary) is added where a line becomes a row, by `medenv.events.sealer.Sealer`: in the
ingest process, in recovery and in readers of leftovers; in thread mode by this writer at
``commit``. `end_episode` writes a placeholder ``episode_sealed`` (its ``seq``, time and
event count taken here) that the sealer completes:

- ``"sync"``: written to the spool file and fsync'd every step (survives power loss);
- ``"step"`` (default): written to the spool every step (survives ``kill -9``);
- ``"episode"``: written to the spool at each episode end (a kill loses the open episode);
- ``"none"``: kept in memory until ingested (a kill loses everything not yet ingested).

Events are ingested into DuckDB as one Arrow batch (never per-row INSERTs) at the first
episode end after ``batch_events`` are pending, and on ``close``, off the step path: at
hand-off the spool is renamed to a numbered segment ``<file>.spool-<k>`` and a fresh spool
opened; a segment is deleted only once its events are in DuckDB, so every logged event not
yet in DuckDB is in a spool file at every moment (the durability modes keep their meaning).
``ingest="process"`` (the default where `medenv.forking.can_fork_child` and the durability
spools): the segments are queued to a child ingest process that holds the DuckDB file
(`medenv.events.ingest_child`: its inserts and checkpoints take no CPU or GIL from this
process; killed, its work is redone here; the writer keeps no copy of the events).
``ingest="thread"`` (elsewhere, and ``durability="none"``): pending events are held column
by column (`medenv.events.ingest.Pending`) and inserted by a background thread, one ingest
at a time; while it runs, pending events stay in the spool and are handed over at a later
episode end (up to `HOLD_BATCHES` batches; past that the writer waits for it). `drain`
waits for the ingest and re-raises its failure (its events stay pending and its segment
on disk until they are ingested). An episode that never ends is not held in memory: in
``"episode"`` mode its events go to the spool once ``batch_events`` are buffered, and
pending events are ingested mid-episode once `HOLD_BATCHES` x ``batch_events`` are
pending. A failed spool write (disk full) leaves the spool at its last complete line
(`medenv.events.spool`), raises `SpoolError` and keeps the events pending for the next
write. A spool left by a killed writer is ingested by the next writer of that file (a torn
tail is dropped, noted in ``recovered_notes``; a line that is not an event is kept in
``<file>.unreadable``, `medenv.events.files.keep_unreadable`), and readers see it too. One writer per
file, enforced with a lock file (a second writer gets MedenvError); parallel workers use
shard files ``<stem>.shard-<k>.duckdb`` next to the main file, and `connect` reads the
main file and all its shards together.

Modules: `medenv.events.files` (paths, shards, spool segments, the lock),
`medenv.events.table` (the table and its Arrow schema), `medenv.events.ingest` (inserts, the
background thread, recovery), `medenv.events.ingest_child` (the ingest process),
`medenv.events.handoff` (the writer's hand-off of pending events to either),
`medenv.events.reader` (`connect` and typed reads); this module is the writer and
re-exports their public names.

Reading: `connect(paths_or_glob)` returns an in-memory DuckDB connection with the table
``events`` (all files, plus unspooled leftovers) and the views ``runs``, ``episodes``,
``steps`` and ``tool_calls`` (columns documented in README.md, "Event log (DuckDB)").
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import duckdb

from medenv.errors import MedenvError, is_utf8_text
from medenv.events import chain
from medenv.events.encode import EVENT_KINDS, encode_staged, line_key, payload_start
from medenv.events.files import (
    acquire,
    check_run_id,
    new_run_id,
    read_spools,
    resolve_files,
    shard_files,
    shard_path,
    sidecar,
    spool_segments,
)
from medenv.events.handoff import HOLD_BATCHES, Handoff
from medenv.events.ingest import Ingester, Pending, recover
from medenv.events.ingest_child import ChildIngest
from medenv.events.logged_step import STEP_KIND, LoggedStep, event_count, events_of
from medenv.events.reader import (  # noqa: F401  (_as_con: medenv.verify reads it here)
    VIEWS_SQL,
    _as_con,
    connect,
    connected_files,
    iter_episodes,
    read_episode,
    read_run_started,
    spool_notes,
)
from medenv.events.schema import EpisodeSealed, Payload, RunClosed
from medenv.events.sealer import Sealer
from medenv.events.spool import SpoolRecoveryWarning, open_spool
from medenv.events.table import (
    ARROW_SCHEMA,
    EVENT_COLUMNS,
    TABLE_SQL,
    WRITER_CONFIG,
    check_events_table,
    create_table,
)
from medenv.events.tokens import TOKEN_FIELDS
from medenv.forking import can_fork_child
from medenv.paths import check_out_file

__all__ = [
    "ARROW_SCHEMA", "DURABILITY", "EVENT_COLUMNS", "TABLE_SQL", "VIEWS_SQL", "EventStore",
    "SpoolRecoveryWarning",
    "check_run_id", "connect", "connected_files", "iter_episodes", "new_run_id", "read_episode",
    "read_run_started", "read_spools", "resolve_files", "shard_files", "shard_path",
    "spool_notes", "spool_segments",
]  # fmt: skip

DURABILITY = ("sync", "step", "episode", "none")
INGEST = ("auto", "process", "thread")


class EventStore(Handoff):
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
        ingest: str = "auto",
    ) -> None:
        if durability not in DURABILITY:
            raise MedenvError(f"durability must be one of {DURABILITY}, got {durability!r}")
        if ingest not in INGEST or (ingest == "process" and durability == "none"):
            raise MedenvError(
                f"ingest must be one of {INGEST} ('process' needs a spool: durability other "
                f"than 'none'), got {ingest!r} with durability {durability!r}"
            )
        if ingest == "auto":
            ingest = "process" if durability != "none" and can_fork_child() else "thread"
        self.ingest = ingest
        self.base = Path(path).expanduser()
        check_out_file(self.base, "event store")
        try:
            self.base.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MedenvError(
                f"cannot create the folder of event store {self.base}: {exc}"
            ) from None
        self.run_id = check_run_id(run_id) or new_run_id()
        self.durability = durability
        self._spool_each_step = durability in ("step", "sync")
        self.batch_events = max(1, int(batch_events))
        self.shard, self._lock = acquire(self.base, shard)
        self.file = shard_path(self.base, self.shard)
        try:
            self.con: duckdb.DuckDBPyConnection | None = self._connect()
        except MedenvError:
            self._lock.release()
            raise
        self._spool_path = sidecar(self.file, ".spool")
        self.recovered_notes: list[str] = []
        try:
            check_events_table(self.con, None, self.file, writing=True)
            create_table(self.con)
            self.recovered = self._recover()  # a failure names the spool that keeps them
        except MedenvError:  # the file is not left open, nor locked, by a failed open
            self.con.close()
            self._lock.release()
            raise
        self._segment = 0  # number of the last spool segment handed to an ingest
        self._segments: list[Path] = []  # segments whose events failed to ingest (pending)
        self._ingester = Ingester(self.con, self.file, self._spool_path)
        self._spool = (
            None if durability == "none" else open_spool(self._spool_path, durability == "sync")
        )
        # committed, not yet in DuckDB: by column (thread), or counted (process: the spool
        # holds them, and `ChildIngest` reads them from there)
        self._rows = Pending(self.run_id) if ingest == "thread" else None
        self._pending = 0
        self._child: ChildIngest | None = None  # started at the first hand-off
        self.ingest_notes: list[str] = []  # ingest processes that died (their events kept)
        self._unspooled: list[bytes] = []  # committed steps' lines, not yet in the spool
        self._unspooled_events = 0
        # emitted during the current step (not committed), each as the tuple its spool line
        # is the JSON of: (run_id, episode_id, seq, ts_us, type, payload)
        self._staged: list[tuple] = []
        self._staged_events = 0  # events those rows stand for (a step row: its events)
        self._seq: dict[str | None, int] = {}
        self._keys: dict[str | None, bytes] = {}  # thread mode: `encode.line_key` by chain
        # thread mode: this writer seals its events for the ingest thread (process mode:
        # the ingest process seals the spool's raw lines)
        self._sealer = Sealer() if ingest == "thread" else None
        self._sealed = 0
        self._wrote = False
        self.closed = False
        self._pid = os.getpid()  # a forked child never closes its parent's store
        self._resume_run_chain()

    # -- opening ---------------------------------------------------------------------------
    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(self.file), config=WRITER_CONFIG)
        except duckdb.Error as exc:
            raise MedenvError(
                f"cannot open event store {self.file} for writing: {exc}".splitlines()[0]
            ) from None

    def _recover(self) -> int:
        """Ingest events a killed writer left in the spool; returns how many were new. What
        it could not take is warned about, since the spool is emptied afterwards: a torn
        last line (dropped: its write never returned) and a line that is not an event (kept
        in ``<file>.unreadable``, named in the warning)."""
        count, self.recovered_notes = recover(self.con, self.file, self._spool_path)
        for note in self.recovered_notes:
            warnings.warn(f"event store recovery: {note}", SpoolRecoveryWarning, stacklevel=3)
        return count

    def _resume_run_chain(self) -> None:
        """A writer of a run already in this file continues its run chain."""
        rows = self.con.execute(  # fetchall: a result left unfinished blocks the connection
            "SELECT seq, CAST(payload AS VARCHAR) FROM events WHERE run_id = ? AND episode_id "
            "IS NULL ORDER BY seq DESC LIMIT 1",
            [self.run_id],
        ).fetchall()
        if rows:
            row = rows[0]
            self._seq[None] = row[0] + 1
            if self._sealer is not None:
                hexhash = chain.split(row[1])[1]
                head = bytes.fromhex(hexhash) if hexhash else chain.ZERO
                self._sealer.resume(self.run_id, None, row[0] + 1, head)

    # -- writing ---------------------------------------------------------------------------
    def emit(self, payload: Payload, episode_id: str | None = None) -> int:
        """Stage one event of the current step; returns its ``seq``. It is logged by the
        next `commit` (or `end_episode`, `close`) and dropped by `discard`. Its time is
        taken here; it is encoded (`medenv.events.encode.encode_staged`) with the rest of
        its step, once, when the step is committed, and sealed (token count, hash) where
        its line becomes a row (`medenv.events.sealer`). Refused (MedenvError): a closed
        store, a payload of no declared event type, an ``episode_id`` that is neither None
        nor UTF-8 text."""
        return self._stage(payload, episode_id, time.time_ns() // 1000)

    def _stage(self, payload: Payload, episode_id: str | None, ts_us: int) -> int:
        kind = EVENT_KINDS.get(type(payload))
        try:
            seq = self._seq[episode_id]
        except (KeyError, TypeError):  # the chain's first event (or no chain's id)
            seq = self._first_of_chain(payload, episode_id)
        if kind is None or self.closed:
            self._first_of_chain(payload, episode_id)  # raises
        self._seq[episode_id] = seq + 1
        self._wrote = True
        self._staged.append((self.run_id, episode_id, seq, ts_us, kind, payload))
        self._staged_events += 1
        return seq

    def emit_step(self, step: LoggedStep, episode_id: str) -> int:
        """Stage a whole env step (`medenv.events.logged_step`): its events, `events_of`
        ``step`` at the times it holds, take the ``seq`` returned and the ones after it,
        and are spooled as one line (read back as those events) at the next `commit`; in
        thread mode, where this writer seals events, they are staged one by one. Refused
        as `emit` refuses, for anything but a `LoggedStep` and for no ``episode_id`` (a step
        belongs to an episode)."""
        if type(step) is not LoggedStep or episode_id is None:
            raise MedenvError(
                f"emit_step takes a LoggedStep and an episode id, got a {type(step).__name__} "
                f"and {episode_id!r}"
            )
        if self._rows is not None:
            seqs = [self._stage(payload, episode_id, ts) for ts, payload in events_of(step)]
            return seqs[0]
        try:
            seq = self._seq[episode_id]
        except (KeyError, TypeError):
            seq = self._first_of_chain(None, episode_id)
        if self.closed:
            self._first_of_chain(None, episode_id)  # raises
        events = event_count(step)
        self._seq[episode_id] = seq + events
        self._wrote = True
        self._staged.append((self.run_id, episode_id, seq, step.ts_us, STEP_KIND, step))
        self._staged_events += events
        return seq

    def _first_of_chain(self, payload: Payload | None, episode_id) -> int:
        """`emit`'s checks, in order (the step path makes them once per chain; ``payload``
        None: a whole step, whose type `emit_step` checked): raises MedenvError for what
        `emit` refuses; else 0, the ``seq`` a chain begins at."""
        if self.closed:
            raise MedenvError(f"event store {self.file} is closed")
        if payload is not None and type(payload) not in EVENT_KINDS:
            raise MedenvError(
                f"cannot write a {type(payload).__name__} event: not a declared event type "
                "(medenv.events.schema.EVENT_TYPES)"
            )
        if episode_id is not None and not isinstance(episode_id, str):  # no reader takes it
            raise MedenvError(f"episode_id must be a string or None, got {episode_id!r}")
        if episode_id is not None and not is_utf8_text(episode_id):
            raise MedenvError(
                f"episode_id must be valid text (UTF-8 encodable), got {episode_id!r}"
            )
        return 0

    def discard(self) -> None:
        """Drop the events staged since the last commit (a step that failed half-way)."""
        for _, episode_id, seq, *_ in reversed(self._staged):
            self._seq[episode_id] = seq
        self._staged.clear()
        self._staged_events = 0

    def _promote(self) -> None:
        """Log the staged events: encode them (all or, on an error, none: the step can
        still be discarded) and queue their raw lines for the spool; in thread mode, seal
        them into the pending rows too."""
        staged = self._staged
        if not staged:
            return
        data = encode_staged(staged)
        rows = self._rows
        if rows is not None:  # the sealed payload, from the raw one in its line
            seal, keys = self._sealer.seal, self._keys
            for (run_id, episode_id, seq, ts_us, kind, payload), line in zip(
                staged,
                data.split(b"\n"),
                strict=False,  # (the split ends with b"")
            ):
                key = keys.get(episode_id)
                if key is None:
                    key = keys[episode_id] = line_key(run_id, episode_id)
                start = payload_start(key, seq, ts_us, kind)
                field = TOKEN_FIELDS.get(type(payload))  # its text, counted as it is
                text = None if field is None else getattr(payload, field)
                body = seal(run_id, episode_id, seq, ts_us, kind, line[start:-1], text)
                rows.append(episode_id, seq, ts_us, kind, body)
        events, self._staged_events = self._staged_events, 0
        if self._spool is not None:
            self._unspooled.append(data)
            self._unspooled_events += events
        self._pending += events
        staged.clear()

    def _count(self) -> int:
        """Committed events not yet handed to an ingest."""
        return self._pending if self._rows is None else len(self._rows)

    def commit(self) -> None:
        """End of a step: log the staged events and make them durable per ``durability``.
        A failed spool write raises `SpoolError`; the events stay pending."""
        if self._staged:
            self._promote()
        if self._unspooled and (
            self._spool_each_step or self._unspooled_events >= self.batch_events
        ):
            self._write_spool()
        if self._count() >= HOLD_BATCHES * self.batch_events:  # a long, long episode
            self._ingest_in_background(wait=True)

    def end_episode(self, episode_id: str | None = None) -> None:
        """End of an episode: seal its chain in the run chain, spool (``"episode"`` mode)
        and ingest when a batch is full."""
        events = self._seq.get(episode_id) if episode_id is not None else None
        if events is not None:
            # a placeholder: its hash, token sums and summary are filled in where it is
            # sealed (`medenv.events.sealer`); its seq and time are taken here
            self.emit(EpisodeSealed(episode_id=episode_id, events=events, hash=""))
        self._promote()  # the episode's last events and its seal, encoded together
        if events is not None:
            self._sealed += 1
        if self.durability != "none":
            self._write_spool()
        if episode_id is not None:
            self._seq.pop(episode_id, None)
            self._keys.pop(episode_id, None)
        if self._count() >= self.batch_events:
            self._ingest_in_background(wait=self._count() >= HOLD_BATCHES * self.batch_events)

    def _write_spool(self) -> None:
        if self._unspooled and self._spool is not None:
            self._spool.write_lines(self._unspooled)
            self._unspooled.clear()
            self._unspooled_events = 0

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
            self._ingester.wait()  # a failure above: let the thread end first
            if self._child is not None:
                self._child.close()
            try:
                if self.con is not None:
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

"""The event writer's hand-off of its pending events to DuckDB: `Handoff`, the part of
`medenv.events.store.EventStore` that rotates the spool into segments and gives them to
the ingest process (`medenv.events.ingest_child`, ``ingest="process"``) or the pending
columns to the ingest thread (`medenv.events.ingest.Ingester`, ``ingest="thread"``), waits
for them (`drain`), ingests everything now (`flush`) and recovers from a dead ingest
process. The rules are the store's (its module docstring); the state is the writer's:
``con`` (None while an ingest process holds the file), ``_spool`` / ``_spool_path``,
``_rows`` (the pending columns; None in process mode, where ``_pending`` counts the
events in the live spool), ``_segments`` (segments not ingested yet, kept for the next
hand-off), ``_segment`` (the last segment's number), ``_child``, ``_ingester`` and
``ingest_notes``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from medenv.events.files import sidecar
from medenv.events.ingest import Pending, insert, recover
from medenv.events.ingest_child import ChildDied, ChildIngest, ingest_segments
from medenv.events.spool import SpoolRecoveryWarning, open_spool
from medenv.paths import fsync_dir

# While an ingest runs, up to this many batches of events wait for the next one (the step
# path never waits on DuckDB before that); past it, the writer waits for the ingest. It is
# also the most events held in memory within one long episode.
HOLD_BATCHES = 4


class Handoff:
    """The hand-off half of the writer (module docstring)."""

    def _ingest_in_background(self, wait: bool = True) -> None:
        """Hand every pending event to the ingest thread: the spool, which holds exactly
        them, becomes segment ``k`` and a fresh spool opens. While the previous ingest still
        runs, nothing is handed over unless ``wait`` (then it waits for it first). With an
        ingest process, the segment is queued to it at once (`_hand_to_child`)."""
        self._write_spool()
        if self._rows is None:
            return self._hand_to_child(wait)
        if not wait and self._ingester.busy():
            return  # the events stay pending (and spooled): handed over at a later call
        self.drain()
        rows, self._rows = self._rows, Pending(self.run_id)
        segments, self._segments = self._segments, []
        if self._spool is not None:
            segments.append(self._rotate())
        self._ingester.start(rows, segments)

    def _rotate(self) -> Path:
        """The live spool becomes the next segment; a fresh spool opens."""
        self._segment += 1
        segment = sidecar(self.file, f".spool-{self._segment}")
        os.replace(self._spool_path, segment)
        self._spool.close()
        self._spool = open_spool(self._spool_path, sync=self.durability == "sync")
        if self._spool.sync:  # the rename and the new file survive a power loss
            fsync_dir(self.file.parent)
        self._pending = 0
        return segment

    def _hand_to_child(self, wait: bool) -> None:
        """Queue the live spool (and segments a failed flush left) to the ingest process,
        started at the first call (the writer's connection is closed first). A failure it
        reported earlier is raised first, before anything is handed over. When no process
        can be started (fork fails: too many processes, no memory), this writer ingests the
        spool itself, now, and tries again at the next hand-off."""
        if self._child is None:
            self.con.close()
            self.con = None
            try:
                self._child = ChildIngest(self.file, self._lock.fd)
            except OSError as exc:
                self.con = self._connect()
                self.ingest_notes.append(
                    f"could not start an ingest process ({exc.strerror or exc}); this "
                    "writer ingested the batch itself"
                )
                return self._flush_spool()
        else:
            self._answers(wait or self._child.pending >= HOLD_BATCHES)
            if self._child is None:  # it died: this writer ingested everything
                return
        segments, self._segments = [*self._segments, self._rotate()], []
        self._child.send(segments)

    def _answers(self, wait: bool) -> None:
        """Take the ingest process's answers; raise its failure; recover from its death."""
        try:
            failure = self._child.poll(wait)
        except ChildDied as died:
            self._child.close()
            self._child = None
            self.con = self._connect()
            self._write_spool()
            count, notes = recover(self.con, self.file, self._spool_path)  # segments, spool
            self._spool.clear()  # (emptied by `recover`)
            self._pending, self._segments = 0, []
            self.ingest_notes.append(f"{died}; this writer ingested its {count} events")
            for note in notes:  # the last word on those lines (the spool is emptied)
                self.ingest_notes.append(note)
                warnings.warn(f"event store recovery: {note}", SpoolRecoveryWarning, stacklevel=2)
            return
        if failure is not None:
            raise failure

    def drain(self) -> None:
        """Wait for the background ingest; a failed one raises its `MedenvError` and its
        events are pending again (its spool segment stays until they are ingested)."""
        if self._rows is None:
            if self._child is not None:
                self._answers(wait=True)
            return
        failure = self._ingester.wait()
        if failure is not None:
            exc, rows, segments = failure
            merged = Pending(self.run_id)  # new buffers: the failed batch's were exported
            merged.extend(rows)
            merged.extend(self._rows)
            self._rows = merged
            self._segments[:0] = segments
            raise exc

    def flush(self) -> None:
        """Ingest every pending event into DuckDB (one Arrow batch) now, after the background
        ingest; then empty the spool and delete the segments of failed ingests."""
        self._write_spool()
        if self._rows is None:
            return self._flush_spool()
        self.drain()
        if not self._rows:
            return
        insert(self.con, self.file, self._spool_path, self._rows)
        self._rows = Pending(self.run_id)
        if self._spool is not None:
            self._spool.clear()
        for segment in self._segments:
            segment.unlink(missing_ok=True)
        self._segments.clear()

    def _flush_spool(self) -> None:
        """`flush` when the spool holds the pending events: they go to the ingest process,
        or, when none was started, into DuckDB from here."""
        if self._child is not None:
            if self._pending or self._child.failed:  # (an empty request: a retry)
                rotated = [self._rotate()] if self._pending else []
                segments, self._segments = [*self._segments, *rotated], []
                self._child.send(segments)
            self._answers(wait=True)
            return
        if self._pending:
            self._segments.append(self._rotate())
        if self._segments:
            ingest_segments(self.con, self.file, self._segments)
            self._segments.clear()

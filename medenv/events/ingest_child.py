"""The DuckDB ingest of one store file in a child process, off the stepping process's
CPU and GIL.

`ChildIngest` starts a fresh Python (fork + exec: the child shares none of the writer's
memory, so the writer's pages are never copied on write however long the run) that opens
the store file for writing (the writer closed its own connection first: DuckDB allows one
writer process per file) and serves one request at a time on a socket: a request names
spool segments (`medenv.events.files.spool_segments`: files the writer renamed away from
its live spool, each holding whole event lines; their paths NUL-separated); the child seals
their events (`medenv.events.sealer`: one `Sealer` for the run, so an episode's state
carries from segment to segment; rebuilt from the table after a failed insert) and inserts
them in one statement (`ingest_segments`), deletes the segments and answers ``K<n>`` (the ``n``
requests it took together) or ``E<n> <error>`` (the segments stay on disk and are tried
again with the next request). Requests queue in the socket: the writer never waits for an
insert unless it asks to (`ChildIngest.poll`). The child imports DuckDB, pyarrow and
msgspec only (~0.4 CPU-s, once per run that reaches its first hand-off).

Lifetime: the child ends when the writer closes the socket (`close`) or dies: on Linux it
is sent SIGKILL when the thread that started it ends (``PR_SET_PDEATHSIG``; set only when
the main thread starts it), and it also checks every second that its parent is still the
writer. It holds the writer's lock file descriptor too, so the store stays locked until
both are gone (`medenv.events.files.settle`: the next writer, or a reader, waits for a
dead writer's child). Killed at any point, it loses nothing: an insert is one statement,
and a segment is deleted only after its insert committed; the writer (`ChildDied`) or the
next writer of the file ingests what is left, skipping events already in the table.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

import duckdb
import pyarrow as pa

from medenv.errors import MedenvError
from medenv.events.files import keep_unreadable
from medenv.events.ingest import Pending, insert
from medenv.events.sealer import Sealer, StoredChains
from medenv.events.spool import SpoolContents, read_spool
from medenv.events.table import WRITER_CONFIG, ingest_error, stored_in

_PR_SET_PDEATHSIG = 1


class ChildDied(Exception):
    """The ingest process ended without being asked to (killed, crashed)."""


def ingest_segments(
    con: duckdb.DuckDBPyConnection,
    file: Path,
    segments: list[Path],
    sealer: Sealer | None = None,
    skip_stored: bool | None = None,
) -> int:
    """Insert every complete event line of ``segments``, sealed (`medenv.events.sealer`:
    ``sealer`` holds the chains' state from earlier segments; None: a new one that reads
    what it lacks from ``con``), in one Arrow batch, one statement; keep lines that are not
    events (damaged on disk) in ``<file>.unreadable`` (`medenv.events.files.keep_unreadable`;
    readers note that file), then delete the segments; returns the number of events
    inserted. A DuckDB failure, or one keeping those lines, raises `MedenvError`
    (``medenv.events.table.ingest_error``) and leaves the segments. Keeping the lines comes
    after the insert (a failure there loses no event), so segments tried again may hold
    events the table has: ``skip_stored`` leaves out the events the table already holds
    (``(run, episode, seq, type)``, as `medenv.events.ingest.recover` does; default: when
    no ``sealer`` is given). A caller that keeps its ``sealer`` must, after a failure,
    start a new one (it has sealed those events) and pass ``skip_stored=True``."""
    if skip_stored is None:
        skip_stored = sealer is None
    if sealer is None:
        sealer = Sealer(StoredChains(con))
    seal = sealer.seal
    by_run: dict[str, Pending] = {}
    contents = [read_spool(segment) for segment in segments]
    stored = _stored_keys(con, file, contents) if skip_stored else frozenset()
    for part in contents:
        for run_id, episode_id, seq, ts_us, type_, payload in part.rows:
            if (run_id, episode_id, seq, type_) in stored:
                continue
            rows = by_run.get(run_id)
            if rows is None:
                rows = by_run[run_id] = Pending(run_id)
            body = seal(run_id, episode_id, seq, ts_us, type_, bytes(payload))
            rows.append(episode_id, seq, ts_us, type_, body)
    if by_run:
        insert(con, file, file.with_name(file.name + ".spool"), list(by_run.values()))
    keep_unreadable(file, contents)
    for segment in segments:
        segment.unlink(missing_ok=True)
    return sum(len(rows) for rows in by_run.values())


def _stored_keys(con: duckdb.DuckDBPyConnection, file: Path, contents: list[SpoolContents]):
    """``(run_id, episode_id, seq, type)`` of the events of ``contents`` that the table
    already holds."""
    rows = [row for part in contents for row in part.rows]
    if not rows:
        return frozenset()
    keys = pa.table(
        {
            "run_id": pa.array([r[0] for r in rows], pa.string()),
            "episode_id": pa.array([r[1] for r in rows], pa.string()),
            "seq": pa.array([r[2] for r in rows], pa.int64()),
            "type": pa.array([r[4] for r in rows], pa.string()),
        }
    )
    con.register("_keys", keys)
    try:
        found = con.execute(
            f"SELECT run_id, episode_id, seq, type FROM _keys k WHERE {stored_in('events', 'k')}"
        ).fetchall()
    except duckdb.Error as exc:
        raise ingest_error(file, file.with_name(file.name + ".spool"), exc) from None
    finally:
        con.unregister("_keys")
    return frozenset(found)


def _with_parent(parent: int, deathsig: bool) -> bool:
    """Ask to be killed with the parent's thread (``deathsig``, Linux); whether the parent
    is still the writer ``parent`` (False: it died before that request)."""
    if deathsig and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the ppid check stays
            pass
    return os.getppid() == parent


def _as_batch_work() -> None:
    """Mark this process as batch work (Linux ``SCHED_BATCH``, same nice value): when it
    shares a core with the stepping process, the scheduler does not preempt the stepper
    to run it on wakeup, so an insert stretches no step; it still gets its fair share of
    CPU. Where there is no such policy, nothing."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        pass


def _serve(conn, file: Path, parent: int, deathsig: bool) -> None:
    """The child's loop (module docstring)."""
    if not _with_parent(parent, deathsig):  # the writer is gone already
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's to handle
    _as_batch_work()
    try:
        con = duckdb.connect(str(file), config=WRITER_CONFIG)
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        conn.send_bytes(f"E0 cannot open event store {file} to ingest: {first}".encode())
        return
    queue: list[Path] = []
    sealer = Sealer(StoredChains(con))  # open chains' state, kept from request to request
    retry = False  # the queue holds segments of a failed request (some events may be in)
    try:
        while True:
            if not conn.poll(1.0):
                if os.getppid() != parent:
                    return
                continue
            taken = [conn.recv_bytes()]
            while conn.poll(0):
                taken.append(conn.recv_bytes())
            queue += [Path(os.fsdecode(p)) for msg in taken for p in msg.split(b"\0") if p]
            try:
                ingest_segments(con, file, queue, sealer, skip_stored=retry)
                queue, retry = [], False
                conn.send_bytes(b"K%d" % len(taken))
            except MedenvError as exc:
                sealer, retry = Sealer(StoredChains(con)), True  # rebuilt from the table
                conn.send_bytes(b"E%d %s" % (len(taken), str(exc).encode()))
    except (EOFError, OSError):  # the parent closed the pipe, or died
        return
    finally:
        con.close()


# The child's program: no gymnasium (medenv's package import registers the env only when
# gymnasium imports), so it loads DuckDB, pyarrow and msgspec and nothing of the env.
_MAIN = (
    "import sys; sys.modules['gymnasium'] = None; "
    "from medenv.events.ingest_child import main; main(sys.argv[1:])"
)


def main(argv: list[str]) -> None:
    """The child process: ``argv`` = store file, socket fd, writer pid, deathsig flag (the
    lock's descriptor is inherited and just kept open)."""
    file, fd, parent, deathsig = argv
    _serve(Connection(int(fd)), Path(file), int(parent), deathsig == "1")


class ChildIngest:
    """The writer's handle on an ingest process for store ``file`` (module docstring);
    ``lock_fd``: the writer's lock descriptor, shared with the child. The writer must not
    hold the file open in DuckDB while the child lives."""

    def __init__(self, file: Path, lock_fd: int) -> None:
        mine, theirs = socket.socketpair()
        deathsig = threading.current_thread() is threading.main_thread()
        root = str(Path(__file__).resolve().parents[2])  # the medenv this writer runs
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _MAIN, str(file), str(theirs.fileno()),
                 str(os.getpid()), "1" if deathsig else "0"],
                pass_fds=(theirs.fileno(), lock_fd), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path},
            )  # fmt: skip
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()  # the child's end: the writer's death is the child's EOF
        self._conn = Connection(mine.detach())
        self.file = file
        self.pending = 0  # requests sent and not yet answered
        self.broken = False  # a request could not be sent
        self.failed = False  # the last answer was a failure: its segments wait for a retry

    @property
    def pid(self) -> int:
        return self._proc.pid

    def send(self, segments: list[Path]) -> None:
        """Ask the child to ingest ``segments`` (returns at once; a dead child is
        reported by the next `poll`)."""
        try:
            self._conn.send_bytes(b"\0".join(os.fsencode(s) for s in segments))
        except OSError:  # it died: `poll` says so (the segments stay on disk)
            self.broken = True
        self.pending += 1

    def poll(self, wait: bool = False) -> MedenvError | None:
        """Take the child's answers (all of them when ``wait``, else those already there);
        the first failure among them, if any. A dead child raises `ChildDied`."""
        failure = None
        try:
            while self.pending and (wait or self._conn.poll(0)):
                answer = self._conn.recv_bytes()
                count, _, message = answer[1:].partition(b" ")
                self.pending -= int(count)
                self.failed = answer[:1] == b"E"
                if self.failed and failure is None:
                    failure = MedenvError(message.decode(errors="replace"))
        except (EOFError, OSError):
            raise self._died() from None
        if self.broken or self._proc.poll() is not None:
            raise self._died()
        return failure

    def _died(self) -> ChildDied:
        try:
            code = self._proc.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover - not answering, not gone
            self._proc.kill()
            code = self._proc.wait()
        return ChildDied(
            f"the ingest process {self._proc.pid} of event store {self.file} ended "
            f"(exit code {code})"
        )

    def close(self) -> None:
        """Close the socket (the child ends after its current insert) and wait for it."""
        self._conn.close()
        try:
            self._proc.wait(60)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung insert: not left behind
            self._proc.kill()
            self._proc.wait()

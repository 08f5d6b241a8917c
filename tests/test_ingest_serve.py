"""The ingest process's own code (`medenv.events.ingest_child`: `main`, `_serve`, the check
of its parent), run in this process on a socket pair as the child runs it, so that what it
answers, seals, inserts and deletes is checked where a test can see it (the writer's tests
run it in a real child, where `bench.mutate` cannot see which code a test reached). The
rows are checked against the definitions (`tests.test_event_seal._Reference`: the chain
rule `medenv.events.chain.link`, token counts, the episode's summary); the store is a real
DuckDB file, the segments real spool files."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import duckdb
import pytest

import medenv
from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.encode import EVENT_KINDS, encode_staged
from medenv.events.files import sidecar, unreadable_path
from medenv.events.ingest_child import _serve, ingest_segments, main
from medenv.events.store import EventStore
from medenv.events.table import TABLE_SQL
from tests.test_event_seal import _Reference
from tests.test_events_ingest_child import _log_episode, _once_each
from tests.test_store_edges import _refusal, _refusing_store

_PR_GET_PDEATHSIG = 2
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


def _deathsig() -> int:
    """This thread's parent-death signal (0: none)."""
    sig = ctypes.c_int()
    _LIBC.prctl(_PR_GET_PDEATHSIG, ctypes.byref(sig))
    return sig.value


def _store(tmp_path):
    path = tmp_path / "s.duckdb"
    con = duckdb.connect(str(path))
    con.execute(TABLE_SQL)
    con.close()
    return path


def _started(k: int) -> ev.EpisodeStarted:
    return ev.EpisodeStarted(question_id=f"q{k}", seed=k, split="test", specialty="neuro",
                             n_hops=2, optimal_calls=3, answer="Ans", aliases=[],
                             prompt=f"Which disease {k}? two words", config_hash="c",
                             tags={"agent": "a"}, item={"rarity": 0.5})  # fmt: skip


class _Script:
    """Events of run ``r`` written as raw spool segments; ``rows`` what the store must
    then hold, ``(episode_id, seq) -> (type, payload)``, from the definitions."""

    def __init__(self, path) -> None:
        self.path, self.ref, self.rows, self.n, self.ts = path, _Reference("r"), {}, 0, 1000

    def _line(self, episode_id, payload, written=None) -> bytes:
        """The raw line of ``written`` (default: ``payload``), stored as the reference
        seals ``payload``."""
        self.ts += 1
        seq, type_, sealed = self.ref.event(episode_id, self.ts, payload)
        self.rows[(episode_id, seq)] = (type_, sealed.decode())
        written = payload if written is None else written
        return encode_staged([("r", episode_id, seq, self.ts, EVENT_KINDS[type(written)], written)])

    def segment(self, events, extra: bytes = b""):
        """A new segment file of ``events`` (``(episode_id, payload)``; ``(None, "end:E")``:
        episode E's seal, written as the writer's placeholder) and ``extra`` bytes after."""
        lines = []
        for episode_id, payload in events:
            if isinstance(payload, str):
                eid = payload.split(":", 1)[1]
                placeholder = ev.EpisodeSealed(episode_id=eid, events=self.ref.seqs[eid], hash="")
                lines.append(self._line(None, self.ref.seal_of(eid), placeholder))
            else:
                lines.append(self._line(episode_id, payload))
        self.n += 1
        seg = sidecar(self.path, f".spool-{self.n}")
        seg.write_bytes(b"".join(lines) + extra)
        return seg


def _stored(path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute(
        "SELECT episode_id, seq, type, CAST(payload AS VARCHAR) FROM events WHERE run_id = 'r'"
    ).fetchall()
    con.close()
    keys = [(r[0], r[1]) for r in rows]
    assert len(keys) == len(set(keys)), "an event stored twice"
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def _serve_here(path, before: list, after=None, parent=None, deathsig=False):
    """Serve the ingest loop here (the main thread, as in the child) on a socket pair:
    ``before``, requests (lists of segments) already queued when it starts; then a helper
    thread reads answers until every request sent is answered, sends ``after(answers)``'s
    requests (None: none), and closes the socket, which ends the loop. Returns the answers
    and what the thread saw of the serving process (SIGINT's handler)."""
    ours, theirs = socket.socketpair()
    client, server = Connection(ours.detach()), Connection(theirs.detach())
    for request in before:
        client.send_bytes(b"\0".join(os.fsencode(s) for s in request))
    answers, seen = [], {}

    def talk():
        sent, queued = len(before), after
        try:
            while sum(int(a[1:].split(b" ")[0]) for a in answers) < sent:
                if not client.poll(30):
                    break
                answers.append(client.recv_bytes())
                seen["sigint"] = signal.getsignal(signal.SIGINT)
                if queued is not None and sum(int(a[1:].split(b" ")[0]) for a in answers) == sent:
                    more, queued = queued(answers), None
                    for request in more:
                        client.send_bytes(b"\0".join(os.fsencode(s) for s in request))
                    sent += len(more)
        except (EOFError, OSError):
            pass
        finally:
            client.close()

    thread = threading.Thread(target=talk)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)  # (pytest's may be SIG_IGN)
    thread.start()
    try:
        _serve(server, path, os.getppid() if parent is None else parent, deathsig)
    finally:
        server.close()
        signal.signal(signal.SIGINT, handler)
        thread.join(60)
    return answers, seen


def test_the_loop_seals_inserts_deletes_and_answers_each_batch_of_requests(tmp_path):
    """Two requests queued before the loop reads them are taken together (``K2``); a third,
    sent after that answer and naming two segments, continues the episode they began
    (``K1``). The rows are the
    definitions' (hashes, token counts, the episode's seal with its sums and summary), the
    segments are gone, and SIGINT is ignored while the loop serves (the writer's Ctrl-C)."""
    path = _store(tmp_path)
    s = _Script(path)
    seg1 = s.segment([("e", _started(1)), ("e", ev.ActionReceived(step=0, text="a b c"))])
    seg2 = s.segment([("e", ev.ToolCalled(step=0, name="search", arguments={"q": "x"})),
                      ("f", _started(2))])  # fmt: skip
    third = []

    def after(answers):  # one request naming two segments
        third.append(s.segment([("e", ev.ActionReceived(step=1, text="d e"))]))
        third.append(s.segment([("e", ev.AnswerSubmitted(step=1, answer="Ans")), (None, "end:e")]))
        return [third]

    answers, seen = _serve_here(path, [[seg1], [seg2]], after)
    assert answers == [b"K2", b"K1"]
    assert seen["sigint"] is signal.SIG_IGN
    assert _stored(path) == s.rows
    assert not any(p.exists() for p in (seg1, seg2, *third))


def test_a_failed_batch_is_answered_with_its_error_and_its_segments_kept(tmp_path):
    """A batch DuckDB refuses: ``E1`` and the store's one-line error (quoting DuckDB, naming
    the spool the events stay in); its segment stays on disk."""
    path = tmp_path / "s.duckdb"
    _refusing_store(path, "tool_called")
    s = _Script(path)
    seg = s.segment([("e", _started(1)), ("e", ev.ToolCalled(step=0, name="t", arguments={}))])
    answers, _ = _serve_here(path, [[seg]])
    assert answers == [
        f"E1 cannot ingest events into event store {path}: {_refusal_of(tmp_path)} (disk "
        f"full?); the events stay in {path}.spool and the next writer or reader of the store "
        "picks them up".encode()
    ]
    assert seg.exists()


def _refusal_of(tmp_path) -> str:
    return _refusal(tmp_path).replace("episode_sealed", "tool_called")


def test_a_file_that_cannot_be_opened_is_answered_once(tmp_path):
    path = tmp_path / "s.duckdb"
    path.write_bytes(b"not a database, " * 400)
    try:
        duckdb.connect(str(path))
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
    answers, _ = _serve_here(path, [[]])
    assert answers == [f"E0 cannot open event store {path} to ingest: {first}".encode()]


def test_the_loop_ends_at_once_when_its_parent_is_not_the_writer(tmp_path):
    """Started after its writer died (its parent is not the pid it was given): no file
    opened, no request answered."""
    path = tmp_path / "never.duckdb"
    answers, _ = _serve_here(path, [[]], parent=os.getpid())
    assert answers == [] and not path.exists()


@pytest.mark.parametrize("flag", ["0", "1"])
def test_main_reads_its_arguments_and_asks_for_the_death_signal_only_when_told(tmp_path, flag):
    """``main(file, fd, parent, deathsig)``: serves ``file`` on descriptor ``fd``; asks to
    be killed with its parent's thread (SIGKILL) only for ``"1"``."""
    path = _store(tmp_path)
    s = _Script(path)
    seg = s.segment([("e", _started(1))])
    ours, theirs = socket.socketpair()
    client = Connection(ours.detach())
    client.send_bytes(os.fsencode(seg))
    got = []

    def talk():
        if client.poll(30):
            got.append(client.recv_bytes())
        client.close()

    thread = threading.Thread(target=talk)
    handler = signal.getsignal(signal.SIGINT)
    assert _deathsig() == 0
    thread.start()
    try:
        main([str(path), str(theirs.detach()), str(os.getppid()), flag])
        after = _deathsig()
    finally:
        _LIBC.prctl(_PR_SET_PDEATHSIG, 0)
        signal.signal(signal.SIGINT, handler)
        thread.join(60)
    assert after == (signal.SIGKILL if flag == "1" else 0)
    assert got == [b"K1"] and _stored(path) == s.rows and not seg.exists()


def test_a_segment_gone_already_adds_nothing_and_fails_nothing(tmp_path):
    """A request naming a segment that is not there (deleted by an earlier ingest of it)
    ingests the others."""
    path = _store(tmp_path)
    s = _Script(path)
    seg = s.segment([("e", _started(1))])
    con = duckdb.connect(str(path))
    try:
        assert ingest_segments(con, path, [tmp_path / "s.duckdb.spool-9", seg]) == 1
    finally:
        con.close()
    assert _stored(path) == s.rows and not seg.exists()


def _child_of(store) -> tuple[list[str], dict, str]:
    """The store's ingest process as the OS shows it: its arguments, its environment and
    what its stdin is."""
    proc = f"/proc/{store._child.pid}"
    for _ in range(500):  # (empty for a moment while the process starts)
        argv = open(f"{proc}/cmdline", "rb").read().decode().split("\0")[:-1]
        if argv:
            break
        time.sleep(0.01)
    env = dict(
        e.split("=", 1) for e in open(f"{proc}/environ", "rb").read().decode().split("\0") if e
    )
    return argv, env, os.readlink(f"{proc}/fd/0")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_ingest_process_runs_this_medenv_and_dies_with_the_main_thread_only(tmp_path):
    """Started from the main thread, the ingest process imports the medenv this writer runs
    (first on its PYTHONPATH), holds no stdin of the writer's, and asks to die with it
    (``"1"``). Started from another thread (``"0"``), it outlives that thread: the writer
    goes on using it from the main thread, and no ingest process died."""
    root = str(Path(medenv.__file__).resolve().parents[1])
    with EventStore(tmp_path / "m.duckdb", run_id="r", batch_events=5) as store:
        logged = _log_episode(store, "e1")  # a full batch: the process starts
        argv, env, stdin = _child_of(store)
    assert argv[-1] == "1" and env["PYTHONPATH"].split(os.pathsep)[0] == root
    assert stdin == "/dev/null" and store.ingest_notes == []
    path = tmp_path / "t.duckdb"
    store = EventStore(path, run_id="r", batch_events=5)
    seen = []
    thread = threading.Thread(target=lambda: seen.append((_log_episode(store, "e1"),
                                                         _child_of(store))))  # fmt: skip
    thread.start()
    thread.join()
    logged, (argv, _, _) = seen[0]
    assert argv[-1] == "0"
    logged += _log_episode(store, "e2")  # handed to the same process, after its thread ended
    store.close()
    assert store.ingest_notes == []
    assert sorted(k for k in _once_each(path) if k[0] is not None) == sorted(logged)


def test_a_batch_retried_after_its_lines_could_not_be_kept_is_stored_once(tmp_path):
    """The events went in, but the lines that are not events could not be kept (here
    ``<store>.unreadable`` is a folder): ``E1``, the segment stays. The next request (an
    empty one: the writer's retry) tries it again with the chains rebuilt from the table:
    the lines are kept now and each event is stored once, chained as the definitions
    say; later events of the episode chain on."""
    path = _store(tmp_path)
    s = _Script(path)
    seg = s.segment([("e", _started(1)), ("e", ev.ActionReceived(step=0, text="one two"))],
                    extra=b"not an event\n")  # fmt: skip
    unreadable_path(path).mkdir()
    later = []

    def retry(answers):
        unreadable_path(path).rmdir()
        later.append(s.segment([("e", ev.ActionReceived(step=1, text="three"))]))
        return [[], later]

    answers, _ = _serve_here(path, [[seg]], retry)
    assert answers[0].startswith(b"E1 cannot keep 1 unreadable spool line(s)")
    assert answers[1:] in ([b"K2"], [b"K1", b"K1"])
    assert _stored(path) == s.rows
    assert unreadable_path(path).read_bytes() == b"not an event\n"
    assert not seg.exists() and not later[0].exists()


def test_segments_tried_again_by_a_writer_without_a_process_store_each_event_once(tmp_path):
    """A writer that ingests segments itself (no ingest process: `ingest_segments` without
    a sealer) and fails to keep their unreadable lines after the insert: tried again, each
    event is stored once and the lines are kept once."""
    path = _store(tmp_path)
    s = _Script(path)
    seg = s.segment([("e", _started(1)), (None, "end:e")], extra=b"not an event\n")
    unreadable_path(path).mkdir()
    con = duckdb.connect(str(path))
    try:
        with pytest.raises(MedenvError, match="cannot keep 1 unreadable spool line"):
            ingest_segments(con, path, [seg])
        unreadable_path(path).rmdir()
        assert ingest_segments(con, path, [seg]) == 0  # both events were in already
    finally:
        con.close()
    assert _stored(path) == s.rows and not seg.exists()
    assert unreadable_path(path).read_bytes() == b"not an event\n"

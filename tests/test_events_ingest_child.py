"""The ingest process (`medenv.events.ingest_child`): a writer whose DuckDB inserts run in a
child process. Its failure modes with real processes and real kills: the child killed
mid-run, the writer killed while the child ingests (no orphan left, the next writer
recovers every returned step exactly once), and where no child is started (a daemonic
worker, durability ``"none"``). Every check reads the store file with plain SQL and
re-derives the hash chain independently (`tests.test_store_edges._chain_breaks`)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.files import read_spools, sidecar
from medenv.events.store import EventStore, connect
from tests.test_events import KILLED_WRITER
from tests.test_store_edges import _chain_breaks, _refusing_store, _rows

ROOT = Path(__file__).resolve().parents[1]


def _gone(pid: int, within: float = 10.0) -> bool:
    """Whether process ``pid`` ends (or is a zombie: ended, not yet reaped) in ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def _log_episode(store: EventStore, eid: str, steps: int = 2) -> list[tuple]:
    """One episode (start, ``steps`` action steps, end; its seal goes to the run chain):
    its ``(episode, seq)`` keys."""
    store.emit(ev.EpisodeStarted(question_id=f"q-{eid}", seed=1, split="s", specialty="x",
                                 n_hops=1, optimal_calls=1, answer="A", aliases=[], prompt="p",
                                 config_hash="h", tags={}), eid)  # fmt: skip
    store.commit()
    for step in range(steps):
        store.emit(ev.ActionReceived(step=step, text=f"act {step} {eid} α"), eid)
        store.commit()
    store.emit(ev.EpisodeEnded(steps=steps, terminated=True, truncated=False, n_tool_calls=0,
                               n_format_errors=0), eid)  # fmt: skip
    store.end_episode(eid)
    return [(eid, seq) for seq in range(steps + 2)]


def _once_each(path) -> list[tuple]:
    rows = _rows(path)
    keys = [(r[1], r[2]) for r in rows]
    assert len(keys) == len(set(keys)), "an event was ingested twice"
    assert _chain_breaks(rows) == []
    return keys


def test_the_process_mode_writes_what_the_thread_mode_writes(tmp_path):
    stored = {}
    for ingest in ("process", "thread"):
        path = tmp_path / f"{ingest}.duckdb"
        with EventStore(path, run_id="r", batch_events=6, ingest=ingest) as store:
            assert store.ingest == ingest
            logged = [k for e in range(9) for k in _log_episode(store, f"e{e}", steps=e % 3)]
            if ingest == "process":
                assert store.con is None and store._child is not None  # handed over
                child = store._child.pid
                if hasattr(os, "SCHED_BATCH"):  # batch work: it does not preempt a step
                    store.drain()  # (it has served a request: it set its policy first)
                    assert os.sched_getscheduler(child) == os.SCHED_BATCH
        keys = _once_each(path)
        assert sorted(k for k in keys if k[0] is not None) == sorted(logged)
        assert [p for p in tmp_path.iterdir() if ".spool" in p.name] == []
        # the episodes' payload bytes but their hashes (they cover each event's timestamp)
        episodes = _rows(path, "episode_id IS NOT NULL")
        stored[ingest] = [(r[1], r[2], r[4], r[6][: r[6].rfind(',"h":')]) for r in episodes]
    assert stored["process"] == stored["thread"]
    assert _gone(child, within=0.5)  # `close` waited for it


def test_a_killed_ingest_process_loses_and_repeats_nothing(tmp_path):
    path = tmp_path / "ev.duckdb"
    store = EventStore(path, run_id="r", batch_events=5, ingest="process")
    logged = []
    for e in range(4):
        logged += _log_episode(store, f"a{e}")
    first = store._child.pid
    store.drain()
    os.kill(first, signal.SIGKILL)
    store._child._proc.wait(10)  # reaped: what the writer's next hand-off finds
    for e in range(4):  # the next hand-off finds it dead: this writer ingests what it left
        logged += _log_episode(store, f"b{e}")
    assert len(store.ingest_notes) == 1 and f"ingest process {first}" in store.ingest_notes[0]
    assert "this writer ingested its" in store.ingest_notes[0]
    store.drain()
    second = store._child.pid  # a new one took over at the following hand-off
    assert second != first
    os.kill(second, signal.SIGKILL)  # killed again: found dead at `close` this time
    store._child._proc.wait(10)
    logged += _log_episode(store, "c")
    store.close()
    assert len(store.ingest_notes) == 2
    assert sorted(k for k in _once_each(path) if k[0] is not None) == sorted(logged)
    assert [p for p in tmp_path.iterdir() if ".spool" in p.name] == []


def test_a_writer_killed_while_its_child_ingests_leaves_no_orphan_and_loses_nothing(tmp_path):
    stop = 301  # mid-episode; a hand-off every ~2 episodes: the child is mostly inserting
    path = tmp_path / "bg.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path), "step", "process"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    returned, children = [], []
    for line in proc.stdout:
        word, value = line.split()
        if word == "child":
            children.append(int(value))
        else:
            returned.append((word, int(value)))
        if len(returned) == stop:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(children) == 1  # one ingest process served the whole run
    assert _gone(children[0])  # it did not outlive its writer

    def check() -> None:
        con = connect(path)  # the events table and the spool files left, together
        rows = con.execute(
            "SELECT episode_id, seq, payload->>'$.step' FROM events WHERE type = 'action_received'"
        ).fetchall()
        con.close()
        assert len(rows) == len({(e, seq) for e, seq, _ in rows})  # nothing twice
        assert set(returned) <= {(e, int(s)) for e, _, s in rows}

    check()
    with EventStore(path, run_id="next") as store:  # ingests the leftovers
        assert store.recovered >= 0
    assert [p.name for p in tmp_path.iterdir() if ".spool" in p.name] == []
    check()
    _once_each(path)


def _ingest_in_daemon(path: str, answer) -> None:
    store = EventStore(path, run_id="d", batch_events=2)
    _log_episode(store, "e")
    answer.send(store.ingest)
    store.close()


def test_no_child_where_none_may_be_started(tmp_path):
    ctx = mp.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    worker = ctx.Process(
        target=_ingest_in_daemon, args=(str(tmp_path / "d.duckdb"), writer), daemon=True
    )
    worker.start()
    assert reader.recv() == "thread"  # a daemonic process may not start children
    worker.join()
    assert worker.exitcode == 0 and len(_once_each(tmp_path / "d.duckdb")) == 4 + 2
    with EventStore(tmp_path / "n.duckdb", durability="none") as store:
        assert store.ingest == "thread"  # nothing spooled for a child to read
    with pytest.raises(MedenvError, match="'process' needs a spool"):
        EventStore(tmp_path / "n.duckdb", durability="none", ingest="process")
    with pytest.raises(MedenvError, match="ingest must be one of"):
        EventStore(tmp_path / "n.duckdb", ingest="fork")
    assert (
        not sidecar(tmp_path / "n.duckdb", ".lock").exists()
        or EventStore(tmp_path / "n.duckdb").close() is None
    )  # a refused open left the file free


def test_flush_without_a_child_ingests_the_spool_here(tmp_path):
    path = tmp_path / "ev.duckdb"
    store = EventStore(path, run_id="r", ingest="process")  # 4,096 a batch: no hand-off
    logged = _log_episode(store, "e")
    store.flush()
    assert store._child is None  # never started for a run this small
    assert store.con.execute("SELECT count(*) FROM events").fetchall() == [(len(logged) + 1,)]
    assert read_spools(path)[0] == []
    store.close()
    assert len(_once_each(path)) == len(logged) + 2  # + the seal, run_closed


HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys, time
    import duckdb
    con = duckdb.connect(sys.argv[4]) if sys.argv[4] else None  # as an ingest process does
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    os.pwrite(fd, sys.argv[2].encode(), 0)
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
    """
)


def test_a_lock_held_for_a_dead_writer_is_waited_for_briefly(tmp_path):
    """The lock file names a writer that is gone, but a process still holds the lock (a
    killed writer's ingest process ending): the next writer, and a reader of the DuckDB
    file that process holds, wait for it instead of refusing; a lock held for a live
    writer is refused at once."""
    path = tmp_path / "ev.duckdb"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid names no process now

    def hold(pid: int, seconds: float, duck: str = "") -> subprocess.Popen:
        lock = str(sidecar(path, ".lock"))
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, lock, str(pid), str(seconds), duck],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout.readline() == "held\n"
        return proc

    holder = hold(dead.pid, 0.5)
    start = time.monotonic()
    with EventStore(path, run_id="r") as store:  # waited for the holder to end
        assert time.monotonic() - start >= 0.2 and holder.poll() is not None
        _log_episode(store, "e")
    holder.wait()
    holder = hold(dead.pid, 0.5, duck=str(path))  # the DuckDB file held too: readers wait
    con = connect(path)
    assert holder.poll() is not None
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 4 + 2
    con.close()
    holder = hold(os.getpid(), 30)  # a live writer: refused at once, not after a wait
    start = time.monotonic()
    with pytest.raises(MedenvError, match=f"already being written by process {os.getpid()}"):
        EventStore(path, run_id="r2")
    assert time.monotonic() - start < 2
    holder.kill()
    holder.wait()


def test_a_failed_start_ingests_here_and_starts_at_the_next_hand_off(tmp_path, monkeypatch):
    """The child cannot be started (here: its interpreter is missing, as the OS reports
    it); the writer ingests the batch itself, then starts one at the next hand-off."""
    path = tmp_path / "ev.duckdb"
    store = EventStore(path, run_id="r", batch_events=5, ingest="process")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    logged = _log_episode(store, "e1")  # a full batch: no process, so ingested here
    assert store._child is None and "could not start an ingest process" in store.ingest_notes[0]
    assert store.con.execute("SELECT count(*) FROM events").fetchall() == [(len(logged) + 1,)]
    assert [p.name for p in tmp_path.iterdir() if ".spool-" in p.name] == []
    monkeypatch.undo()
    logged += _log_episode(store, "e2")
    assert store._child is not None and store.con is None  # started this time
    store.close()
    assert sorted(k for k in _once_each(path) if k[0] is not None) == sorted(logged)


@pytest.mark.parametrize("ingest", ["process", "thread"])
def test_a_failed_ingest_is_tried_again_by_flush_and_raised_again(tmp_path, ingest):
    """Both modes alike: a failure reported once (`drain`) is not forgotten: `flush`, with
    nothing new pending, tries those events again and raises again; none is lost."""
    path = tmp_path / "ev.duckdb"
    _refusing_store(path, "episode_sealed")
    store = EventStore(path, run_id="r", batch_events=5, ingest=ingest)
    logged = _log_episode(store, "e1")  # a full batch (with its seal): handed over, refused
    with pytest.raises(MedenvError, match="cannot ingest events"):
        store.drain()
    with pytest.raises(MedenvError, match="cannot ingest events"):
        store.flush()
    with pytest.raises(MedenvError, match="cannot ingest events"):
        store.close()
    rows, notes = read_spools(path)
    keys = [(r[1], r[2]) for r in rows if r[1] is not None]
    assert notes == [] and sorted(keys) == sorted(logged)  # each once, all in spool files

"""The spool under failure: empty files, blank lines, double close, partial writes, a full
disk (an injected ENOSPC, and a real file-size limit in a killed process), the torn lines
an older medenv left, and open episodes that never end."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.spool import Spool, SpoolError, encode_line, read_spool
from medenv.events.store import EventStore, connect

ROOT = Path(__file__).resolve().parents[1]


def _line(seq: int, episode: str = "e1") -> bytes:
    return encode_line("r", episode, seq, 1_000 + seq, "action_received",
                       b'{"v":2,"step":%d,"text":"a\\nb"}' % seq)  # fmt: skip


def test_empty_file_blank_lines_and_a_second_close(tmp_path):
    path = tmp_path / "x.spool"
    path.write_bytes(b"")
    got = read_spool(path)
    assert got.rows == [] and got.notes == []
    path.write_bytes(_line(0) + b"\n\n" + _line(1) + b"   \n" + _line(2))
    got = read_spool(path)
    assert [r[2] for r in got.rows] == [0, 1, 2] and got.notes == []
    assert [bytes(r[5]) for r in got.rows][1] == b'{"v":2,"step":1,"text":"a\\nb"}'
    spool = Spool(path)
    assert spool.size == path.stat().st_size
    spool.close()
    reused = os.open(os.devnull, os.O_RDONLY)  # may get the number the spool had
    spool.close()  # a second close must not close another file that reused the number
    os.fstat(reused)
    os.close(reused)
    assert spool.fd == -1


def test_partial_writes_are_completed(tmp_path, monkeypatch):
    path = tmp_path / "p.spool"
    spool = Spool(path)
    real = os.write
    calls = []

    def short(fd, data):  # the OS may take fewer bytes than asked
        calls.append(len(data))
        return real(fd, bytes(data[:7]))

    monkeypatch.setattr(os, "write", short)
    data = _line(0) + _line(1)
    spool.write(data)
    monkeypatch.undo()
    spool.close()
    assert path.read_bytes() == data and len(calls) == -(-len(data) // 7)


def test_a_failed_write_cuts_back_to_the_last_complete_line(tmp_path, monkeypatch):
    path = tmp_path / "f.spool"
    spool = Spool(path)
    spool.write(_line(0))
    real = os.write
    state = {"full": True}

    def disk_full(fd, data):  # half the batch goes out, then the disk is full
        if state["full"]:
            state["full"] = False
            real(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(SpoolError, match=r"f.spool: No space left on device \(disk full\?\)"):
        spool.write(_line(1) + _line(2))
    assert path.read_bytes() == _line(0)  # no partial line left behind
    spool.write(_line(1) + _line(2))  # space is back: the batch goes out once, whole
    spool.close()
    got = read_spool(path)
    assert [r[2] for r in got.rows] == [0, 1, 2] and got.notes == []


def test_lines_torn_by_an_older_medenv_are_salvaged_and_resume_repairs_them(tmp_path):
    """Before the cut-back rule, a full disk left ``<half line><whole batch again>``."""
    path = tmp_path / "ev.duckdb"
    store = EventStore(path, run_id="r")
    store.emit(ev.EpisodeStarted(question_id="q", seed=1, split="s", specialty="x", n_hops=1,
                                 optimal_calls=1, answer="A", aliases=[], prompt="p",
                                 config_hash="h", tags={}), "e1")  # fmt: skip
    store.commit()
    store.emit(ev.ActionReceived(step=0, text="one"), "e1")
    store.emit(ev.ActionReceived(step=1, text="two"), "e1")
    store._promote()
    batch = b"".join(store._unspooled)
    store._unspooled.clear()
    spool_path = store._spool_path
    store._spool.close()  # (a mapped spool cuts its zeros: an older medenv's file had none)
    with spool_path.open("ab") as f:
        f.write(batch[: len(batch.split(b"\n")[0]) // 2] + batch)  # torn, then whole again
    store._lock.release()
    store.con.close()
    got = read_spool(spool_path)
    assert [r[2] for r in got.rows] == [0, 1, 2] and got.salvaged == [2]
    con = connect(path)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 3
    con.close()
    again = EventStore(path, run_id="r2")  # resume: ingested, spool emptied
    assert again.recovered == 3
    again.close()
    assert not spool_path.exists()
    assert connect(path).execute("SELECT list(seq ORDER BY seq) FROM events WHERE episode_id "
                                 "= 'e1'").fetchone()[0] == [0, 1, 2]  # fmt: skip


def test_open_episodes_spill_instead_of_growing_in_memory(tmp_path):
    for durability in ("episode", "step", "none"):
        path = tmp_path / f"{durability}.duckdb"
        store = EventStore(path, run_id="r", durability=durability, batch_events=50)
        peak = 0
        for step in range(1_000):  # one episode that never ends
            store.emit(ev.ActionReceived(step=step, text="x" * 100), "e1")
            store.commit()
            peak = max(peak, store._count(), len(store._unspooled))
        assert peak <= 4 * 50, (durability, peak)
        if durability == "episode":  # the open episode reached the spool before its end
            assert (tmp_path / "episode.duckdb.spool").exists()
        store.close()
        con = connect(path)
        assert (
            con.execute("SELECT count(*) FROM events WHERE episode_id = 'e1'").fetchone()[0] == 1000
        )
        con.close()


FULL_DISK_RUN = textwrap.dedent(
    """
    import resource, signal, sys, time
    import gymnasium as gym
    import medenv
    from medenv.events import spool
    from medenv.world import load_world
    from tests.test_env import make_items, scripted_actions
    spool.CHUNK = 4096  # a mapped spool grows often, so it meets the limit growing
    world = load_world(progress=False)
    items = make_items(world.kg, 6)
    env = gym.make("MedResearch-v0", qa=items, db=sys.argv[1], run_id="full")
    env.reset(seed=0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit: EFBIG, not a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
    for episode in range(10_000):
        if episode:
            try:
                env.reset(seed=episode)
            except Exception as exc:
                print("ERROR", type(exc).__name__, exc, flush=True)
                break
        for step, action in enumerate(["bad", *scripted_actions(world, env.unwrapped.item)]):
            try:
                env.step(action)
            except Exception as exc:
                print("ERROR", type(exc).__name__, exc, flush=True)
                break
            print(env.unwrapped.episode_id, step, flush=True)
        else:
            continue
        break
    time.sleep(60)  # the test kills us here
    """
)


def test_a_full_disk_then_a_kill_loses_no_returned_step(tmp_path):
    path = tmp_path / "full.duckdb"
    limit = 60_000  # bytes any one file may reach: the spool fills up mid-episode
    proc = subprocess.Popen(
        [sys.executable, "-c", FULL_DISK_RUN, str(path), str(limit)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    returned, error = [], None
    for line in proc.stdout:
        if line.startswith("ERROR"):
            error = line
            break
        returned.append(tuple(line.split()))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert error is not None, proc.stderr.read()
    assert "SpoolError" in error and "full.duckdb.spool" in error and "disk full?" in error
    assert len(returned) > 20
    spool = tmp_path / "full.duckdb.spool"
    assert spool.read_bytes().endswith(b"\n")  # cut back: no torn line on disk
    assert spool.stat().st_size <= limit
    con = connect(path)
    steps = {(e, str(s)) for e, s in con.execute("SELECT episode_id, step FROM steps").fetchall()}
    assert set(returned) <= steps
    con.close()
    EventStore(path, run_id="resume").close()  # resume ingests everything
    con = connect(path)
    steps = {(e, str(s)) for e, s in con.execute("SELECT episode_id, step FROM steps").fetchall()}
    assert set(returned) <= steps
    from medenv.events.chain import check_chains

    report = check_chains(con)
    assert report.episodes == {} and report.runs == []


def test_writing_a_closed_store_and_ingest_errors_are_clear(tmp_path):
    store = EventStore(tmp_path / "c.duckdb", run_id="r")
    store.close()
    store.close()
    with pytest.raises(MedenvError, match="is closed"):
        store.emit(ev.ActionReceived(step=0, text="x"), "e")


def _listed(seq: int) -> bytes:
    """An event line whose payload holds ``["`` (a list of strings) after its start."""
    return encode_line("r", "e1", seq, 1_000 + seq, "tool_returned",
                       b'{"v":2,"step":%d,"doc_ids":["d1","d2"]}' % seq)  # fmt: skip


def test_torn_prefixes_of_any_shape_give_back_the_event_they_end_with(tmp_path):
    """A torn write of 1 byte, one holding ``["`` itself, and an event whose payload holds
    ``["``: the salvaged event is the complete line the line ends with, found from the left."""
    path = tmp_path / "t.spool"
    lines = [
        b"[" + _line(0),  # one torn byte: the event starts at offset 1
        b'["r", "e1", 9, 1' + _line(1),  # the torn write starts like an event
        b'x["t' + _listed(2),  # "[" inside the torn part, then a payload with ["
        b"x[" + _listed(3),  # a bracket right before the event
        _listed(4),
        b'["no event here"]\n',
        b'["r", "e1", 7',  # the write a kill cut short: no newline
    ]
    path.write_bytes(b"".join(lines))
    got = read_spool(path)
    assert [r[2] for r in got.rows] == [0, 1, 2, 3, 4]
    assert [bytes(r[5]) for r in got.rows][2] == b'{"v":2,"step":2,"doc_ids":["d1","d2"]}'
    assert got.salvaged == [1, 2, 3, 4] and got.skipped == [6] and got.torn_tail == 13
    assert got.notes[0].startswith(f"{path}: ignored a torn last line (13 bytes")
    assert got.notes[-1] == f"{path}:6: not an event line; skipped"


def test_an_unreadable_spool_is_one_clear_error_and_a_new_one_is_private_to_its_user(tmp_path):
    with pytest.raises(MedenvError, match=f"^cannot read the event spool {tmp_path}: Is a dir"):
        read_spool(tmp_path)
    path = tmp_path / "m.spool"
    spool = Spool(path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~umask  # rw-r--r--, never executable
    assert spool.sync is False and Spool(tmp_path / "n.spool", sync=True).sync is True
    spool.close()


def test_a_write_the_os_takes_nothing_of_is_a_full_disk(tmp_path, monkeypatch):
    path = tmp_path / "z.spool"
    spool = Spool(path)
    spool.write(_line(0))
    spool.write(_line(1))
    monkeypatch.setattr(os, "write", lambda fd, data: 0)
    with pytest.raises(SpoolError) as err:
        spool.write(_line(2))
    assert str(err.value) == (
        f"cannot write the event spool {path}: No space left on device (disk full?); "
        "the events of this step were not logged yet"
    )
    assert path.read_bytes() == _line(0) + _line(1)  # cut back to both complete lines
    assert spool.size == len(_line(0) + _line(1))

    def broken(fd, size):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "ftruncate", broken)  # and the cut-back fails too
    with pytest.raises(SpoolError) as err:
        spool.write(_line(2))
    monkeypatch.undo()
    assert str(err.value) == (
        f"cannot write the event spool {path}: No space left on device (disk full?); could "
        "not cut it back either (Input/output error); the events of this step were not "
        "logged yet"
    )
    spool.close()


def test_a_synced_spool_writes_clears_and_writes_again(tmp_path):
    path = tmp_path / "s.spool"
    spool = Spool(path, sync=True)
    spool.write(_line(0) + _line(1))
    spool.clear()
    assert path.read_bytes() == b"" and spool.size == 0
    spool.write(_line(2))
    assert spool.size == len(_line(2))
    spool.close()
    got = read_spool(path)
    assert [r[2] for r in got.rows] == [2] and got.notes == []

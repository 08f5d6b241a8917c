"""Spool lines recovery cannot take are kept, not dropped: a line that is not an event (a
damaged one in the middle of a killed writer's spool, or of a segment the ingest process
takes) goes byte for byte to ``<store>.unreadable`` before the spool is emptied, the
warning names that file, and readers note it. A torn last line (its write never returned)
is noted and dropped. Keeping them can fail: then the spool stays as it was."""

from __future__ import annotations

import pytest

from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.files import unreadable_path
from medenv.events.ingest_child import ingest_segments
from medenv.events.spool import SpoolRecoveryWarning, encode_line
from medenv.events.store import EventStore, connect, spool_notes

DAMAGED = b'["r", "e1", 7, 1, "action_received", {"v":2,"step":\x00garbled}]'
TORN = b'["r","e1",99,1,"action_rec'


def _killed_writer(path):
    """A writer that logged one episode start to its spool and was then abandoned, as a
    kill leaves it (nothing ingested)."""
    store = EventStore(path, run_id="r")
    store.emit(ev.EpisodeStarted(question_id="q", seed=1, split="s", specialty="x", n_hops=1,
                                 optimal_calls=1, answer="A", aliases=[], prompt="p",
                                 config_hash="h", tags={}), "e1")  # fmt: skip
    store.commit()
    store._spool.close()
    store._lock.release()
    store.con.close()
    return store._spool_path


def test_a_damaged_line_is_kept_beside_the_store_and_named(tmp_path):
    path = tmp_path / "ev.duckdb"
    spool = _killed_writer(path)
    good = encode_line("r", "e1", 5, 1, "action_received", b'{"v":2,"step":0,"text":"x"}')
    with spool.open("ab") as f:
        f.write(DAMAGED + b"\n" + good + TORN)  # damaged mid-file, a good line, a torn tail
    side = unreadable_path(path)
    with pytest.warns(SpoolRecoveryWarning) as caught:
        store = EventStore(path, run_id="r2")
    store.close()
    notes = [str(w.message) for w in caught]
    assert any(f"ev.duckdb.spool:2: not an event line; kept in {side}" in n for n in notes)
    assert any("ignored a torn last line (26 bytes" in n for n in notes)
    assert side.read_bytes() == DAMAGED + b"\n"  # byte for byte; the torn tail is not kept
    assert not spool.exists()  # emptied (and removed at close)
    con = connect(path)
    assert con.execute("SELECT count(*) FROM events WHERE episode_id = 'e1'").fetchone()[0] == 2
    assert spool_notes(con) == [
        f"{side}: 1 spool line(s) that are not events, kept by an earlier recovery (fix a line "
        "and append it to the spool to have it ingested, or delete the file)"
    ]
    con.close()
    # a second damaged spool appends to the file; nothing earlier is lost
    spool.write_bytes(b"second damage\n")
    with pytest.warns(SpoolRecoveryWarning, match="kept in"):
        EventStore(path, run_id="r3").close()
    assert side.read_bytes() == DAMAGED + b"\nsecond damage\n"


def test_lines_that_cannot_be_kept_leave_the_spool_as_it_is(tmp_path):
    path = tmp_path / "ev.duckdb"
    spool = _killed_writer(path)
    with spool.open("ab") as f:
        f.write(DAMAGED + b"\n")
    before = spool.read_bytes()
    unreadable_path(path).mkdir()  # a real failure: the side file cannot be opened
    with pytest.raises(MedenvError, match=r"cannot keep 1 unreadable spool line\(s\) of event"):
        EventStore(path, run_id="r2")
    assert spool.read_bytes() == before
    unreadable_path(path).rmdir()
    with pytest.warns(SpoolRecoveryWarning, match="kept in"):
        EventStore(path, run_id="r2").close()  # the next try keeps them
    assert unreadable_path(path).read_bytes() == DAMAGED + b"\n"


def test_the_ingest_process_keeps_a_damaged_segment_line(tmp_path):
    import duckdb

    from medenv.events.table import TABLE_SQL

    path = tmp_path / "ev.duckdb"
    con = duckdb.connect(str(path))
    con.execute(TABLE_SQL)
    segment = tmp_path / "ev.duckdb.spool-1"
    good = encode_line("r", "e1", 0, 1, "action_received", b'{"v":2,"step":0,"text":"x"}')
    segment.write_bytes(good + DAMAGED + b"\n")
    assert ingest_segments(con, path, [segment]) == 1
    con.close()
    assert not segment.exists() and unreadable_path(path).read_bytes() == DAMAGED + b"\n"

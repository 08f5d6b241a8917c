"""The hash chain's and the readers' edges that the store's mutation run found untested:
`chain.split` of payloads an editor re-serialised, a v2 event whose hash was removed, the
file a run problem names, a sealed episode deleted whole, readers of a file a writer holds,
`read_episode` without ``run_started``, ``"episode"`` durability's batch bound, an
episode id used again after its end, the recovery of a killed writer's spool (a torn line
only; run-level events only; a recovery that fails), and shard 0. Real DuckDB files;
events edited with plain SQL."""

from __future__ import annotations

import calendar
import fcntl
import json
import os
import re
import time

import duckdb
import pytest

from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.chain import check_chains, split
from medenv.events.files import read_spools, sidecar
from medenv.events.reader import connected_files, spool_notes
from medenv.events.spool import encode_line
from medenv.events.store import EventStore, connect, read_episode
from medenv.events.table import ingest_error
from tests.test_store_edges import _episode, _refusing_store, _rows

HEX = "0123456789abcdef" * 2


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # as written: the hash is the last key, no spaces
        ('{"a":1,"h":"@"}'.replace("@", HEX), ('{"a":1}', HEX)),
        # re-serialised by an editor (spaces): the hash is still found
        ('{"a": 1, "h": "@" }'.replace("@", HEX), ('{"a": 1}', HEX)),
        ('{"a": 1,\n  "h" : "@"\n}'.replace("@", HEX), ('{"a": 1}', HEX)),
        # moved to the front: found, the body is the payload as it is (it cannot match)
        ('{"h":"@","a":1}'.replace("@", HEX), ('{"h":"@","a":1}'.replace("@", HEX), HEX)),
        # not a hash: none
        ('{"h":"xyz","a":1}', ('{"h":"xyz","a":1}', None)),
        (
            '{"h":"@","a":1}'.replace("@", HEX[:30]),
            ('{"h":"@","a":1}'.replace("@", HEX[:30]), None),
        ),
        ('{"h":5,"a":1}', ('{"h":5,"a":1}', None)),
        ('{"a":1}', ('{"a":1}', None)),
    ],
)
def test_split_finds_the_hash_of_a_payload_as_written_or_as_an_editor_left_it(payload, expected):
    body, found = split(payload)
    assert (body, found) == expected
    if found is not None and body != payload:  # a second reading: the JSON minus "h"
        data = json.loads(payload)
        assert data.pop("h") == found and json.loads(body) == data


def _stored(tmp_path, episodes=("e1",), close=True):
    path = tmp_path / "ev.duckdb"
    store = EventStore(path, run_id="r")
    for eid in episodes:
        _episode(store, eid)
    if close:
        store.close()
    return path, store


def _sql(path, sql, params=()):
    con = duckdb.connect(str(path))
    con.execute(sql, list(params))
    con.close()


def _report(path):
    con = connect(path)
    try:
        return check_chains(con)
    finally:
        con.close()


def test_a_chained_event_whose_hash_was_removed_is_named_not_taken_for_a_legacy_one(tmp_path):
    path, _ = _stored(tmp_path)
    payload = _rows(path, "episode_id = 'e1' AND seq = 3")[0][5]
    del payload["h"]  # still "v": 2
    _sql(
        path, "UPDATE events SET payload = ? WHERE episode_id = 'e1' AND seq = 3",
        [json.dumps(payload)],
    )  # fmt: skip
    report = _report(path)
    assert report.legacy == []
    assert "event seq 3 (tool_returned) has no hash (edited?)" in report.episodes["e1"]


def test_run_chain_problems_and_open_runs_name_the_store_file(tmp_path):
    path, _ = _stored(tmp_path, episodes=("e1", "e2"))
    _sql(path, "DELETE FROM events WHERE type = 'run_closed'")
    _sql(path, "DELETE FROM events WHERE episode_id IS NULL AND seq = 0")  # e1's seal
    report = _report(path)
    assert report.open_runs == [f"run r ({path})"]
    assert report.runs == [
        f"run r ({path}): event(s) seq 0 missing (deleted?)",
        f"run r ({path}): event seq 1 (episode_sealed) does not match the hash chain (edited, "
        "or an event before it was inserted or deleted)",
    ]


def test_a_sealed_episode_deleted_whole_is_named_with_its_sealed_event_count(tmp_path):
    path, _ = _stored(tmp_path, episodes=("e1", "e2"))
    _sql(path, "DELETE FROM events WHERE episode_id = 'e2'")
    report = _report(path)
    assert report.episodes == {
        "e2": ["sealed in run r with 9 events but missing from the store (deleted?)"]
    }


def test_a_reader_of_a_file_being_written_names_the_writing_process(tmp_path):
    path, store = _stored(tmp_path, close=False)
    try:
        with pytest.raises(MedenvError) as err:
            connect(path)
        assert f"cannot read event store {path}: process {os.getpid()} is writing it" in str(
            err.value
        )
    finally:
        store.close()
    assert len(_rows(path)) == 9 + 1 + 1  # readable once closed


def test_connections_not_made_by_connect_have_no_files_and_no_notes():
    con = duckdb.connect()
    assert (connected_files(con), spool_notes(con)) == ([], [])
    con.close()


def test_read_episode_without_run_started_gives_only_the_episodes_events(tmp_path):
    path, _ = _stored(tmp_path)
    events = read_episode(path, "e1")
    assert [e.type for e in events][:2] == ["episode_started", "action_received"]
    assert [e.seq for e in events] == list(range(9))
    assert all(isinstance(e, ev.Event) for e in events)


@pytest.mark.parametrize("events", [2, 3])
def test_episode_durability_spools_once_a_batch_of_events_waits(tmp_path, events):
    path = tmp_path / "ev.duckdb"
    spool = sidecar(path, ".spool")
    store = EventStore(path, run_id="r", durability="episode", batch_events=3)
    for step in range(events):  # one step of ``events`` events
        store.emit(ev.AnswerSubmitted(step=step, answer="x"), "e")
    store.commit()
    on_disk = spool.stat().st_size if spool.exists() else 0
    assert (on_disk > 0) == (events >= 3)
    store.close()


def test_an_episode_id_used_again_after_its_end_is_sealed_with_its_own_figures(tmp_path):
    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r") as store:
        _episode(store, "e")
        _episode(store, "e", correct=False)  # a second episode under the same id
    seals = [r[5] for r in _rows(path, "type = 'episode_sealed'")]
    assert [s["events"] for s in seals] == [9, 9]
    assert [s["tokens"] for s in seals] == [19, 19]
    assert [s["action_tokens"] for s in seals] == [5, 5]
    assert [s["summary"].get("correct", False) for s in seals] == [True, False]
    assert [s["summary"]["n_actions"] for s in seals] == [2, 2]


# -- recovery of what a killed writer left --------------------------------------------------
def test_a_spool_with_only_a_torn_line_is_noted_and_emptied(tmp_path):
    path = tmp_path / "ev.duckdb"
    spool = sidecar(path, ".spool")
    spool.write_bytes(b'["r",null,0,1,"run_clo')  # a write cut short: no complete event
    with EventStore(path, run_id="r2") as store:
        assert store.recovered == 0
        assert [n.split(": ", 1)[1][:22] for n in store.recovered_notes] == [
            "ignored a torn last li"
        ]
    assert not spool.exists()  # emptied at recovery, so removed at close
    con = connect(path)
    assert spool_notes(con) == [] and con.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    con.close()


def test_a_spool_of_run_level_events_only_is_recovered(tmp_path):
    path = tmp_path / "ev.duckdb"
    lines = [
        encode_line("r", None, 0, 1_000, "run_closed", b'{"v":2,"episodes":0}'),
        encode_line("r", None, 1, 2_000, "run_closed", b'{"v":2,"episodes":0}'),
    ]
    sidecar(path, ".spool").write_bytes(b"".join(lines))  # a killed writer's spool
    with EventStore(path, run_id="r2") as store:
        assert (store.recovered, store.recovered_notes) == (2, [])
    rows = _rows(path)
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("r", None, 0, "run_closed"), ("r", None, 1, "run_closed"),
    ]  # fmt: skip


def test_a_failed_recovery_names_the_store_file_and_the_spool(tmp_path):
    path = tmp_path / "ev.duckdb"
    _refusing_store(path, "run_closed")
    spool = sidecar(path, ".spool")
    spool.write_bytes(encode_line("r", None, 0, 1_000, "run_closed", b'{"v":2,"episodes":0}'))
    with pytest.raises(MedenvError) as err:
        EventStore(path, run_id="r2")
    assert str(err.value).startswith(f"cannot ingest events into event store {path}: ")
    assert f"the events stay in {spool} and" in str(err.value)
    assert spool.stat().st_size > 0  # kept for the next writer


def test_shard_zero_is_the_store_file_itself(tmp_path):
    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r", shard=0) as store:
        assert store.file == path
        _episode(store, "e")
    assert len(_rows(path)) == 9 + 1 + 1
    with pytest.raises(
        MedenvError, match="shard must be None, 'auto' or an int from 0 to 4095, got -1"
    ):
        EventStore(path, shard=-1)


# -- opening: paths, the lock, durability "none" ---------------------------------------------
def test_the_store_path_names_what_it_is_for(tmp_path):
    with pytest.raises(MedenvError) as err:
        EventStore(tmp_path)
    assert str(err.value) == f"event store {tmp_path}: is a folder, not a file"


def test_a_store_not_named_duckdb_has_its_shards_read_with_it(tmp_path):
    path = tmp_path / "ev.db"
    with EventStore(path, run_id="r") as main, EventStore(path, run_id="r", shard=1) as shard:
        _episode(main, "m")
        _episode(shard, "s")
    assert (tmp_path / "ev.db.shard-1.duckdb").exists()
    con = connect(path)
    episodes = con.execute("SELECT DISTINCT episode_id FROM events ORDER BY 1 NULLS FIRST").fetchall()
    con.close()
    assert episodes == [(None,), ("m",), ("s",)]


def test_a_lock_held_before_its_owner_wrote_a_pid_is_named_with_a_question_mark(tmp_path):
    path = tmp_path / "ev.duckdb"
    fd = os.open(sidecar(path, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)  # empty: no pid yet
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(MedenvError) as err:
            EventStore(path)
    finally:
        os.close(fd)
    assert str(err.value) == (
        f"event store {path} is already being written by process ? (one writer per file): "
        "wait for it to finish, stop it, or give another --db path (Python: "
        "EventStore(..., shard='auto') writes a shard file beside it)"
    )


def test_a_reader_of_a_file_being_written_quotes_duckdbs_reason(tmp_path):
    path, store = _stored(tmp_path, close=False)
    try:
        with pytest.raises(MedenvError) as err:
            connect(path)
        con = duckdb.connect()  # DuckDB's own words for the same attach
        with pytest.raises(duckdb.Error) as plain:
            con.execute(f"ATTACH '{path}' AS s0 (READ_ONLY)")
        con.close()
    finally:
        store.close()
    reason = str(plain.value).splitlines()[0]
    assert str(err.value) == (
        f"cannot read event store {path}: process {os.getpid()} is writing it; wait for it "
        f"to finish (or stop it) first ({reason})"
    )


def test_durability_none_never_writes_a_spool(tmp_path):
    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r", durability="none", batch_events=2) as store:
        for step in range(3):  # more events than a batch, in one step
            store.emit(ev.AnswerSubmitted(step=step, answer="x"), "e")
        store.commit()
        store.end_episode("e")
        assert not sidecar(path, ".spool").exists()
    assert len(_rows(path)) == 3 + 1 + 1


@pytest.mark.parametrize("content", [b'{"config": {}}\n', b"", b"run_id,episode_id\n1,2\n"])
def test_a_file_that_is_not_a_duckdb_file_is_named_as_such(tmp_path, content, capsys):
    from medenv.cli import main
    from medenv.events.reader import is_duckdb_file

    other = tmp_path / "summary.json"
    other.write_bytes(content)
    with pytest.raises(MedenvError) as err:
        connect(other)
    assert str(err.value).startswith(f"cannot read event store {other}: not a DuckDB file")
    store = tmp_path / "real.duckdb"
    with EventStore(store, run_id="r") as writer:
        _episode(writer, "e1")
    assert is_duckdb_file(store) and not is_duckdb_file(other)
    assert not is_duckdb_file(tmp_path / "missing.duckdb")
    assert main(["eval", "--db", str(store), "--paired-with", str(other)]) == 2
    assert "not a DuckDB file" in capsys.readouterr().err


# --- round 15: survivors of a fresh seed-7 sample (forkserver) -----------------------
def test_a_run_without_an_id_is_named_by_utc_time_and_its_events_stamped_now(tmp_path):
    """The run id ``YYYYmmdd-HHMMSS-<8 hex>`` is the UTC time the store opened; every
    event's ``ts`` is the time it was logged (microseconds)."""
    before = time.time()
    path = tmp_path / "ev.duckdb"
    store = EventStore(path)
    _episode(store, "e1")
    store.close()
    after = time.time()
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", store.run_id)
    opened = calendar.timegm(time.strptime(store.run_id[:15], "%Y%m%d-%H%M%S"))
    assert before - 1 <= opened <= after
    rows = _rows(path)
    assert {r[0] for r in rows} == {store.run_id}
    assert all(before - 1 <= r[3] / 1e6 <= after + 1 for r in rows)


def test_a_store_in_a_folder_named_with_an_apostrophe_is_read(tmp_path):
    folder = tmp_path / "it's here"
    folder.mkdir()
    path, _ = _stored(folder)
    assert [e.seq for e in read_episode(path, "e1")] == list(range(9))
    report = _report(path)
    assert (report.episodes, report.runs, report.open_runs) == ({}, [], [])
    assert report.checked == len(_rows(path))


@pytest.mark.parametrize(("ingest", "durability"), [("bogus", "step"), ("process", "none")])
def test_an_ingest_mode_the_store_cannot_run_is_refused_with_the_choices(
    tmp_path, ingest, durability
):
    with pytest.raises(MedenvError) as err:
        EventStore(tmp_path / "ev.duckdb", ingest=ingest, durability=durability)
    assert str(err.value) == (
        "ingest must be one of ('auto', 'process', 'thread') ('process' needs a spool: "
        f"durability other than 'none'), got {ingest!r} with durability {durability!r}"
    )
    assert not (tmp_path / "ev.duckdb").exists()


def test_an_ingest_error_without_text_is_named_by_its_type(tmp_path):
    err = ingest_error(tmp_path / "ev.duckdb", tmp_path / "ev.duckdb.spool", OSError())
    assert f"event store {tmp_path / 'ev.duckdb'}: OSError (disk full?)" in str(err)
    first = ingest_error(tmp_path / "f", tmp_path / "s", OSError("No space\nleft"))
    assert ": No space (disk full?)" in str(first)


def test_a_failed_ingest_on_the_writers_thread_is_raised_naming_the_spool(tmp_path):
    """``ingest="thread"``: a batch the table refuses (as a full disk would) is not
    dropped; `drain` raises the one-line error naming the spool, which keeps the events."""
    path = tmp_path / "ev.duckdb"
    _refusing_store(path, "episode_sealed")
    store = EventStore(path, run_id="r", batch_events=5, ingest="thread")
    logged = _episode(store, "e1") + 1  # + its seal: a full batch, handed to the ingest
    with pytest.raises(MedenvError) as err:
        store.drain()
    spool = sidecar(path, ".spool")
    assert str(err.value).startswith(f"cannot ingest events into event store {path}: ")
    assert str(err.value).endswith(
        f"(disk full?); the events stay in {spool} and the next writer or reader of the "
        "store picks them up"
    )
    rows, notes = read_spools(path)
    assert notes == [] and len({(r[1], r[2]) for r in rows}) == logged
    with pytest.raises(MedenvError, match="cannot ingest events"):
        store.close()


def test_the_writers_thread_ingests_the_run_id_and_an_episode_of_one_event(tmp_path):
    """``ingest="thread"``: every row carries the run id; an episode that logged one event
    (started, never ended) reads back as that one event (the store logs no
    ``run_started``)."""
    path = tmp_path / "ev.duckdb"
    store = EventStore(path, run_id="r", batch_events=5, ingest="thread")
    assert store.ingest == "thread"
    _episode(store, "e1")
    store.emit(
        ev.EpisodeStarted(question_id="q-e2", seed=1, split="test", specialty="neurology",
                          n_hops=2, optimal_calls=1, answer="BRCA1", aliases=[],
                          prompt="p", config_hash="h", tags={}),
        "e2",
    )  # fmt: skip
    store.close()
    rows = _rows(path)
    assert {r[0] for r in rows} == {"r"}
    assert [r[4] for r in rows if r[1] == "e2"] == ["episode_started"]
    events = read_episode(path, "e2")
    assert [(e.type, e.seq) for e in events] == [("episode_started", 0)]

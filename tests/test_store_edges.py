"""The event store's edges that its mutation run found untested (`docs/mutation-testing.md`):
a second lock release, a second writer of a run, the seal's token sums
and summary, ``run_closed.episodes``, failed ingests (their one-line error, the spool
segments that keep their events, the recovery that names the spool), the events-table
check's table list, Parquet sources in `resolve_files`, and ``fsync`` under
``durability="sync"``.

Real DuckDB files throughout; an ingest is made to fail for real with a store file whose
``events`` table refuses one event type (a CHECK constraint), and ``fsync`` calls are counted
at ``os.fsync`` (the OS call, not a part of medenv). The chain, token counts and summaries
are checked against second readings written here from their definitions."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys

import duckdb
import msgspec
import pytest

from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.chain import check_chains
from medenv.events.files import Lock, read_spools, resolve_files, sidecar
from medenv.events.store import EventStore, connect

TEXTS = {  # the texts of `_episode`, whitespace-separated words counted by hand below
    "prompt": "Which gene causes\tthe disease?",  # 5
    "actions": ["search  for gene", "answer now"],  # 3, 2
    "observation": "doc 1:\nBRCA1 is a gene",  # 6
    "rejected": "bad call here",  # 3
}


def _words(text: str) -> int:
    """A second reading of `medenv.events.tokens.count_tokens` (ASCII whitespace)."""
    return len(re.findall(r"[^ \t\n\f\r]+", text))


def _episode(store: EventStore, eid: str, *, end: bool = True, correct: bool = True) -> int:
    """Log one small episode of three steps (a tool call, a rejected action, an answer);
    returns how many events it logged (its seal not counted)."""
    store.emit(
        ev.EpisodeStarted(question_id=f"q-{eid}", seed=1, split="test", specialty="neurology",
                          n_hops=2, optimal_calls=1, answer="BRCA1", aliases=[],
                          prompt=TEXTS["prompt"], config_hash="h", tags={"agent": "t"}),
        eid,
    )  # fmt: skip
    store.emit(ev.ActionReceived(step=0, text=TEXTS["actions"][0]), eid)
    store.emit(ev.ToolCalled(step=0, name="medical_search", arguments={"query": "g"}), eid)
    store.emit(
        ev.ToolReturned(step=0, name="medical_search", observation=TEXTS["observation"],
                        latency_ms=1.0, doc_ids=["med:1"]),
        eid,
    )  # fmt: skip
    store.commit()
    store.emit(ev.ActionReceived(step=1, text=TEXTS["actions"][1]), eid)
    store.emit(
        ev.ActionRejected(step=1, kind="format", message="m", observation=TEXTS["rejected"]),
        eid,
    )
    store.commit()
    store.emit(ev.AnswerSubmitted(step=2, answer="BRCA1" if correct else "TP53"), eid)
    store.emit(
        ev.RewardAssigned(accuracy=float(correct), format=1.0, efficiency=0.5,
                          total=1.5 if correct else 0.5, correct=correct, evidence_recall=1.0,
                          weights={"accuracy": 1.0}),
        eid,
    )  # fmt: skip
    store.emit(
        ev.EpisodeEnded(steps=3, terminated=True, truncated=False, n_tool_calls=1,
                        n_format_errors=1),
        eid,
    )  # fmt: skip
    store.commit()
    if end:
        store.end_episode(eid)
    return 9


def _rows(path, where: str = "TRUE") -> list[tuple]:
    """``(run_id, episode_id, seq, ts_us, type, payload dict, payload text)`` with plain
    SQL on the store file (not the store's readers)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT run_id, episode_id, seq, epoch_us(ts), type, payload::VARCHAR FROM events "
            f"WHERE {where} ORDER BY run_id, episode_id NULLS FIRST, seq"
        ).fetchall()
    finally:
        con.close()
    return [(*r[:5], json.loads(r[5]), r[5]) for r in rows]


def _chain_breaks(rows) -> list[tuple]:
    """A second reading of the hash chain rule (`medenv.events.chain`): every (episode,
    seq) whose stored hash is not blake2b-16 of the previous stored hash and its fields,
    or whose seq is not the next one of its chain."""
    bad, key, prev, expected_seq = [], None, bytes(16), 0
    for run_id, episode_id, seq, ts_us, type_, data, text in rows:
        if (run_id, episode_id) != key:
            key, prev, expected_seq = (run_id, episode_id), bytes(16), 0
        body = text[: text.rfind(',"h":"')] + "}"
        fields = f"{run_id}\x1f{episode_id or ''}\x1f{seq}\x1f{ts_us}\x1f{type_}\x1f"
        digest = hashlib.blake2b(prev + fields.encode() + body.encode(), digest_size=16)
        if digest.hexdigest() != data["h"] or seq != expected_seq:
            bad.append((episode_id, seq, type_))
        prev, expected_seq = bytes.fromhex(data["h"]), seq + 1
    return bad


# -- the lock ----------------------------------------------------------------------------
def test_a_second_release_of_the_lock_closes_no_other_descriptor(tmp_path):
    lock = Lock(tmp_path / "ev.duckdb")
    lock.release()
    saved = os.dup(1)  # a second release that closed fd 1 (stdout) must be seen, and undone
    try:
        lock.release()
        os.fstat(1)  # raises EBADF if the second release closed stdout
        other = os.open(tmp_path / "other", os.O_WRONLY | os.O_CREAT)
        os.fstat(other)
        os.close(other)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    Lock(tmp_path / "ev.duckdb").release()  # the flock was let go by the first release


# -- the run chain across writers, run_closed ---------------------------------------------
def test_a_second_writer_of_a_run_continues_its_run_chain(tmp_path):
    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r") as store:
        _episode(store, "e1")
        _episode(store, "e2")
    with EventStore(path, run_id="r") as store:
        _episode(store, "e3")
    run_chain = _rows(path, "episode_id IS NULL")
    assert [(r[2], r[4]) for r in run_chain] == [
        (0, "episode_sealed"), (1, "episode_sealed"), (2, "run_closed"),
        (3, "episode_sealed"), (4, "run_closed"),
    ]  # fmt: skip
    assert [r[5]["episode_id"] for r in run_chain if r[4] == "episode_sealed"] == ["e1", "e2", "e3"]
    # each writer's run_closed counts the episodes it sealed itself
    assert [r[5]["episodes"] for r in run_chain if r[4] == "run_closed"] == [2, 1]
    assert _chain_breaks(_rows(path)) == []
    con = connect(path)
    report = check_chains(con)
    con.close()
    assert (report.runs, report.episodes, report.open_runs) == ([], {}, [])


def test_a_writer_that_sealed_nothing_closes_with_zero_episodes(tmp_path):
    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r") as store:
        _episode(store, "open", end=False)  # never ended: not sealed
    closed = _rows(path, "type = 'run_closed'")
    assert [r[5]["episodes"] for r in closed] == [0]


# -- the seal: tokens, summary -------------------------------------------------------------
def test_the_seal_holds_the_episodes_own_token_sums_and_summary(tmp_path):
    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r") as store:
        # two episodes open at once, steps interleaved: each seal adds up its own events
        store.emit(ev.ActionReceived(step=0, text="other episode words"), "b")
        store.commit()
        _episode(store, "a", correct=True)
        _episode(store, "b", correct=False)
    seals = {r[5]["episode_id"]: r[5] for r in _rows(path, "type = 'episode_sealed'")}
    texts = [TEXTS["prompt"], *TEXTS["actions"], TEXTS["observation"], TEXTS["rejected"]]
    assert seals["a"]["tokens"] == sum(map(_words, texts)) == 19
    assert seals["a"]["action_tokens"] == sum(map(_words, TEXTS["actions"])) == 5
    assert seals["b"]["tokens"] == 19 + 3
    assert seals["b"]["action_tokens"] == 5 + 3
    # the stored per-event counts add up to the same sums (a third reading)
    stored = _rows(path, "episode_id = 'a' AND payload->>'$.tokens' IS NOT NULL")
    assert sum(r[5]["tokens"] for r in stored) == 19
    assert (seals["a"]["events"], seals["b"]["events"]) == (9, 10)
    # the summaries, read back as the type the seal declares (defaults are omitted)
    a, b = (msgspec.convert(seals[k]["summary"], ev.EpisodeSummary) for k in "ab")
    assert (a.question_id, a.correct, a.reward, a.prediction, a.ended) == (
        "q-a",
        True,
        1.5,
        "BRCA1",
        True,
    )
    assert (a.n_actions, a.n_tool_calls, a.n_format_errors, a.has_actions) == (2, 1, 1, True)
    assert (b.question_id, b.correct, b.reward, b.prediction) == ("q-b", False, 0.5, "TP53")
    assert b.n_actions == 3


def test_an_episode_without_text_or_start_is_sealed_with_zero_tokens_and_no_summary(tmp_path):
    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r") as store:
        store.emit(ev.AnswerSubmitted(step=0, answer="x"), "bare")
        store.commit()
        store.end_episode("bare")
        store.emit(ev.ActionReceived(step=0, text="dropped words"), "dropped")
        store.discard()  # its only step failed: nothing of it was logged
        store.end_episode("dropped")
    seals = {r[5]["episode_id"]: r[5] for r in _rows(path, "type = 'episode_sealed'")}
    assert (seals["bare"]["events"], seals["bare"]["tokens"]) == (1, 0)
    assert seals["bare"]["action_tokens"] == 0
    assert seals["bare"].get("summary") is None  # no episode_started: not counted
    assert (seals["dropped"]["events"], seals["dropped"]["tokens"]) == (0, 0)
    assert seals["dropped"].get("summary") is None
    assert _rows(path, "episode_id = 'dropped'") == []
    assert _chain_breaks(_rows(path)) == []


def test_an_undeclared_payload_type_is_refused_by_name(tmp_path):
    class NotAnEvent(ev.Payload, frozen=True, kw_only=True):
        x: int = 0

    with EventStore(tmp_path / "ev.duckdb", run_id="r") as store:
        with pytest.raises(MedenvError) as err:
            store.emit(NotAnEvent(), "e")
        store.emit(ev.AnswerSubmitted(step=0, answer="x"), "e")  # the store goes on
        store.end_episode("e")
    assert str(err.value) == (
        "cannot write a NotAnEvent event: not a declared event type "
        "(medenv.events.schema.EVENT_TYPES)"
    )
    assert [r[4] for r in _rows(tmp_path / "ev.duckdb", "episode_id = 'e'")] == ["answer_submitted"]


def test_an_episode_id_that_is_not_utf8_text_is_refused_by_name(tmp_path):
    # a lone surrogate: no spool line or DuckDB row can hold it (it raised a
    # UnicodeEncodeError from inside the commit before)
    with EventStore(tmp_path / "ev.duckdb", run_id="r") as store:
        with pytest.raises(MedenvError, match=r"episode_id must be valid text .*'\\ud800'"):
            store.emit(ev.AnswerSubmitted(step=0, answer="x"), "\ud800")
        store.emit(ev.AnswerSubmitted(step=0, answer="x"), "e\u00e9")  # the store goes on
        store.commit()
        store.end_episode("e\u00e9")
    assert [r[4] for r in _rows(tmp_path / "ev.duckdb", "episode_id = 'e\u00e9'")] == [
        "answer_submitted"
    ]


# -- failed ingests -----------------------------------------------------------------------
def _refusing_store(path, refused: str) -> None:
    """A store file whose events table has medenv's columns but refuses ``refused`` events:
    every insert holding one fails inside DuckDB, as a full disk would make it fail."""
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE events (run_id VARCHAR, episode_id VARCHAR, seq INTEGER, ts TIMESTAMP, "
        f"type VARCHAR CHECK (type <> '{refused}'), payload JSON)"
    )
    con.close()


def _refusal(tmp_path) -> str:
    """The first line of DuckDB's own error for a refused event (what the store's error
    quotes), got from a plain INSERT into another refusing table."""
    path = tmp_path / "refusal.duckdb"
    _refusing_store(path, "episode_sealed")
    con = duckdb.connect(str(path))
    try:
        con.execute("INSERT INTO events (type) VALUES ('episode_sealed')")
    except duckdb.Error as exc:
        return str(exc).splitlines()[0]
    finally:
        con.close()
    raise AssertionError("the table took a refused event")


def _spooled_keys(path) -> list[tuple]:
    rows, notes = read_spools(path)
    assert notes == []
    return [(r[1], r[2], r[4]) for r in rows]


def test_failed_background_ingests_keep_every_event_in_spool_segments(tmp_path):
    path = tmp_path / "ev.duckdb"
    spool = sidecar(path, ".spool")
    _refusing_store(path, "episode_sealed")
    # 5 a batch: each episode (9 events and its seal) is handed over at its end
    store = EventStore(path, run_id="r", batch_events=5)
    logged = _episode(store, "e1") + 1  # + its seal: a full batch, handed to the ingest
    with pytest.raises(MedenvError) as err:
        store.drain()
    assert str(err.value) == (
        f"cannot ingest events into event store {path}: {_refusal(tmp_path)} (disk full?); "
        f"the events stay in {spool} and the next writer or reader of the store picks them up"
    )
    assert sidecar(path, ".spool-1").exists()
    keys = _spooled_keys(path)
    assert len(keys) == len(set(keys)) == logged
    logged += _episode(store, "e2") + 1  # the failed batch and this one: handed over again
    with pytest.raises(MedenvError, match="cannot ingest events"):
        store.drain()
    assert sidecar(path, ".spool-1").exists() and sidecar(path, ".spool-2").exists()
    keys = _spooled_keys(path)  # every logged event in one spool file, none twice
    assert len(keys) == len(set(keys)) == logged
    with pytest.raises(MedenvError, match="cannot ingest events"):
        store.close()
    keys = _spooled_keys(path)
    assert len(keys) == len(set(keys)) == logged + 1  # + run_closed
    assert ("e1", 0, "episode_started") in keys and (None, 2, "run_closed") in keys
    # the next writer cannot ingest them either: the error names the spool, and the file
    # is not left locked by the failed open
    for _ in range(2):
        with pytest.raises(MedenvError) as err:
            EventStore(path, run_id="r2")
        assert f"the events stay in {spool}" in str(err.value)
    con = duckdb.connect(str(path))  # the disk is "freed": a table that takes them
    con.execute("DROP TABLE events")
    con.close()
    with EventStore(path, run_id="r2") as store:
        assert store.recovered == logged + 1
    assert not spool.exists() and not sidecar(path, ".spool-1").exists()
    assert not sidecar(path, ".spool-2").exists()
    rows = _rows(path)
    assert len(rows) == logged + 1  # the second writer logged nothing: no run_closed
    assert _chain_breaks(rows) == []


def test_a_store_file_with_other_tables_lists_at_most_five_of_them(tmp_path):
    for n, listed in ((5, "a0, a1, a2, a3, a4)"), (6, "a0, a1, a2, a3, a4, ...)")):
        path = tmp_path / f"other{n}.duckdb"
        con = duckdb.connect(str(path))
        for i in range(n):
            con.execute(f"CREATE TABLE a{i} (x INTEGER)")
        con.close()
        with pytest.raises(MedenvError) as err:
            EventStore(path)
        assert (
            str(err.value) == f"{path}: not a medenv event store: no events table (tables: {listed}"
        )
        with pytest.raises(MedenvError) as err:
            connect(path)
        assert str(err.value).endswith(f"(tables: {listed}")
        Lock(path).release()  # the refused writer let go of the file


# -- resolve_files --------------------------------------------------------------------------
def test_parquet_sources_are_kept_as_given_among_store_files(tmp_path):
    db = tmp_path / "ev.duckdb"
    with EventStore(db, run_id="r") as store:
        _episode(store, "e")
    shards = str(tmp_path / "export" / "*" / "*.parquet")
    url = "s3://bucket/events/"
    assert resolve_files([shards, db, url]) == [shards, db, url]
    assert resolve_files(shards) == [shards]
    assert all(isinstance(f, str) for f in resolve_files([shards, url]))


# -- fsync -------------------------------------------------------------------------------
@pytest.fixture
def fsyncs(monkeypatch):
    """Every ``os.fsync`` call, as ``"file"`` or ``"dir"`` (the OS call is counted and
    still made)."""
    calls: list[str] = []
    real = os.fsync

    def counting(fd):
        calls.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        return real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


@pytest.mark.parametrize("durability", ["sync", "step"])
def test_sync_durability_fsyncs_every_step_also_after_a_rotation(tmp_path, fsyncs, durability):
    path = tmp_path / "ev.duckdb"
    store = EventStore(path, run_id="r", durability=durability, batch_events=2)
    store.emit(ev.AnswerSubmitted(step=0, answer="x"), "e1")
    store.commit()
    assert fsyncs == (["file"] if durability == "sync" else [])
    store.emit(ev.AnswerSubmitted(step=1, answer="x"), "e1")
    store.end_episode("e1")  # a full batch: the spool becomes segment 1, a new spool opens
    store.drain()
    rotated = ["file", "dir"] if durability == "sync" else []  # the seal; the rename
    assert fsyncs[1:] == rotated
    del fsyncs[:]
    store.emit(ev.AnswerSubmitted(step=0, answer="y"), "e2")
    store.commit()  # the new spool is synced as the first was
    assert fsyncs == (["file"] if durability == "sync" else [])
    store.close()
    assert len(_rows(path)) == 2 + 1 + 1 + 1  # e1, its seal, e2, run_closed


def _deepest_logged(make):
    """``make(tags)`` with tags nested as deep as msgspec encodes the result from here (it
    counts nesting against the recursion limit): the deepest payload a writer at this stack
    depth can log, and its bytes."""
    tags: dict = {}
    inner = tags
    for _ in range(sys.getrecursionlimit()):
        inner["a"] = {}
        inner = inner["a"]
    while True:
        payload = make(tags)
        try:
            return payload, msgspec.json.encode(payload)
        except RecursionError:
            tags = tags["a"]


def _deeper(levels: int, call):
    """``call()`` run ``levels`` Python frames deeper than the caller."""
    return call() if levels == 0 else _deeper(levels - 1, call)


def test_a_payload_nested_as_deep_as_the_writer_encodes_reads_back_from_a_deeper_stack(tmp_path):
    """A line (and a payload) logged at the encoder's edge decodes in a reader whose stack is
    deeper than the writer's was: msgspec's decoder counts the same limit."""
    from medenv.events.codec import decode_payload
    from medenv.events.spool import Spool, encode_line, read_spool

    started, body = _deepest_logged(
        lambda tags: ev.EpisodeStarted(question_id="q", seed=1, split="s", specialty="x",
                                       n_hops=1, optimal_calls=1, answer="A", aliases=[],
                                       prompt="p", config_hash="h", tags=tags)  # fmt: skip
    )
    assert body.count(b"{") > 500
    spool = Spool(tmp_path / "deep.spool")
    spool.write(encode_line("r", "e1", 0, 1, "episode_started", body))
    spool.close()
    rows = _deeper(60, lambda: read_spool(tmp_path / "deep.spool")).rows
    assert len(rows) == 1 and bytes(rows[0][5]) == body
    decoded = _deeper(60, lambda: decode_payload("episode_started", body))
    assert decoded == started

"""The event store: Arrow batches, spool durability (a real SIGKILL), recovery, shards,
views, the one-writer rule, schema versions."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest

from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.spool import read_spool
from medenv.events.store import (
    EventStore,
    connect,
    read_episode,
    read_spools,
    shard_files,
    spool_segments,
)
from tests.cli import cli_error

ROOT = Path(__file__).resolve().parents[1]


def _episode(store: EventStore, episode_id: str, steps: int = 2) -> None:
    store.emit(
        ev.EpisodeStarted(
            question_id=f"q-{episode_id}", seed=1, split="test", specialty="neurology", n_hops=2,
            optimal_calls=3, answer="A", aliases=[], prompt="p", config_hash="h",
            tags={"agent": "t"},
        ),
        episode_id,
    )  # fmt: skip
    for step in range(steps):
        store.emit(ev.ActionReceived(step=step, text=f"act {step} α"), episode_id)
        store.emit(
            ev.ToolCalled(step=step, name="medical_search", arguments={"query": "x"}), episode_id
        )
        store.emit(
            ev.ToolReturned(step=step, name="medical_search", observation=f"obs {step}\nline",
                            latency_ms=1.5, doc_ids=["med:a", "web:b"]),
            episode_id,
        )  # fmt: skip
        store.commit()
    store.emit(ev.AnswerSubmitted(step=steps, answer="A"), episode_id)
    store.emit(
        ev.RewardAssigned(accuracy=1.0, format=1.0, efficiency=0.5, total=1.3, correct=True,
                          evidence_recall=1.0, weights={"accuracy": 1.0}),
        episode_id,
    )  # fmt: skip
    store.emit(
        ev.EpisodeEnded(steps=steps + 1, terminated=True, truncated=False, n_tool_calls=steps + 1,
                        n_format_errors=0),
        episode_id,
    )  # fmt: skip
    store.end_episode(episode_id)


@pytest.mark.parametrize("durability", ["sync", "step", "episode", "none"])
def test_durability_modes_spool_then_ingest(tmp_path, durability):
    path = tmp_path / "ev.duckdb"
    spool = tmp_path / "ev.duckdb.spool"
    with EventStore(path, run_id="r", durability=durability, batch_events=1000) as store:
        store.emit(ev.EpisodeStarted(question_id="q", seed=None, split="s", specialty="x", n_hops=1,
                                     optimal_calls=1, answer="A", aliases=[], prompt="p",
                                     config_hash="h", tags={}), "e1")  # fmt: skip
        store.commit()
        on_disk = len(read_spool(spool).rows)  # (a mapped spool's file is longer: zeros)
        assert on_disk == (1 if durability in ("sync", "step") else 0)
        _episode(store, "e2")
        on_disk = len(read_spool(spool).rows)
        assert on_disk == (12 if durability != "none" else 0)
    assert not spool.exists()  # everything ingested at close
    con = connect(path)
    # e1 (never ended) + e2 (2 steps, ended) + e2's seal + run_closed
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 1 + (1 + 2 * 3 + 3) + 1 + 1


@pytest.mark.parametrize("ingest", ["thread", "process"])
def test_batches_ingest_at_episode_end_once_full(tmp_path, ingest):
    path = tmp_path / "ev.duckdb"
    store = EventStore(path, run_id="r", batch_events=20, ingest=ingest)
    for k in range(3):
        _episode(store, f"e{k}")  # 10 events + a seal each: ingested after the 2nd episode
        pending = store._count()
        assert pending == (11 if k in (0, 2) else 0)
    store.drain()  # the batch was handed to the background ingest
    if ingest == "thread":
        assert store.con.execute("SELECT count(*) FROM events").fetchall() == [(22,)]
    else:  # the ingest process holds the file; its segment is deleted once ingested
        assert store.con is None and store._child is not None
        assert [p.name for p in spool_segments(path)] == ["ev.duckdb.spool"]
        assert len(read_spools(path)[0]) == 11  # the third episode, still in the live spool
    store.close()
    assert connect(path).execute("SELECT count(*) FROM events").fetchone()[0] == 33 + 1


def test_views_and_read_episode(tmp_path):
    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r1") as store:
        store.emit(ev.RunStarted(config={"max_steps": 3}, kg_source="hpo", kg_version="v",
                                 corpus_hash="c", parser_version="1.0",
                                 reward_weights={"accuracy": 1.0}, seed=7))  # fmt: skip
        _episode(store, "e1", steps=2)
    con = connect(path)
    ep = con.execute(
        "SELECT question_id, specialty, n_hops, optimal_calls, correct, reward, accuracy, format, "
        "efficiency, evidence_recall, n_tool_calls, n_format_errors, steps, terminated, truncated, "
        "finished, agent, prediction FROM episodes"
    ).fetchone()
    assert ep == ("q-e1", "neurology", 2, 3, True, 1.3, 1.0, 1.0, 0.5, 1.0, 3, 0, 3, True, False,
                  True, "t", "A")  # fmt: skip
    steps = con.execute(
        "SELECT step, outcome, tool, observation FROM steps ORDER BY step"
    ).fetchall()
    assert steps == [
        (0, "tool", "medical_search", "obs 0\nline"),
        (1, "tool", "medical_search", "obs 1\nline"),
    ]
    calls = con.execute(
        "SELECT step, name, arguments, n_docs, latency_ms FROM tool_calls ORDER BY step"
    ).fetchall()
    assert calls[0] == (0, "medical_search", '{"query":"x"}', 2, 1.5)
    assert con.execute("SELECT run_id, seed, kg_source FROM runs").fetchone() == ("r1", 7, "hpo")
    events = read_episode(con, "e1")
    assert [e.type for e in events][:3] == ["run_started", "episode_started", "action_received"]
    assert events[2].payload.text == "act 0 α" and [e.seq for e in events[1:]] == list(range(10))
    with pytest.raises(MedenvError, match="no episode"):
        read_episode(con, "missing")


def test_second_writer_in_another_process_gets_a_clear_error(tmp_path):
    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r"):
        with pytest.raises(MedenvError, match="already being written by process"):
            EventStore(path)
        code = f"from medenv.events.store import EventStore; EventStore({str(path)!r})"
        proc = subprocess.run(
            [sys.executable, "-m", "medenv.cli", "runs", "--db", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert proc.returncode == 2 and f"process {os.getpid()} is writing it" in proc.stderr
        assert "Traceback" not in proc.stderr
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT
        )
        assert (
            proc.returncode != 0
            and f"already being written by process {os.getpid()}" in proc.stderr
        )
    EventStore(path).close()  # free again once the holder closed


def test_shards_are_read_together(tmp_path):
    path = tmp_path / "ev.duckdb"
    a = EventStore(path, run_id="run", shard="auto")
    b = EventStore(path, run_id="run", shard="auto")
    c = EventStore(path, run_id="run", shard=5)
    for k, store in enumerate((a, b, c)):
        _episode(store, f"e{k}")
        store.close()
    assert [p.name for p in shard_files(path)] == [
        "ev.duckdb",
        "ev.shard-1.duckdb",
        "ev.shard-5.duckdb",
    ]
    for source in (path, str(tmp_path / "*.duckdb"), tmp_path, [path]):
        con = connect(source)
        assert con.execute("SELECT count(*) FROM episodes").fetchone()[0] == 3
    with pytest.raises(MedenvError, match="no event store"):
        connect(tmp_path / "nothing.duckdb")
    with pytest.raises(MedenvError, match="shard must be"):
        EventStore(path, shard="x")


def test_spool_torn_tail_is_reported_and_a_bad_line_skipped(tmp_path):
    from medenv.events.store import spool_notes

    path = tmp_path / "ev.duckdb"
    store = EventStore(path, run_id="r")
    _episode(store, "e1")
    store._spool.close()  # abandon the writer without ingesting, as a kill would
    store._lock.release()
    store.con.close()
    spool = tmp_path / "ev.duckdb.spool"
    with spool.open("ab") as f:
        f.write(b'["r","e1",99,1,"action_rec')  # torn last write
    con = connect(path)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 11  # 10 + the seal
    (note,) = spool_notes(con)
    assert "ev.duckdb.spool: ignored a torn last line (26 bytes" in note
    con.close()
    recovered = EventStore(path, run_id="r2")
    assert recovered.recovered == 11 and "torn last line" in recovered.recovered_notes[0]
    recovered.close()
    assert spool.exists() is False  # repaired: ingested, then emptied
    assert connect(path).execute("SELECT count(*) FROM events").fetchone()[0] == 11
    spool.write_bytes(b'["r","e9",0,1,"episode_started",{}]\nnot json\n')
    con = connect(path)
    assert spool_notes(con) == [f"{spool}:2: not an event line; skipped"]
    assert con.execute("SELECT count(*) FROM events WHERE episode_id = 'e9'").fetchone()[0] == 1
    con.close()
    EventStore(path).close()  # a writer ingests the good line too
    assert connect(path).execute("SELECT count(*) FROM events").fetchone()[0] == 12


def test_schema_version_and_unknown_types():
    payload = msgspec.json.encode({"v": 99, "step": 0, "answer": "x"})
    with pytest.raises(MedenvError, match="schema version 99"):
        ev.decode_payload("answer_submitted", payload)
    with pytest.raises(MedenvError, match="bad answer_submitted payload"):
        ev.decode_payload("answer_submitted", b'{"v": 1, "step": "two"}')
    ok = ev.decode_payload("answer_submitted", b'{"v": 1, "step": 2, "answer": "x"}')
    assert ok == ev.AnswerSubmitted(step=2, answer="x", v=1)  # schema v1 still reads
    # undeclared types decode to a generic payload (readers keep working), never raise
    other = ev.decode_payload("nope", b'{"v": 3, "note": "hi", "n": [1, 2]}')
    assert other == ev.UnknownPayload(type="nope", data={"v": 3, "note": "hi", "n": [1, 2]}, v=3)
    assert ev.decode_payload("nope", b"{}") == ev.UnknownPayload(type="nope", data={})
    with pytest.raises(MedenvError, match="bad nope payload"):
        ev.decode_payload("nope", b"[1, 2]")


def test_judge_verdict_is_a_declared_event_type(tmp_path):
    import medenv.judge

    assert ev.EVENT_TYPES["judge_verdict"] is ev.JudgeVerdict is medenv.judge.JudgeVerdict
    assert ev.TYPE_NAMES[ev.JudgeVerdict] == "judge_verdict"
    verdict = ev.JudgeVerdict(
        run_id="r1", episode_id="e1", question_id="q", prediction="p", gold="g", model="m",
        prompt_hash="h", key="k", correct=True, raw="CORRECT",
    )  # fmt: skip
    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="judge-1", durability="episode") as store:
        store.emit(verdict)
        store.end_episode(None)
    con = connect(path)
    (payload,) = con.execute("SELECT payload FROM events WHERE type = 'judge_verdict'").fetchone()
    assert ev.decode_payload("judge_verdict", payload) == verdict


def test_read_episode_with_other_event_types_in_the_store(tmp_path):
    import duckdb

    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r1") as store:
        store.emit(ev.RunStarted(config={"max_steps": 3}, kg_source="hpo", kg_version="v",
                                 corpus_hash="c", parser_version="1.0",
                                 reward_weights={"accuracy": 1.0}, seed=7))  # fmt: skip
        _episode(store, "e1", steps=1)
    con = duckdb.connect(str(path))  # another tool (or a newer medenv) adds its own event
    con.execute(
        "INSERT INTO events VALUES ('r1', 'e1', 99, now()::TIMESTAMP, 'agent_note', ?)",
        ['{"v": 2, "text": "thinking out loud"}'],
    )
    con.close()
    events = read_episode(path, "e1")
    assert events[-1].type == "agent_note" and events[-1].seq == 99
    assert events[-1].payload == ev.UnknownPayload(
        type="agent_note", data={"v": 2, "text": "thinking out loud"}, v=2
    )
    assert [e.type for e in events[:2]] == ["run_started", "episode_started"]
    assert sum(e.type == "episode_ended" for e in events) == 1
    with EventStore(path, run_id="r2") as store, pytest.raises(MedenvError, match="not a declared"):
        store.emit(events[-1].payload, "e2")  # readers' generic payloads are never written


KILLED_RUN = textwrap.dedent(
    """
    import sys
    import gymnasium as gym
    import medenv
    from tests.test_env import make_items, scripted_actions
    from medenv.world import load_world
    world = load_world(progress=False)
    items = make_items(world.kg, 6)
    env = gym.make("MedResearch-v0", qa=items, db=sys.argv[1], run_id="killed")
    for episode in range(1000):
        env.reset(seed=episode)
        for step, action in enumerate(["bad", *scripted_actions(world, env.unwrapped.item)]):
            env.step(action)
            print(env.unwrapped.episode_id, step, flush=True)
    """
)


def test_sigkill_loses_no_event_of_a_returned_step(tmp_path):
    path = tmp_path / "killed.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(path)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    returned = []
    for line in proc.stdout:
        returned.append(tuple(line.split()))
        if len(returned) == 37:  # mid-episode (4 steps per episode)
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    logged = (
        connect(path)
        .execute("SELECT episode_id, step FROM steps ORDER BY episode_id, step")
        .fetchall()
    )
    logged = {(e, str(s)) for e, s in logged}
    assert set(returned) <= logged
    # the next writer ingests the leftovers; every returned step is then in DuckDB itself
    EventStore(path, run_id="next").close()
    con = connect(path)
    steps = {(e, str(s)) for e, s in con.execute("SELECT episode_id, step FROM steps").fetchall()}
    assert set(returned) <= steps
    assert con.execute("SELECT count(*) FROM episodes WHERE finished").fetchone()[0] >= 9


def _foreign_duckdb(path: Path, sql: str | None) -> Path:
    """A DuckDB file that is not an event store (``sql`` creates its tables), or a file of
    other bytes when ``sql`` is None."""
    import duckdb

    if sql is None:
        path.write_bytes(b"hello, not a database\n")
    else:
        con = duckdb.connect(str(path))
        con.execute(sql)
        con.close()
    return path


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE TABLE foo (x INT)", r"not a medenv event store: no events table \(tables: foo\)"),
        ("CREATE TABLE events (x INT)", r"its events table has columns \(x\), expected \(run_id"),
        (None, "not a DuckDB file"),
    ],
    ids=["no-events-table", "foreign-events-table", "not-duckdb"],
)
def test_a_file_that_is_not_an_event_store_is_named_by_readers_and_writers(
    tmp_path, capsys, sql, message
):

    path = _foreign_duckdb(tmp_path / "other.duckdb", sql)
    before = path.read_bytes()
    with pytest.raises(MedenvError, match=message):
        connect(path)
    with pytest.raises(MedenvError, match=message if sql else "cannot open event store"):
        EventStore(path)  # never adds an events table to someone else's database
    assert path.read_bytes() == before
    for argv in (["runs"], ["replay"], ["eval"], ["export", "--out", str(tmp_path / "x")]):
        _, err = cli_error([*argv, "--db", str(path)], capsys)
        assert re.search(message, err), err
        assert "close its writer" not in err  # no writer holds it: no misleading hint
    assert not (tmp_path / "x").exists()  # export wrote nothing


def test_a_truncated_store_is_one_error_line(tmp_path, capsys):
    from medenv.cli import main

    path = tmp_path / "ev.duckdb"
    with EventStore(path, run_id="r") as store:
        for k in range(60):
            store.emit(ev.ActionReceived(step=0, text=os.urandom(8000).hex()), f"e{k}")
        store.commit()
    data = path.read_bytes()
    assert len(data) > 600_000
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(data[:300_000])
    assert main(["export", "--db", str(cut), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cut.duckdb" in err and "damaged" in err


def test_an_event_store_path_under_a_file_or_at_a_folder_is_named(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(MedenvError, match="afile is a file, not a folder"):
        EventStore(tmp_path / "afile" / "ev.duckdb")
    with pytest.raises(MedenvError, match="is a folder, not a file"):
        EventStore(tmp_path)
    assert not list(tmp_path.glob("*.lock"))


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from medenv.events import schema as ev
    from medenv.events.store import EventStore
    store = EventStore(sys.argv[1], run_id="k", durability=sys.argv[2], batch_events=7,
                       ingest=sys.argv[3])
    child = None
    for k in range(100_000):
        e = f"e{k:06d}"
        for step in range(2):
            store.emit(ev.ActionReceived(step=step, text="x" * 200), e)
            store.commit()
            print(e, step, flush=True)
        store.emit(ev.EpisodeEnded(steps=2, terminated=True, truncated=False, n_tool_calls=2,
                                   n_format_errors=0), e)
        store.end_episode(e)
        if store._child is not None and store._child.pid != child:
            child = store._child.pid
            print("child", child, flush=True)
    """
)
"""A writer of two-step episodes (argv: store path, durability, ingest mode) printing
``EPISODE STEP`` after each returned step and ``child PID`` when an ingest process starts."""


@pytest.mark.parametrize("durability", ["step", "sync"])
def test_sigkill_during_background_ingests_loses_and_repeats_nothing(tmp_path, durability):
    """A writer handing a batch to the ingest thread every ~3 episodes is killed at a
    random point: every returned step is read back exactly once (spool segments included),
    and the next writer ingests the leftovers and deletes the segments."""
    path = tmp_path / "bg.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path), durability, "thread"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    returned = []
    for line in proc.stdout:
        returned.append(tuple(line.split()))
        assert returned[-1][0] != "child"  # the thread mode starts no ingest process
        if len(returned) == 300 + 7 * (durability == "sync"):
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    def check() -> None:
        con = connect(path)
        rows = con.execute(
            "SELECT episode_id, seq, payload->>'$.step' FROM events WHERE type = 'action_received'"
        ).fetchall()
        con.close()
        assert len(rows) == len({(e, seq) for e, seq, _ in rows})  # nothing twice
        assert set(returned) <= {(e, s) for e, _, s in rows}

    check()
    EventStore(path, run_id="next").close()
    assert [p.name for p in tmp_path.iterdir() if ".spool" in p.name] == []
    check()

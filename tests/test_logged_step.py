"""A step spooled as one line (`medenv.events.logged_step`) stands for exactly the events
the table then holds.

The check is a second reading of the line format written here from its documentation (the
line ``[run_id, episode_id, seq, ts_us, "step", [ts_us, step, text, think, is_dict, family,
truncated_from, measures, calls, answer, answered_us, rejection]]``, a call ``[name,
arguments, called_us, returned_us, observation, latency_ms, doc_ids, ok, error,
measures]``, a rejection ``[ts_us, kind, message, observation, measures]``), with plain
`json`, against what a real env's real store ingests; and against the events a recorder
that takes events one by one is given for the same actions.
"""

from __future__ import annotations

import json

import gymnasium as gym
import msgspec
import pytest

from medenv.errors import MedenvError
from medenv.events.files import unreadable_path
from medenv.events.logged_step import LoggedCall, LoggedStep, event_count, events_of
from medenv.events.spool import SpoolRecoveryWarning
from medenv.events.store import EventStore, connect
from tests.test_env import MALFORMED, make_items, scripted_actions

V = 2  # the payloads' schema version


@pytest.fixture(scope="module")
def world():
    from medenv.world import load_world

    return load_world(progress=False)


def _actions(world, item) -> list:
    """Hostile and ideal actions: the env's malformed cases (the 1.25 MB one included),
    a tool's own refusal after its call ran, two calls in one step, then the ideal
    agent's search, browse and answer."""
    name = world.kg.node(item.chain[0]).name
    two = (
        f'<tool_call>{{"name": "medical_search", "arguments": {{"query": "{name}"}}}}</tool_call>'
        '<tool_call>{"name": "web_search", "arguments": {"query": "inheritance"}}</tool_call>'
    )
    return [a for a, _ in MALFORMED] + [two, *scripted_actions(world, item)]


def _expand(line: list) -> list[tuple]:
    """The test's own reading of one spool line: ``[(episode_id, seq, ts_us, type,
    payload dict)]`` (an event line gives itself)."""
    _, episode, seq, ts, kind, body = line
    if kind != "step":
        return [(episode, seq, ts, kind, body)]
    (t0, step, text, think, is_dict, family, cut, measures, calls, answer, answered_us,
     rejection) = body  # fmt: skip
    out = [(t0, "action_received", {"v": V, "step": step, "text": text, "think": think,
            "is_dict": is_dict, "family": family, "truncated_from": cut, **measures})]  # fmt: skip
    for i, (name, args, called, returned, obs, latency, docs, ok, error, extra) in enumerate(calls):
        out.append((called, "tool_called", {"v": V, "step": step, "name": name,
                                            "arguments": args, "call": i}))  # fmt: skip
        out.append((returned, "tool_returned", {"v": V, "step": step, "name": name,
                    "observation": obs, "latency_ms": latency, "doc_ids": docs, "ok": ok,
                    "error": error, "call": i, **extra}))  # fmt: skip
    if answer is not None:
        out.append((answered_us, "answer_submitted", {"v": V, "step": step, "answer": answer}))
    if rejection is not None:
        t, kind_, message, obs, extra = rejection
        out.append((t, "action_rejected", {"v": V, "step": step, "kind": kind_,
                    "message": message, "observation": obs, **extra}))  # fmt: skip
    return [(episode, seq + k, t, k_, p) for k, (t, k_, p) in enumerate(out)]


def _spool_lines(store: EventStore) -> list[list]:
    data = store._spool_path.read_bytes().rstrip(b"\0")
    return [json.loads(line) for line in data.split(b"\n") if line]


def _table(path) -> dict:
    con = connect(path)
    rows = con.execute(
        "SELECT episode_id, seq, epoch_us(ts), type, CAST(payload AS VARCHAR) FROM events "
        "WHERE episode_id IS NOT NULL"
    ).fetchall()
    con.close()
    table = {}
    for episode, seq, ts, kind, payload in rows:
        body = json.loads(payload)
        del body["h"]  # the seal's
        body.pop("tokens", None)
        table[(episode, seq)] = (ts, kind, body)
    return table


def test_each_step_is_one_line_and_stands_for_the_events_the_table_holds(world, tmp_path):
    items = make_items(world.kg, n=2)
    path = tmp_path / "events.duckdb"
    store = EventStore(path, batch_events=10**6)  # nothing ingested before close
    env = gym.make("MedResearch-v0", qa=items, db=store, world=world, max_steps=30)
    steps = 0
    for item in items:
        env.reset(seed=0, options={"question_id": item.id})
        for action in _actions(world, item):
            _, _, terminated, _, _ = env.step(action)
            steps += 1
        assert terminated
    lines = _spool_lines(store)
    env.close()

    step_lines = [line for line in lines if line[4] == "step"]
    assert len(step_lines) == steps  # one line a step, and no event line of a step's
    assert not {"action_received", "tool_called", "tool_returned", "action_rejected",
                "answer_submitted"} & {line[4] for line in lines}  # fmt: skip
    expected = {}
    for line in lines:
        for episode, seq, ts, kind, body in _expand(line):
            assert (episode, seq) not in expected
            body.pop("tokens", None)  # (counted where the row is sealed)
            if episode is not None:
                expected[(episode, seq)] = (ts, kind, body)
    table = _table(path)
    assert table == expected
    # every seq of each episode is there once, from 0 on (a step's count is its events)
    for episode in {e for e, _ in table}:
        seqs = sorted(s for e, s in table if e == episode)
        assert seqs == list(range(len(seqs)))
    kinds = [kind for _, kind, _ in table.values()]
    for kind in ("action_rejected", "tool_returned", "answer_submitted"):
        assert kind in kinds
    cut = [b for _, k, b in table.values() if k == "action_received" and b["truncated_from"]]
    assert cut and cut[0]["truncated_from"] == 1_250_000


class _Events:
    """A recorder that takes events only (no ``emit_step``)."""

    shard = 0

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def emit(self, payload, episode_id=None):
        self.events.append((episode_id, json.loads(msgspec.json.encode(payload))))
        return len(self.events)

    def commit(self):
        pass

    def end_episode(self, episode_id=None):
        pass

    def discard(self):
        pass

    def close(self):
        pass


def test_a_recorder_of_events_is_given_the_events_the_store_holds(world, tmp_path):
    items = make_items(world.kg, n=1)
    path = tmp_path / "events.duckdb"
    recorder = _Events()
    envs = [
        gym.make("MedResearch-v0", qa=items, db=db, world=world, max_steps=30)
        for db in (path, recorder)
    ]
    for env in envs:
        env.reset(seed=0, options={"question_id": items[0].id})
        for action in _actions(world, items[0]):
            env.step(action)
        env.close()
    stored = sorted(_table(path).items())
    given = [(e, p) for e, p in recorder.events if e is not None]
    assert len(stored) == len(given) > 20
    for ((_, _), (_, kind, body)), (_, payload) in zip(stored, given, strict=True):
        payload.pop("tokens", None)
        if kind in ("tool_returned",):  # timed separately in each env
            body.pop("latency_ms"), payload.pop("latency_ms")
        assert body == payload, kind


def test_a_step_msgspec_cannot_encode_is_spooled_event_by_event(tmp_path):
    """A lone surrogate (which no UTF-8 line holds) in a step's text: the step's events are
    written one line each, through the log's cleaning, and stored as such."""
    path = tmp_path / "events.duckdb"
    bad = LoggedStep(
        10,
        0,
        "text \ud800",
        None,
        False,
        None,
        None,
        {},
        [
            LoggedCall(
                "browse", {"url": "u\udc00"}, 11, 12, "obs \ud800", 0.5, ["d"], True, None, {}
            )
        ],  # fmt: skip
    )
    store = EventStore(path, batch_events=10**6)
    assert store.emit_step(bad, "e1") == 0
    store.commit()
    lines = _spool_lines(store)
    assert [line[4] for line in lines] == ["action_received", "tool_called", "tool_returned"]
    assert [line[2] for line in lines] == [0, 1, 2] and [line[3] for line in lines] == [10, 11, 12]
    assert store.emit_step(bad, "e1") == 3  # the next step's events follow on
    store.close()
    table = _table(path)
    assert table[("e1", 0)][2]["text"] == "text \ufffd"
    assert table[("e1", 1)][2]["arguments"] == {"url": "u\ufffd"}
    assert table[("e1", 2)][2]["observation"] == "obs \ufffd"
    assert sorted(s for _, s in table) == list(range(6))


def test_event_count_counts_events_of(world):
    steps = [
        LoggedStep(1, 0, "t", None, False, None, None, {}),
        LoggedStep(1, 0, "t", "th", True, "qwen", 9, {}, answer="a", answered_us=3),
    ]
    call = LoggedCall("browse", {}, 1, 2, "o", 0.1, [], False, "bad_arguments", {})
    steps.append(LoggedStep(1, 1, "t", None, False, None, None, {}, [call, call]))
    for step in steps:
        assert event_count(step) == len(events_of(step))
    assert [type(p).__name__ for _, p in events_of(steps[2])] == [
        "ActionReceived", "ToolCalled", "ToolReturned", "ToolCalled", "ToolReturned",
    ]  # fmt: skip


def test_emit_step_refuses_what_emit_refuses(tmp_path):
    store = EventStore(tmp_path / "e.duckdb")
    step = LoggedStep(1, 0, "t", None, False, None, None, {})
    with pytest.raises(MedenvError, match="takes a LoggedStep"):
        store.emit_step({"step": 0}, "e1")
    with pytest.raises(MedenvError, match="and an episode id, got a LoggedStep and None"):
        store.emit_step(step, None)
    with pytest.raises(MedenvError, match="episode_id must be a string"):
        store.emit_step(step, 5)
    store.close()
    with pytest.raises(MedenvError, match="is closed"):
        store.emit_step(step, "e1")


def test_a_torn_step_line_loses_its_whole_step_and_a_bad_one_is_kept(world, tmp_path):
    """A kill inside a step's write: none of that step's events is read back (a step is
    logged whole or not at all); a step line that is not a step this medenv logs is kept
    in ``.unreadable`` and the lines around it are read."""
    path = tmp_path / "events.duckdb"
    store = EventStore(path, run_id="r1", batch_events=10**6)
    for n in range(3):
        store.emit_step(LoggedStep(n, n, f"step {n}", None, False, None, None, {}), "e1")
        store.commit()
    lines = store._spool_path.read_bytes().rstrip(b"\0").split(b"\n")[:-1]
    store._spool.close()  # abandon the writer without ingesting, as a kill would
    store._lock.release()
    store.con.close()
    bad = json.loads(lines[1])
    bad[5][7] = {"no_such_measure": 1}
    torn = lines[2][: len(lines[2]) // 2]
    store._spool_path.write_bytes(lines[0] + b"\n" + json.dumps(bad).encode() + b"\n" + torn)
    with pytest.warns(SpoolRecoveryWarning) as warned:
        EventStore(path, run_id="r2").close()
    notes = " | ".join(str(w.message) for w in warned)
    assert "torn last line" in notes and "spool:2: not an event line; kept in" in notes
    table = _table(path)
    assert [table[k][2]["text"] for k in sorted(table)] == ["step 0"]
    assert unreadable_path(path).read_bytes() == json.dumps(bad).encode() + b"\n"


def test_a_step_counts_as_its_events_toward_a_batch(world, tmp_path):
    """``batch_events`` counts events, whether staged one by one or as a step's line."""
    items = make_items(world.kg, n=1)
    path = tmp_path / "events.duckdb"
    store = EventStore(path, batch_events=10**6)
    env = gym.make("MedResearch-v0", qa=items, db=store, world=world, max_steps=30)
    env.reset(seed=0, options={"question_id": items[0].id})
    for action in _actions(world, items[0]):
        env.step(action)
    pending = store._count()
    env.close()
    con = connect(path)
    (stored,) = con.execute("SELECT count(*) FROM events WHERE type != 'run_closed'").fetchone()
    con.close()
    assert pending == stored > 20


def test_a_measurement_named_like_a_field_takes_its_place():
    """As `STEP_MEASURES` always worked: the measured value is the event's field."""
    call = LoggedCall("browse", {}, 1, 2, "o", 0.1, ["d"], True, None, {"doc_ids": ["x"]})
    step = LoggedStep(1, 0, "t", None, False, None, None, {"text": "measured"}, [call])
    (_, received), _, (_, returned) = events_of(step)
    assert received.text == "measured" and returned.doc_ids == ["x"]

"""Evaluation reads each ended episode's figures from its seal (`EpisodeSummary`); the
projection of the episode's own events (`SUMMARY_SQL`) is the second reading. Both must
give the same records and the same report, on a store of real episodes: the oracle, the
heuristic cut short (truncated), the random agent (format errors), an episode that never
ended, and a store written before seals carried summaries."""

from __future__ import annotations

import shutil

import duckdb
import msgspec
import pytest

from agents.rollout import rollout
from medenv import evaluation
from medenv.events.schema import EpisodeStarted, EpisodeSummary, decode_payload
from medenv.events.store import EventStore, connect
from medenv.events.summaries import summaries


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("sealsum") / "events.duckdb"
    rollout("oracle", episodes=8, db=path, seed=0, k=2, progress=False)
    rollout("heuristic", episodes=8, db=path, seed=1, max_steps=2, progress=False)
    rollout("random", episodes=6, db=path, seed=2, max_steps=3, progress=False)
    with EventStore(path, run_id="crashed") as writer:  # started, never ended nor sealed
        writer.emit(
            EpisodeStarted(
                question_id="q-x", seed=0, split="test", specialty="cardiology", n_hops=2,
                optimal_calls=3, answer="a", aliases=[], prompt="which one?", config_hash="c",
                tags={"agent": "crash"},
            ),
            "ep-open",
        )  # fmt: skip
        writer.commit()
    return path


def _records(con, **kw):
    return [msgspec.structs.asdict(r) for r in summaries(con, **kw)]


def test_the_store_has_the_cases(store):
    con = connect(store)
    recs = summaries(con)
    assert any(r.correct for r in recs) and any(not r.correct for r in recs)
    assert any(r.n_format_errors > 0 for r in recs), "no format errors"
    assert any(not r.ended for r in recs), "no unended episode"
    truncated = con.execute(
        "SELECT count(*) FROM events WHERE type = 'episode_ended' "
        "AND CAST(payload->>'$.truncated' AS BOOLEAN)"
    ).fetchone()[0]
    assert truncated > 0
    sealed = con.execute(
        "SELECT count(*) FROM events WHERE type = 'episode_sealed' "
        "AND (payload->>'$.summary') IS NOT NULL"
    ).fetchone()[0]
    assert sealed == sum(r.ended for r in recs)  # every ended episode carries its summary


@pytest.mark.parametrize("group_by", ["run", "agent"])
def test_seal_summaries_equal_the_projection_of_the_events(store, group_by):
    con = connect(store)
    fast = _records(con, group_by=group_by)
    slow = _records(con, group_by=group_by, from_seals=False)
    assert len(fast) == len(slow) > 25
    assert fast == slow
    runs = sorted({r["run_id"] for r in fast})[:2]
    assert _records(con, runs=runs) == _records(con, runs=runs, from_seals=False)


def test_the_report_is_the_same_through_both_paths(store):
    for group_by in ("run", "agent"):
        a = evaluation.evaluate(store, group_by=group_by, n_bootstrap=200)
        b = evaluation.evaluate(store, group_by=group_by, n_bootstrap=200, from_seals=False)
        assert msgspec.to_builtins(a) == msgspec.to_builtins(b)
        assert len(a.groups) >= 3


def test_summary_matches_a_recount_of_the_raw_events(store):
    """A third reading: each seal's summary against the episode's decoded events."""
    con = connect(store)
    rows = con.execute(
        "SELECT run_id, episode_id, type, CAST(payload AS VARCHAR) FROM events "
        "ORDER BY run_id, episode_id, seq"
    ).fetchall()
    events: dict = {}
    seals = {}
    for run_id, episode_id, type_, payload in rows:
        p = decode_payload(type_, payload)
        if type_ == "episode_sealed" and p.summary is not None:
            seals[(run_id, p.episode_id)] = p.summary
        elif episode_id is not None:
            events.setdefault((run_id, episode_id), []).append((type_, p))
    assert seals
    for key, summary in seals.items():
        evs = events[key]
        kinds = [t for t, _ in evs]
        started = next(p for t, p in evs if t == "episode_started")
        ended = [p for t, p in evs if t == "episode_ended"]
        rewards = [p for t, p in evs if t == "reward_assigned"]
        answers = [p.answer for t, p in evs if t == "answer_submitted"]
        assert isinstance(summary, EpisodeSummary)
        assert summary.question_id == started.question_id
        assert summary.tags == started.tags
        assert summary.ended == bool(ended)
        assert summary.n_actions == kinds.count("action_received")
        if ended:
            assert summary.n_tool_calls == ended[-1].n_tool_calls
            assert summary.n_format_errors == ended[-1].n_format_errors
        assert summary.correct == bool(rewards and rewards[-1].correct)
        assert summary.prediction == (answers[-1] if answers else None)
        assert summary.reward == (rewards[-1].total if rewards else None)


def test_a_store_written_before_seals_carried_summaries(store, tmp_path):
    old = tmp_path / "old.duckdb"
    shutil.copy(store, old)
    con = duckdb.connect(str(old))
    seals = con.execute(
        "SELECT run_id, seq, CAST(payload AS VARCHAR) FROM events WHERE type = 'episode_sealed'"
    ).fetchall()
    for run_id, seq, payload in seals:
        data = msgspec.json.decode(payload)
        data.pop("summary", None)
        con.execute(
            "UPDATE events SET payload = ? WHERE run_id = ? AND seq = ? AND "
            "type = 'episode_sealed'",
            [msgspec.json.encode(data).decode(), run_id, seq],
        )
    assert not con.execute(
        "SELECT count(*) FROM events WHERE payload LIKE '%\"summary\"%'"
    ).fetchone()[0]
    con.close()
    a = evaluation.evaluate(store, group_by="agent", n_bootstrap=100)
    b = evaluation.evaluate(old, group_by="agent", n_bootstrap=100)
    assert msgspec.to_builtins(a.groups) == msgspec.to_builtins(b.groups)

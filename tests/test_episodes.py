"""The one episode projection (`medenv.events.episodes`): its two readings of a real log
(the Python fold with steps, the SQL summary) agree with each other and with the events
counted again here, on episodes that answer right, answer wrong, break the format, run out
of steps and are abandoned."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import medenv  # noqa: F401  (registers MedResearch-v0)
from medenv.events.episodes import load_episodes
from medenv.events.store import connect
from medenv.events.summaries import summaries
from tests.test_env import make_items, scripted_actions

SHARED = (
    "question_id", "specialty", "n_hops", "optimal_calls", "ended", "n_tool_calls",
    "n_actions", "n_format_errors", "evidence_recall", "reward", "components", "prediction",
)  # fmt: skip


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    from medenv.world import load_world

    world = load_world(progress=False)
    items = make_items(world.kg, n=5)
    db = tmp_path_factory.mktemp("episodes") / "e.duckdb"
    env = gym.make("MedResearch-v0", qa=items, world=world, db=db, max_steps=3)
    plans = [
        scripted_actions(world, items[0]),  # right answer after two calls
        ["<answer>Marfan syndrome</answer>"],  # wrong at once
        ["not a call", scripted_actions(world, items[2])[0], "<answer>x</answer>"],
        [scripted_actions(world, items[3])[0]] * 3,  # out of steps: truncated
        [scripted_actions(world, items[4])[0]],  # left open, then abandoned by reset
    ]
    for item, plan in zip(items, plans, strict=True):
        env.reset(seed=1, options={"question_id": item.id})
        for action in plan:
            env.step(action)
    env.reset(seed=2, options={"question_id": items[0].id})
    env.close()
    return db


def _recount(con) -> dict[str, dict]:
    """Per episode, the outcome counted from the raw events (a second reading)."""
    out: dict[str, dict] = {}
    rows = con.execute("SELECT episode_id, type, payload FROM events ORDER BY seq").fetchall()
    for episode_id, type_, payload in rows:
        if episode_id is None:
            continue
        p = json.loads(payload)
        e = out.setdefault(episode_id, {"actions": 0, "calls": 0, "rejected": 0, "answer": None})
        if type_ == "episode_started":
            e["question_id"] = p["question_id"]
        elif type_ == "action_received":
            e["actions"] += 1
        elif type_ == "tool_called":
            e["calls"] += 1
        elif type_ == "action_rejected":
            e["rejected"] += 1
        elif type_ == "answer_submitted":
            e["answer"] = p["answer"]
        elif type_ == "reward_assigned":
            e["reward"], e["components"] = p["total"], p["components"]
        elif type_ == "episode_ended":
            e["ended"] = True
    return out


def test_two_readings_agree_with_each_other_and_the_raw_events(log):
    con = connect(log)
    summary = {e.episode_id: e for e in summaries(con)}
    recount = _recount(con)
    con.close()
    folded = {e.episode_id: e for e in load_episodes(log, ended_only=False)}
    assert set(summary) == set(folded) == set(recount) and len(summary) == 6
    for eid, s in summary.items():
        f, r = folded[eid], recount[eid]
        assert {k: getattr(s, k) for k in SHARED} == {k: getattr(f, k) for k in SHARED}, eid
        assert s.n_actions == r["actions"] == len(f.steps)
        assert s.n_format_errors == r["rejected"]
        assert s.prediction == r["answer"]
        assert s.research_calls == r["calls"] - (r["answer"] is not None)
        assert s.ended == r.get("ended", False)
        assert s.reward == r.get("reward") and s.components == r.get("components", {})
    outcomes = sorted(
        (s.prediction is not None, bool(s.correct), s.ended) for s in summary.values()
    )
    assert outcomes.count((True, True, True)) == 1  # the scripted episode
    abandoned = [f for f in folded.values() if not (f.terminated or f.truncated)]
    assert len(abandoned) == 2 and all(f.reward is None for f in abandoned)  # reset, close
    assert sum(f.truncated for f in folded.values()) == 1

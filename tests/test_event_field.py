"""Adding an event field is a change to `medenv/events/schema.py` alone (issue 13).

The test copies the package, edits ONLY the copy's schema.py as the README's developer
section says (a field on ``episode_started`` named after a `QAItem` attribute, one on
``episode_ended`` named after an `EpisodeState` attribute, and per-step measurements: a
field on ``action_received``, ``tool_returned`` and ``action_rejected`` each, with its
function of the step's context in ``STEP_MEASURES``), runs a real episode with the copy
against the default world and a real DuckDB store, and reads the fields back from the
stored events, the one projection (`load_episodes`), the replay trajectory and `verify`.
The per-step values are checked against the test's own recount from the record's text,
pages and error messages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import gymnasium as gym
    import msgspec
    import medenv
    from medenv.events import schema
    from medenv.events.episodes import load_episodes
    from medenv.events.replay import trajectory
    from medenv.events.store import read_episode
    from medenv.kg.cache import load_kg
    from medenv.verify import verify
    from tests.test_env import make_items, scripted_actions
    from medenv.world import load_world

    assert medenv.__file__.startswith(sys.argv[2]), medenv.__file__  # the edited copy
    world = load_world(progress=False)
    item = msgspec.structs.replace(make_items(world.kg, n=1)[0], difficulty=0.625)
    env = gym.make("MedResearch-v0", qa=[item], db=sys.argv[1], world=world, max_steps=5)
    env.reset(seed=0)
    for action in ["no tool call here", *scripted_actions(world, item)]:
        env.step(action)
    episode = env.unwrapped.episode_id
    env.close()
    [rec] = load_episodes(sys.argv[1])
    events = read_episode(sys.argv[1], episode)
    traj = trajectory(events)
    steps_docs = [d for s in rec.steps for d in s.doc_ids]
    per_step = ("words", "n_docs", "seen_before", "message_chars")
    print(json.dumps({
        "fields": list(schema.EpisodeStarted.__struct_fields__),
        "difficulty": rec.extra.get("difficulty"), "item_difficulty": item.difficulty,
        "retrieved": rec.extra.get("retrieved"), "step_docs": steps_docs,
        "replayed": traj.extra.get("difficulty"),
        "verified": verify(sys.argv[1], episode).ok,
        "stored": [[e.type, {f: getattr(e.payload, f) for f in per_step
                             if hasattr(e.payload, f)}] for e in events],
        "steps": [{"text": s.text, "doc_ids": list(s.doc_ids), "calls": len(s.calls),
                   "error_message": s.error_message, "extra": s.extra} for s in rec.steps],
        "replayed_steps": [s.extra for s in traj.steps],
    }))
    """
)


def _add_field(text: str, cls: str, after: str, line: str) -> str:
    head, sep, body = text.partition(f"class {cls}(Payload")
    assert sep and after in body, (cls, after)
    return head + sep + body.replace(after, after + line, 1)


MEASURES = {  # the per-step measurements the test declares: event type -> entries
    "ActionReceived": '"words": lambda c: len(c.text.split())',
    "ToolReturned": '"n_docs": lambda c: len(c.result.doc_ids), '
    '"seen_before": lambda c: len(c.state.retrieved)',
    "ActionRejected": '"message_chars": lambda c: len(c.error.message)',
}


def _add_measures(text: str) -> str:
    for cls, entries in MEASURES.items():
        entry = f"    {cls}: {{"
        head, sep, tail = text.partition("STEP_MEASURES: dict")
        assert sep and entry in tail, cls
        text = head + sep + tail.replace(entry, f"{entry}{entries}, ", 1)
    return text


def test_a_field_added_to_schema_py_alone_reaches_the_projection(tmp_path):
    copy = tmp_path / "pkg"
    shutil.copytree(ROOT / "medenv", copy / "medenv", ignore=shutil.ignore_patterns("__pycache__"))
    schema = copy / "medenv" / "events" / "schema.py"
    text = schema.read_text()
    text = _add_field(
        text, "EpisodeStarted", "    optimal_calls: int\n", "    difficulty: float = -1.0\n"
    )
    text = _add_field(
        text, "EpisodeEnded", "    n_format_errors: int\n", "    retrieved: list[str] = []\n"
    )
    # per-step measurements: a field on the payload and its function in STEP_MEASURES
    text = _add_field(
        text, "ActionReceived", "    truncated_from: int | None = None\n", "    words: int = -1\n"
    )
    text = _add_field(
        text, "ToolReturned", "    call: int = 0\n",
        "    n_docs: int = -1\n    seen_before: int = -1\n",
    )  # fmt: skip
    text = _add_field(
        text, "ActionRejected", '    observation: str = ""\n', "    message_chars: int = -1\n"
    )
    schema.write_text(_add_measures(text))
    env = {**os.environ, "PYTHONPATH": f"{copy}{os.pathsep}{ROOT}"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "events.duckdb"), str(copy)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert "difficulty" in got["fields"]
    # episode_started.difficulty is the item's (by name), not the declared default -1.0
    assert got["difficulty"] == got["item_difficulty"] == got["replayed"] == 0.625
    # episode_ended.retrieved is EpisodeState.retrieved: every page the tool calls showed
    assert got["retrieved"] == got["step_docs"] and got["retrieved"]
    assert got["verified"]  # the replayed env emits the new fields identically

    # per-step measurements, recounted from what the record holds (one call per step here)
    stored = got["stored"]
    by_type = {t: [v for tt, v in stored if tt == t] for t in ("action_received",
               "tool_returned", "action_rejected", "tool_called")}  # fmt: skip
    steps = got["steps"]
    assert [s["extra"]["words"] for s in steps] == [
        len(re.findall(r"\S+", s["text"])) for s in steps
    ] == [v["words"] for v in by_type["action_received"]]
    rejected = [s for s in steps if s["error_message"] is not None]
    called = [s for s in steps if s["calls"]]
    assert len(rejected) == 1 and len(called) == 3  # the junk action, search, browse, answer
    assert rejected[0]["extra"]["message_chars"] == len(rejected[0]["error_message"])
    assert [v["message_chars"] for v in by_type["action_rejected"]] == [
        len(rejected[0]["error_message"])
    ]
    assert [s["extra"]["n_docs"] for s in called] == [[len(s["doc_ids"])] for s in called]
    assert sum(len(s["doc_ids"]) for s in called) > 0
    seen, before = 0, []
    for s in called:  # pages shown by the earlier calls of the episode
        before.append([seen])
        seen += len(s["doc_ids"])
    assert [s["extra"]["seen_before"] for s in called] == before
    assert [v["n_docs"] for v in by_type["tool_returned"]] == [len(s["doc_ids"]) for s in called]
    assert [s["extra"] for s in steps] == got["replayed_steps"]
    assert not any(by_type["tool_called"])  # measurements land on their own event type only


def test_the_fold_reads_steps_calls_and_undeclared_fields_by_name():
    """Hand-written events (no env): two calls in one step, a rejected step, the answer, and
    payload fields the record does not declare (a subclass standing in for a newer schema)."""
    from datetime import UTC, datetime

    from medenv.events import schema as ev
    from medenv.events.episodes import fold

    class NewerEnded(ev.EpisodeEnded, frozen=True, kw_only=True):
        wall_s: float = 0.0
        steps_cap: int = 0

    class NewerReturned(ev.ToolReturned, frozen=True, kw_only=True):
        cached: bool = False

    now = datetime.now(UTC)
    payloads = [
        ("run_started", ev.RunStarted(config={"tools": ["medical_search"], "world": "default"},
                                      kg_source="hpo", kg_version="1", corpus_hash="c",
                                      parser_version="p", reward_weights={}, seed=0)),
        ("episode_started", ev.EpisodeStarted(question_id="q1", seed=3, split="test",
                                              specialty="", n_hops=2, optimal_calls=3,
                                              answer="Gold", aliases=["G"], prompt="P",
                                              config_hash="h", tags={"agent": "x"},
                                              item={"rarity": 0.5})),
        ("action_received", ev.ActionReceived(step=0, text="two calls", think="t")),
        ("tool_called", ev.ToolCalled(step=0, name="medical_search", arguments={"query": "a"})),
        ("tool_returned", NewerReturned(step=0, name="medical_search", observation="A",
                                        latency_ms=1.5, doc_ids=["d1"], cached=True)),
        ("tool_called", ev.ToolCalled(step=0, name="browse", arguments={"url": "u"}, call=1)),
        ("tool_returned", NewerReturned(step=0, name="browse", observation="B",
                                        latency_ms=2.0, doc_ids=["d2", "d3"], call=1)),
        ("action_received", ev.ActionReceived(step=1, text="junk")),
        ("action_rejected", ev.ActionRejected(step=1, kind="no_call", message="m",
                                              observation="Error")),
        ("action_received", ev.ActionReceived(step=2, text="<answer>x</answer>")),
        ("tool_called", ev.ToolCalled(step=2, name="answer", arguments={"answer": "x"})),
        ("tool_returned", ev.ToolReturned(step=2, name="answer", observation="ok",
                                          latency_ms=0.0, doc_ids=[])),
        ("answer_submitted", ev.AnswerSubmitted(step=2, answer="x")),
        ("reward_assigned", ev.RewardAssigned(accuracy=0.0, format=0.5, efficiency=0.25,
                                              total=0.75, correct=False, evidence_recall=0.5,
                                              weights={})),
        ("episode_ended", NewerEnded(steps=3, terminated=True, truncated=False, n_tool_calls=3,
                                     n_format_errors=1, wall_s=2.5, steps_cap=12)),
    ]  # fmt: skip
    events = [
        ev.Event(run_id="r", episode_id=None if t == "run_started" else "e", seq=i, ts=now,
                 type=t, payload=p)
        for i, (t, p) in enumerate(payloads)
    ]  # fmt: skip
    [rec] = fold(events)
    assert (rec.question_id, rec.answer, rec.aliases, rec.specialty, rec.rarity) == (
        "q1", "Gold", ("G",), "general", 0.5,
    )  # fmt: skip
    assert rec.prediction == "x" and rec.reward == 0.75 and rec.correct is False
    # logged before named terms: the built-in three stand in for ``components``
    assert rec.components == {"accuracy": 0.0, "format": 0.5, "efficiency": 0.25}
    assert rec.ended and rec.terminated and rec.n_tool_calls == 3 and rec.n_format_errors == 1
    assert rec.extra["wall_s"] == 2.5 and rec.extra["steps_cap"] == 12
    assert rec.extra["n_steps"] == 3 and len(rec.steps) == 3  # steps stays the list
    assert rec.tool_names == ["medical_search"] and rec.kg_source == "hpo"
    s0, s1, s2 = rec.steps
    assert [c["name"] for c in s0.calls] == ["medical_search", "browse"]
    assert (s0.name, s0.observation, s0.doc_ids) == ("browse", "A\n\nB", ("d1", "d2", "d3"))
    assert s0.latency_ms == 3.5 and s0.think == "t" and s0.extra["cached"] == [True, False]
    assert s1.rejected == "no_call: m" and s1.observation == "Error" and not s1.calls
    assert s2.answer == "x" and s2.action == "<answer>x</answer>"

"""What the step's stages (`medenv.env_step`) put in a step's record, checked on a real env
writing a real store's spool: the contexts the per-step measurements see and where their
values land, the events' times and latencies, the call index of parallel calls, actions
too deep or too long, the rejection's observation, and a step line this medenv cannot
read (round 18's `steplog` mutation group: each test kills survivors of that run).
"""

from __future__ import annotations

import json
import time

import gymnasium as gym
import msgspec
import pytest

from medenv.actions import ACTION_MAX_CHARS, MAX_NESTING
from medenv.env_step import ActionContext, CallContext, RejectContext
from medenv.events import schema as ev
from medenv.events.logged_step import LoggedStep, events_of, expand_row
from medenv.events.store import EventStore
from medenv.tools.parsing import error_suffix, format_hint
from tests.test_env import make_items, scripted_actions


@pytest.fixture(scope="module")
def world():
    from medenv.world import load_world

    return load_world(progress=False)


def _steps(store: EventStore) -> list[LoggedStep]:
    """The store's spooled step lines, decoded as `LoggedStep`s."""
    data = store._spool_path.read_bytes().rstrip(b"\0")
    lines = [json.loads(line) for line in data.split(b"\n") if line]
    return [
        msgspec.json.decode(json.dumps(line[5]), type=LoggedStep) for line in lines
        if line[4] == "step"
    ]  # fmt: skip


def _env(world, tmp_path, items, **kw):
    store = EventStore(tmp_path / "events.duckdb", batch_events=10**6)
    env = gym.make("MedResearch-v0", qa=items, db=store, world=world, max_steps=30, **kw)
    return env, store


def test_measures_see_the_step_as_it_ran_and_land_on_their_events(world, tmp_path, monkeypatch):
    seen: dict[str, list] = {"received": [], "returned": [], "rejected": []}
    counted: list[int] = []

    def keep(kind, value):
        def measure(ctx):
            seen[kind].append(ctx)
            if kind == "returned":  # the calls the state counts while this one is measured
                counted.append(ctx.state.n_tool_calls)
            return value
        return measure

    monkeypatch.setitem(ev.STEP_MEASURES, ev.ActionReceived, {"tokens": keep("received", 11)})
    monkeypatch.setitem(ev.STEP_MEASURES, ev.ToolReturned, {"tokens": keep("returned", 22)})
    monkeypatch.setitem(ev.STEP_MEASURES, ev.ActionRejected, {"tokens": keep("rejected", 33)})
    items = make_items(world.kg, n=1)
    env, store = _env(world, tmp_path, items)
    env.reset(seed=0, options={"question_id": items[0].id})
    search, browse, answer = scripted_actions(world, items[0])
    before = time.time_ns() // 1000
    for action in ("no call here", search, browse, answer):
        env.step(action)
    after = time.time_ns() // 1000
    steps = _steps(store)
    env.close()

    assert [s.step for s in steps] == [0, 1, 2, 3]
    received = seen["received"]
    assert all(isinstance(c, ActionContext) for c in received)
    assert [c.step for c in received] == [0, 1, 2, 3]
    assert [c.text for c in received] == [s.text for s in steps]
    assert [c.truncated_from for c in received] == [None] * 4
    assert [c.parsed.family for c in received] == [s.family for s in steps]
    assert received[0].parsed.error is not None and received[1].parsed.calls

    returned = seen["returned"]
    assert all(isinstance(c, CallContext) for c in returned)
    assert [c.step for c in returned] == [1, 2, 3]
    assert [c.call.name for c in returned] == ["medical_search", "browse", "answer"]
    assert type(returned[0].args).__name__ == "Args" and returned[0].args.query
    calls = [c for s in steps for c in s.calls]
    assert [list(c.result.doc_ids) for c in returned] == [c.doc_ids for c in calls]
    assert [round(c.latency_ms, 3) for c in returned] == [c.latency_ms for c in calls]
    assert [c.world for c in returned] == [world] * 3
    # the state does not count the call yet: 0, 1, 2 calls before each
    assert counted == [0, 1, 2] and returned[0].state.n_tool_calls == 3

    (rejected,) = seen["rejected"]
    assert isinstance(rejected, RejectContext)
    assert rejected.step == 0 and rejected.parsed is received[0].parsed
    assert rejected.error.kind == "no_call" == steps[0].rejection.kind
    assert rejected.observation == steps[0].rejection.observation

    # each value lands in its event's measures, in the line and in the events it stands for
    assert [s.measures for s in steps] == [{"tokens": 11}] * 4
    assert [c.measures for c in calls] == [{"tokens": 22}] * 3
    assert steps[0].rejection.measures == {"tokens": 33}
    tokens = {}
    for s in steps:
        for _, payload in events_of(s):
            tokens.setdefault(type(payload).__name__, []).append(getattr(payload, "tokens", 0))
    assert tokens["ActionReceived"] == [11] * 4
    assert tokens["ToolReturned"] == [22] * 3
    assert tokens["ActionRejected"] == [33]

    # times: microseconds since the epoch, within the steps, in log order
    for s in steps:
        times = [ts for ts, _ in events_of(s)]
        assert before <= times[0] and times == sorted(times) and times[-1] <= after
    assert steps[3].answer == items[0].answer and steps[3].answered_us >= calls[2].returned_us
    for c in calls:  # a float of whole microseconds, within its call's own times
        assert isinstance(c.latency_ms, float) and c.latency_ms == round(c.latency_ms, 3)
        assert 0 < c.latency_ms <= (c.returned_us - c.called_us) / 1000 + 0.002


def test_parallel_calls_are_indexed_within_their_step(world, tmp_path):
    items = make_items(world.kg, n=1)
    env, store = _env(world, tmp_path, items, parallel_calls=True)
    env.reset(seed=0, options={"question_id": items[0].id})
    env.step(
        '<tool_call>{"name": "medical_search", "arguments": {"query": "ataxia"}}</tool_call>'
        '<tool_call>{"name": "web_search", "arguments": {"query": "inheritance"}}</tool_call>'
    )
    (step,) = _steps(store)
    env.close()
    events = [p for _, p in events_of(step)]
    assert [(type(p).__name__, p.call) for p in events[1:]] == [
        ("ToolCalled", 0), ("ToolReturned", 0), ("ToolCalled", 1), ("ToolReturned", 1)
    ]  # fmt: skip


def test_deep_long_and_reasoned_actions_are_recorded_as_read(world, tmp_path, monkeypatch):
    cuts = {"tokens": lambda ctx: ctx.truncated_from or 0}  # what a measurement sees
    monkeypatch.setitem(ev.STEP_MEASURES, ev.ActionReceived, cuts)
    items = make_items(world.kg, n=1)
    env, store = _env(world, tmp_path, items, tool_format="mistral")
    env.reset(seed=0, options={"question_id": items[0].id})
    deep = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)
    exact = "x" * ACTION_MAX_CHARS  # the longest action read whole
    long_dict = {"name": "medical_search", "arguments": {"query": "y" * ACTION_MAX_CHARS}}
    thought = '<think>plan</think>[TOOL_CALLS]medical_search[ARGS]{"query": "ataxia"}'
    observations = [env.step(a)[0] for a in (deep, exact, long_dict, thought)]
    steps = _steps(store)
    env.close()

    d = steps[0]
    message = f"The action is nested deeper than {MAX_NESTING} levels. " + error_suffix(
        None, "mistral"
    )
    assert (d.rejection.kind, d.rejection.message) == ("bad_json", message)
    assert observations[0] == d.rejection.observation
    assert observations[0].startswith(f"Error (bad_json): {message}")
    assert (steps[1].truncated_from, steps[1].text) == (None, exact)
    cut = steps[2]  # a dict past the action space is read as the text of its start
    assert cut.truncated_from > ACTION_MAX_CHARS and cut.is_dict is False
    assert [s.measures["tokens"] for s in steps] == [0, 0, cut.truncated_from, 0]
    assert (steps[3].think, steps[3].family) == ("plan", "mistral")
    assert steps[3].calls and steps[3].rejection is None


def test_a_tools_own_refusal_is_rejected_with_its_kind_text_and_the_call_format(world, tmp_path):
    items = make_items(world.kg, n=1)
    env, store = _env(world, tmp_path, items, tool_format="mistral")
    env.reset(seed=0, options={"question_id": items[0].id})
    observation, *_ = env.step({"name": "medical_search", "arguments": {"query": "   "}})
    (step,) = _steps(store)
    env.close()
    r = step.rejection
    (call,) = step.calls  # the call ran, and its tool refused the blank query
    assert (call.ok, call.error) == (False, "bad_arguments")
    assert call.observation.startswith("Error: ")
    assert r.kind == "bad_arguments" and r.message == call.observation.removeprefix("Error: ")
    assert observation == r.observation == (
        f"Error (bad_arguments): {r.message}\n" + error_suffix(step.family, "mistral")
    )
    assert observation.endswith(format_hint("mistral"))  # a dict is read as no family


@pytest.mark.parametrize(
    ("tool_format", "action", "family"),
    [
        ("mistral", "no call here", "mistral"),  # read as no family: the env's format
        ("auto", "[TOOL_CALLS][{bad", "mistral"),  # read as Mistral under auto
    ],
)
def test_a_parse_errors_observation_carries_its_call_format_once(
    world, tmp_path, tool_format, action, family
):
    items = make_items(world.kg, n=1)
    env, store = _env(world, tmp_path, items, tool_format=tool_format)
    env.reset(seed=0, options={"question_id": items[0].id})
    observation, *_ = env.step(action)
    (step,) = _steps(store)
    env.close()
    r = step.rejection
    assert observation == r.observation == f"Error ({r.kind}): {r.message}"
    assert observation.count(format_hint(family)) == 1


def test_a_step_line_naming_an_undeclared_measure_is_no_step_of_this_medenv():
    step = LoggedStep(1, 0, "x", None, False, None, None, {"no_such_field": 1})
    row = ("r", "e", 0, 1, "step", msgspec.Raw(msgspec.json.encode(step)))
    with pytest.raises(msgspec.DecodeError, match=r"^not a step this medenv logs: "):
        expand_row(row)


def test_a_page_not_found_is_a_tool_result_and_a_bad_argument_the_registrys_refusal(
    world, tmp_path
):
    from medenv.tools.registry import validate

    items = make_items(world.kg, n=1)
    env, store = _env(world, tmp_path, items)
    env.reset(seed=0, options={"question_id": items[0].id})
    missing, *_ = env.step({"name": "browse", "arguments": {"url": "no-such-page", "goal": "x"}})
    wrong = {"name": "medical_search", "arguments": {"query": 5}}
    refused, *_ = env.step(wrong)
    found, bad = _steps(store)
    env.close()
    (call,) = found.calls  # the tool ran and found nothing: an observation, no rejection
    assert (call.ok, call.error, found.rejection) == (False, "not_found", None)
    assert missing == call.observation and missing.startswith("Error: browse: no page")
    # the arguments are checked once, by the registry (not by the parser), before any call
    assert bad.calls == [] and bad.rejection.kind == "bad_arguments"
    text = validate("medical_search", wrong["arguments"]).text
    assert bad.rejection.message == text.removeprefix("Error: ")
    assert refused == bad.rejection.observation

"""The env's side of tool-call formats: the ``tool_format`` option, the family recorded in
``action_received``, error observations that carry the read format's hint for every kind, and
replay of a run with an explicit format (real world, real DuckDB store)."""

from __future__ import annotations

import gymnasium as gym
import pytest

import medenv  # noqa: F401  (registers MedResearch-v0)
from medenv.errors import MedenvError
from medenv.events.replay import trajectory
from medenv.events.store import connect, read_episode
from medenv.tools.parsing import format_hint
from medenv.verify import verify
from tests.test_env import make_items

DS = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>medical_search<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"


@pytest.fixture(scope="module")
def world():
    from medenv.world import load_world

    return load_world(progress=False)


@pytest.fixture(scope="module")
def items(world):
    return make_items(world.kg, 4)


def _families(db):
    con = connect(db)
    rows = con.execute(
        "SELECT payload->>'$.family' FROM events WHERE type = 'action_received' ORDER BY ts, seq"
    ).fetchall()
    con.close()
    return [r[0] for r in rows]


def test_family_is_logged_and_errors_carry_the_hint_of_every_kind(world, items, tmp_path):
    db = tmp_path / "events.duckdb"
    actions = [
        ('[TOOL_CALLS]medical_search[ARGS]{"query": "ataxia"}', "", "mistral"),
        ('[medical_search(query="ataxia", top_k=0)]', "bad_arguments", "pythonic"),
        ("<|channel|>commentary to=functions.pubmed<|message|>{}<|call|>", "unknown_tool", "harmony"),
        (DS.replace("{}", '{"query": }'), "bad_json", "deepseek_v3"),
        ('[TOOL_CALLS]medical_search[ARGS]{"query": "a"}[TOOL_CALLS]web_search[ARGS]{"query": "b"}', "several_calls", "mistral"),
        ("I do not know yet.", "no_call", None),
        ('{"name": "medical_search", "parameters": {"query": "   "}}', "bad_arguments", "json"),
        # nesting is checked before any format is read (a fixed limit, so replays agree)
        ("[" * 100_000, "bad_json", None),
    ]  # fmt: skip
    env = gym.make("MedResearch-v0", qa=items, world=world, db=db, max_steps=len(actions) + 1)
    env.reset(seed=0)
    for action, kind, family in actions:
        obs, _, _, _, info = env.step(action)
        assert info["error"] == kind, (action[:80], obs)
        if kind:
            assert obs.startswith(f"Error ({kind}):")
            assert format_hint(family) in obs, obs  # the read format's hint, whatever the kind
            assert ("(Read as the " in obs) == (family is not None), obs
    env.step("<answer>x</answer>")
    env.close()
    assert _families(db) == [f for _, _, f in actions] + ["answer"]


def test_explicit_tool_format_reads_only_that_family_and_replays(world, items, tmp_path):
    db = tmp_path / "fmt.duckdb"
    env = gym.make("MedResearch-v0", qa=items, world=world, db=db, tool_format="kimi_k2")
    prompt, _ = env.reset(seed=1)
    assert "functions.medical_search:0<|tool_call_argument_begin|>" in prompt
    hermes = '<tool_call>{"name": "medical_search", "arguments": {"query": "ataxia"}}</tool_call>'
    obs, _, _, _, info = env.step(hermes)
    assert info["error"] == "no_call" and format_hint("kimi_k2") in obs
    kimi = (
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.medical_search:0"
        '<|tool_call_argument_begin|>{"query": "ataxia"}<|tool_call_end|><|tool_calls_section_end|>'
    )
    obs, _, _, _, info = env.step(kimi)
    assert info["error"] == "" and info["tool"] == "medical_search" and "results" in obs
    env.step(f"<answer>{env.unwrapped.item.answer}</answer>")
    episode = env.unwrapped.episode_id
    assert env.unwrapped.config["tool_format"] == "kimi_k2"
    env.close()
    assert _families(db) == [None, "kimi_k2", "answer"]
    traj = trajectory(read_episode(db, episode))
    assert traj.config["tool_format"] == "kimi_k2"
    assert verify(db, episode, world=world).ok


NEW_FAMILIES = {
    "deepseek_v32": '<｜DSML｜function_calls><｜DSML｜invoke name="medical_search"><｜DSML｜parameter name="query" string="true">ataxia</｜DSML｜parameter><｜DSML｜parameter name="top_k" string="false">2</｜DSML｜parameter></｜DSML｜invoke></｜DSML｜function_calls>',
    "minimax_m2": '<think>search first</think><minimax:tool_call><invoke name="medical_search"><parameter name="query">ataxia</parameter><parameter name="top_k">2</parameter></invoke></minimax:tool_call>',
    "gemma4": '<|channel>thought\nsearch first<channel|><|tool_call>call:medical_search{query:<|"|>ataxia<|"|>,top_k:2}<tool_call|>',
    "olmo3": "<think>search first</think>\n<function_calls>\nmedical_search(query='ataxia', top_k=2)\n</function_calls>",
    "seed_oss": "<seed:think>search first</seed:think><seed:tool_call><function=medical_search><parameter=query>ataxia</parameter><parameter=top_k>2</parameter></function></seed:tool_call>",
}  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(NEW_FAMILIES))
def test_a_round_16_family_round_trips_through_the_env(world, items, tmp_path, fmt):
    """The prompt shows the family's call; its call runs a real search; a call of another
    family is no call under it (with its hint); the family read is logged."""
    from medenv.env import call_example

    db = tmp_path / f"{fmt}.duckdb"
    env = gym.make("MedResearch-v0", qa=items, world=world, db=db, tool_format=fmt)
    prompt, _ = env.reset(seed=2)
    assert call_example(fmt) in prompt
    others = [t for f, t in NEW_FAMILIES.items() if f != fmt]
    obs, _, _, _, info = env.step(others[0])
    assert info["error"] == "no_call" and format_hint(fmt) in obs, obs
    obs, _, _, _, info = env.step(NEW_FAMILIES[fmt])
    assert info["error"] == "" and info["tool"] == "medical_search", obs
    assert obs.startswith('medical_search results for "ataxia":\n1. ')
    assert "\n2. " in obs and "\n3. " not in obs  # top_k=2, typed from the text
    env.step(f"<answer>{env.unwrapped.item.answer}</answer>")
    env.close()
    assert _families(db) == [None, fmt, "answer"]


def test_unknown_tool_format_fails_at_construction():
    with pytest.raises(MedenvError, match="unknown tool_format 'qwen9'; use one of: auto, hermes"):
        gym.make("MedResearch-v0", db=None, tool_format="qwen9")


def test_the_prompt_shows_a_call_in_the_named_format_that_parses_under_it(world, items):
    from medenv.env import call_example
    from medenv.tools.parsing import TOOL_FORMATS, ToolCall, parse_action

    for fmt in TOOL_FORMATS:
        env = gym.make("MedResearch-v0", qa=items, world=world, db=None, tool_format=fmt)
        prompt, _ = env.reset(seed=0)
        example = call_example(fmt)
        assert example in prompt
        parsed = parse_action(example, tool_format=fmt)
        assert parsed.calls == (ToolCall("medical_search", {"query": "..."}),), fmt
        env.close()
    assert "<tool_call>" in call_example("auto") and "[TOOL_CALLS]" in call_example("mistral")


def test_step_never_raises_on_huge_numbers_and_deep_nesting(world, items):
    nasty = [
        '{"name": "medical_search", "arguments": {"query": "a", "top_k": ' + "9" * 5000 + "}}",
        {"name": "medical_search", "arguments": {"query": "a", "top_k": 10**5000}},
        {"name": "medical_search", "arguments": '{"top_k": ' + "1" * 5000 + "}"},
        "<function=medical_search><parameter=top_k>" + "3" * 5000 + "</parameter></function>",
        "<tool_call>medical_search<arg_key>top_k</arg_key><arg_value>" + "[" * 5000,
        "[medical_search(top_k=" + "1" * 5000 + ")]",
        "[" * 100_000,
        {"tool_calls": [{"function": {"name": "browse", "arguments": "[" * 100_000}}]},
    ]
    env = gym.make("MedResearch-v0", qa=items, world=world, db=None, max_steps=len(nasty) + 1)
    env.reset(seed=0)
    for action in nasty:
        obs, _, terminated, _, info = env.step(action)
        assert info["error"] in ("bad_json", "bad_arguments", "no_call") and not terminated, obs
        assert obs.startswith(f"Error ({info['error']}):")
    env.close()

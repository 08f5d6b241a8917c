"""Property: no action crashes a step, and every logged episode replay-verifies.

Hypothesis generates 200 examples x 50 actions = 10,000 actions per run (derandomized, so CI
runs the same ones): raw Unicode including lone surrogates and control characters, JSON
escapes that decode to lone surrogates, string-form and XML arguments, integers beyond
Python's 4,300-digit limit, deep nesting, 1 MB strings, and dicts of the wrong shape and
types. Every action goes through a logging `env.step`; then every episode must pass
`replay --verify` (hash chain and re-execution)."""

from __future__ import annotations

import json

import gymnasium as gym
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medenv.events.chain import check_chains
from medenv.events.replay import verify
from medenv.events.store import connect
from tests.test_env import items, world  # noqa: F401  (fixtures)

EXAMPLES, PER_EXAMPLE = 200, 50

ANY_CHAR = st.characters(exclude_categories=())  # surrogates and controls included
RAW = st.text(alphabet=ANY_CHAR, max_size=30)
NAME = st.sampled_from(
    ["medical_search", "web_search", "browse", "answer", "nope", "", "Medical_Search"]
)
ARG = st.sampled_from(["query", "url", "goal", "answer", "top_k", "x", ""])
ESCAPE = st.sampled_from(
    ["\\ud83d", "\\udc00", "\\ud83d\\ude00", "\\u0000", "\\n", '\\"', "\\\\", "\\x", "\\u12",
     "\\uZZZZ", "\\ud800\\u0041"]
)  # fmt: skip
# the inside of a JSON string: escaped raw text and escapes (some invalid)
JSON_BODY = st.lists(st.one_of(RAW.map(lambda t: json.dumps(t)[1:-1]), ESCAPE), max_size=5).map(
    "".join
)
NUMBER = st.one_of(
    st.integers().map(str),
    st.integers(4_300, 6_000).map(lambda n: "9" * n),  # over Python's int-string limit
    st.sampled_from(["1e400", "-0", "NaN", "Infinity", "1.5", "0x10", "21", "0", "-1"]),
)
BIG = st.sampled_from([1_000_000, 131_073]).map(
    lambda n: "x" * n + '<tool_call>{"name": "medical_search", "arguments": {"query": "a"}}'
)
DEEP = st.integers(1, 100_000).flatmap(
    lambda n: st.sampled_from(
        [
            "[" * n + "]" * n,
            '{"name": "medical_search", "arguments": ' + '{"a": ' * n + "1" + "}" * n + "}",
            '<tool_call>{"name": "answer", "arguments": {"answer": ' + "[" * n + "]" * n + "}}",
        ]
    )
)
LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), RAW, st.binary(max_size=8))
ANYTHING = st.recursive(
    LEAF,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3),
        st.tuples(kids, kids),
        st.dictionaries(st.one_of(RAW, ARG, st.integers()), kids, max_size=3),
    ),
    max_leaves=8,
)
TEXT = st.one_of(
    RAW,
    st.builds(
        lambda n, a, b: f'<tool_call>{{"name": "{n}", "arguments": {{"{a}": "{b}"}}}}</tool_call>',
        NAME, ARG, JSON_BODY,
    ),
    st.builds(lambda n, b: f'{{"name": "{n}", "arguments": "{b}"}}', NAME, JSON_BODY),
    st.builds(
        lambda n, a, v: f"<function={n}><parameter={a}>{v}</parameter></function>", NAME, ARG, RAW
    ),
    st.builds(lambda v: f"<answer>{v}</answer>", RAW),
    st.builds(
        lambda v: '{"name": "medical_search", "arguments": {"query": "x", "top_k": ' + v + "}}",
        NUMBER,
    ),
    st.builds(lambda v: f'<tool_call>{{"name": "answer", "arguments": {{"answer": {v}}}}}', NUMBER),
    DEEP,
    BIG,
)  # fmt: skip
DICT = st.one_of(
    st.fixed_dictionaries({"name": st.one_of(NAME, ANYTHING), "arguments": ANYTHING}),
    st.fixed_dictionaries(
        {"name": NAME, "arguments": st.dictionaries(ARG, st.one_of(RAW, ANYTHING), max_size=3)}
    ),
    st.fixed_dictionaries({"function": st.fixed_dictionaries({"name": NAME, "arguments": ANYTHING})}),
    st.fixed_dictionaries({"tool_calls": ANYTHING}),
    st.dictionaries(st.one_of(RAW, st.integers()), ANYTHING, max_size=4),
)  # fmt: skip
ACTION = st.one_of(TEXT, DICT)


def test_generated_actions_never_raise_and_every_episode_verifies(tmp_path, items):  # noqa: F811
    path = tmp_path / "prop.duckdb"
    env = gym.make("MedResearch-v0", qa=items, db=path, run_id="prop", max_steps=40)
    base = env.unwrapped
    seen = {"actions": 0, "episodes": 0, "errors": set()}

    @settings(
        max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(st.lists(ACTION, min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def run(actions):
        env.reset(seed=seen["episodes"])
        seen["episodes"] += 1
        for action in actions:
            obs, reward, terminated, truncated, info = env.step(action)
            seen["actions"] += 1
            seen["errors"].add(info["error"])
            assert env.observation_space.contains(obs)
            if terminated or truncated:
                env.reset(seed=seen["episodes"])
                seen["episodes"] += 1

    run()
    env.close()
    assert seen["actions"] >= 10_000
    assert {"bad_json", "no_call", "bad_arguments", "unknown_tool", ""} <= seen["errors"]
    con = connect(path)
    report = check_chains(con)
    assert report.episodes == {} and report.runs == [] and report.open_runs == []
    episodes = [r[0] for r in con.execute("SELECT episode_id FROM episodes").fetchall()]
    assert len(episodes) == seen["episodes"]
    results = (verify(con, e, world=base.world, chain=False) for e in episodes)
    failures = [r.message for r in results if not r.ok]
    assert failures == [], (len(failures), failures[:5])
    truncated = con.execute(
        "SELECT count(*) FROM events WHERE type = 'action_received' AND "
        "payload->>'$.truncated_from' IS NOT NULL"
    ).fetchone()[0]
    assert truncated > 0  # the 1 MB actions were logged cut, with their length

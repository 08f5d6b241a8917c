"""Property: no action crashes a step, and every logged episode replay-verifies.

Hypothesis generates 60 examples x 50 actions = 3,000 actions per run (200 x 50 = 10,000 with
``MEDENV_HYPOTHESIS=thorough``, `tests.budget`; derandomized, so CI runs the same ones): raw Unicode including lone surrogates and control characters, JSON
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
from medenv.events.store import connect, iter_episodes
from medenv.verify import verify
from tests.budget import examples
from tests.test_env import items, world  # noqa: F401  (fixtures)

EXAMPLES, PER_EXAMPLE = examples(200, 60), 50

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
    max_leaves=6,
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
ACTION = st.one_of(TEXT, TEXT, DICT)  # model output is mostly text


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
    assert seen["actions"] >= EXAMPLES * PER_EXAMPLE
    assert {"bad_json", "no_call", "bad_arguments", "unknown_tool", ""} <= seen["errors"]
    con = connect(path)
    report = check_chains(con)
    assert report.episodes == {} and report.runs == [] and report.open_runs == []
    episodes = dict(iter_episodes(con))
    assert len(episodes) == seen["episodes"]
    results = (verify(con, e, base.world, chain=False, events=v) for e, v in episodes.items())
    failures = [r.message for r in results if not r.ok]
    assert failures == [], (len(failures), failures[:5])
    truncated = con.execute(
        "SELECT count(*) FROM events WHERE type = 'action_received' AND "
        "payload->>'$.truncated_from' IS NOT NULL"
    ).fetchone()[0]
    assert truncated > 0  # the 1 MB actions were logged cut, with their length


def _depth(value) -> int:  # the nesting of a decoded JSON value, by recursion
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


NESTED = st.recursive(
    st.one_of(st.none(), st.integers(), RAW.map(lambda t: t + "[{")),
    lambda kids: st.one_of(st.lists(kids, max_size=2), st.dictionaries(RAW, kids, max_size=2)),
    max_leaves=4,
)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(NESTED, st.integers(0, 130))
def test_nesting_limit_matches_the_depth_of_the_json(value, wrap):
    """`too_deep` scans brackets outside strings; the test nests a decoded value and counts
    its depth by recursion."""
    from medenv.env import MAX_NESTING, too_deep

    for _ in range(wrap):
        value = [value]
    text = json.dumps(value, ensure_ascii=False)
    assert too_deep(text) == (_depth(value) > MAX_NESTING)


def _replace_lone_surrogates(text: str) -> str:
    """U+FFFD for each lone surrogate, a high+low pair joined, by walking code points."""
    out, i = [], 0
    while i < len(text):
        c = ord(text[i])
        nxt = ord(text[i + 1]) if i + 1 < len(text) else 0
        if 0xD800 <= c < 0xDC00 and 0xDC00 <= nxt < 0xE000:
            out.append(chr(0x10000 + ((c - 0xD800) << 10) + (nxt - 0xDC00)))
            i += 2
            continue
        out.append("\ufffd" if 0xD800 <= c < 0xE000 else text[i])
        i += 1
    return "".join(out)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(RAW, st.lists(RAW, max_size=3))
def test_every_logged_text_follows_the_one_surrogate_rule(text, args):
    import msgspec

    from medenv.events import schema as ev

    payload = ev.ToolCalled(step=0, name=text, arguments={a: [a, {a: a}] for a in args})
    logged = msgspec.json.decode(ev.encode_payload(payload))
    fix = _replace_lone_surrogates
    assert logged["name"] == fix(text)
    assert logged["arguments"] == {fix(a): [fix(a), {fix(a): fix(a)}] for a in args}

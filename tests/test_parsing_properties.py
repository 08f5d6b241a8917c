"""Independent checks of the parser: Hypothesis properties (never raises; a call rendered in
each family by this file's own renderers reads back as the same call) and the argument rules
pinned on the real tool schemas (issue #22's gaps)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medenv.tools.formats import marks
from medenv.tools.parsing import ERROR_KINDS, FAMILIES, ToolCall, parse_action
from medenv.tools.registry import tool_schemas

SCHEMAS = tool_schemas()
MS = "medical_search"

# ------------------------------------------------------------- renderers (test's own) -------


def _json(args: dict) -> str:
    return json.dumps(args, ensure_ascii=False)


def _xml_value(v) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _gemma(v) -> str:
    if isinstance(v, str):
        return f'<|"|>{v}<|"|>'
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_gemma(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_gemma(x) for x in v) + "]"
    return json.dumps(v)


RENDER = {
    "hermes": lambda n, a: f'<tool_call>\n{{"name": {json.dumps(n)}, "arguments": {_json(a)}}}\n</tool_call>',
    "qwen3_coder": lambda n, a: "<tool_call>\n<function=" + n + ">\n" + "".join(
        f"<parameter={k}>\n{_xml_value(v)}\n</parameter>\n" for k, v in a.items()
    ) + "</function>\n</tool_call>",
    "glm45": lambda n, a: "<tool_call>" + n + "\n" + "".join(
        f"<arg_key>{k}</arg_key>\n<arg_value>{_xml_value(v)}</arg_value>\n" for k, v in a.items()
    ) + "</tool_call>",
    "mistral": lambda n, a: f"[TOOL_CALLS]{n}[ARGS]{_json(a)}",
    "harmony": lambda n, a: f"<|channel|>commentary to=functions.{n} <|constrain|>json<|message|>{_json(a)}<|call|>",
    "deepseek_v3": lambda n, a: f"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>{n}\n```json\n{_json(a)}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
    "kimi_k2": lambda n, a: f"<|tool_calls_section_begin|><|tool_call_begin|>functions.{n}:0<|tool_call_argument_begin|>{_json(a)}<|tool_call_end|><|tool_calls_section_end|>",
    "pythonic": lambda n, a: f"[{n}(" + ", ".join(f"{k}={v!r}" for k, v in a.items()) + ")]",
    "json": lambda n, a: f'<|python_tag|>{{"name": "{n}", "parameters": {_json(a)}}}',
    "granite": lambda n, a: f'<|tool_call|>[{{"name": "{n}", "arguments": {_json(a)}}}]',
    "internlm": lambda n, a: f'<|action_start|><|plugin|>\n{{"name": "{n}", "parameters": {_json(a)}}}<|action_end|>',
    "deepseek_v32": lambda n, a: f'<｜DSML｜function_calls>\n<｜DSML｜invoke name="{n}">\n' + "".join(
        f'<｜DSML｜parameter name="{k}" string="{str(isinstance(v, str)).lower()}">{_xml_value(v)}</｜DSML｜parameter>\n'
        for k, v in a.items()
    ) + "</｜DSML｜invoke>\n</｜DSML｜function_calls>",
    "minimax_m2": lambda n, a: f'<minimax:tool_call>\n<invoke name="{n}">\n' + "".join(
        f'<parameter name="{k}">{_xml_value(v)}</parameter>\n' for k, v in a.items()
    ) + "</invoke>\n</minimax:tool_call>",
    "gemma4": lambda n, a: f"<|tool_call>call:{n}{_gemma(a)}<tool_call|>",
    "olmo3": lambda n, a: f"<function_calls>{n}(" + ", ".join(f"{k}={v!r}" for k, v in a.items()) + ")</function_calls>",
    "seed_oss": lambda n, a: "<seed:tool_call>\n<function=" + n + ">\n" + "".join(
        f"<parameter={k}>\n{_xml_value(v)}\n</parameter>\n" for k, v in a.items()
    ) + "</function>\n</seed:tool_call>",
}  # fmt: skip
XML_LIKE = {"qwen3_coder", "glm45", "deepseek_v32", "minimax_m2", "seed_oss"}

# query text: letters of several scripts, digits, punctuation, quotes, braces, brackets
_ALPHABET = st.characters(
    codec="utf-8", categories=("L", "N", "P", "Zs", "Sm"), exclude_characters="<>\r\n\t"
)
queries = st.text(_ALPHABET, min_size=1, max_size=80).map(str.strip).filter(bool)
calls = st.one_of(
    st.builds(lambda q, k: (MS, {"query": q, "top_k": k}), queries, st.integers(1, 20)),
    st.builds(lambda q: ("web_search", {"query": q}), queries),
    st.builds(lambda u, g: ("browse", {"url": u, "goal": g}), queries, queries),
)


def test_every_family_has_a_renderer():
    assert set(RENDER) == set(FAMILIES)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(sorted(FAMILIES)), call=calls, think=st.booleans())
def test_a_call_rendered_in_any_family_reads_back(family, call, think):
    name, args = call
    text = RENDER[family](name, args)
    if think and family not in ("harmony", "mistral"):
        text = "<think>first I plan</think>\n" + text
    for mode in ("auto", family):
        parsed = parse_action(text, schemas=SCHEMAS, tool_format=mode)
        assert parsed.error is None, (mode, text, parsed.error)
        assert parsed.calls == (ToolCall(name, args),) and parsed.family == family


# ------------------------------------------------------------- never raises ----------------

MARKERS = [
    "<tool_call>", "</tool_call>", "<function=", "</function>", "<parameter=", "</parameter>",
    "<think>", "</think>", "<answer>", "</answer>", "[TOOL_CALLS]", "[ARGS]", "[CALL_ID]",
    "[THINK]", "[/THINK]", "<|channel|>", "<|message|>", "<|call|>", "<|start|>", " to=functions.",
    "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>",
    "<|tool_calls_section_begin|>", "<|tool_call_begin|>", "<|tool_call_argument_begin|>",
    "<|tool_call_end|>", "<|tool_call|>", "<|action_start|>", "<|plugin|>", "<|action_end|>",
    "<|python_tag|>", "<｜DSML｜function_calls>", "</｜DSML｜function_calls>", "<｜DSML｜tool_calls>",
    '<｜DSML｜invoke name="', '<｜DSML｜parameter name="', '" string="false">', "</｜DSML｜parameter>",
    "</｜DSML｜invoke>", "<minimax:tool_call>", "</minimax:tool_call>", "<invoke name=",
    "<parameter name=", "</invoke>", "<seed:tool_call>", "</seed:tool_call>", "<seed:think>",
    "</seed:think>", "<function_calls>", "</function_calls>", "null", "<|tool_call>", "call:",
    "<tool_call|>", '<|"|>', ":", "<|channel>", "<channel|>", "<|tool_call_start|>", "<|tool_call_end|>", "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>", "medical_search",
    '{"name": "medical_search", "arguments": ', '{"query": "a"}', "{", "}", "[", "]", ";", "(",
    ")", "=", '"', "\\", "\\ud83d", "9" * 4400, "query", "top_k", "```json\n", "\n", " ", "\ud800",
]  # fmt: skip
fragments = st.lists(st.one_of(st.sampled_from(MARKERS), st.text(max_size=8)), max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
dicts = st.fixed_dictionaries(
    {},
    optional={
        "name": json_values | st.sampled_from(["medical_search", "answer"]),
        "arguments": json_values,
        "function": json_values,
        "tool_calls": json_values,
        "content": st.text(max_size=40) | json_values,
        "reasoning_content": json_values,
    },
)


def _check(parsed):
    assert (parsed.error is None) != (parsed.calls == ())
    if parsed.error is not None:
        assert parsed.error.kind in ERROR_KINDS and parsed.error.message


@settings(max_examples=600, deadline=None)
@given(parts=fragments, fmt=st.sampled_from(["auto", *FAMILIES]), parallel=st.booleans())
def test_parse_action_never_raises_on_marker_soup(parts, fmt, parallel):
    _check(parse_action("".join(parts), parallel_calls=parallel, schemas=SCHEMAS, tool_format=fmt))


@settings(max_examples=200, deadline=None)
@given(action=st.one_of(st.text(), dicts, st.lists(dicts, max_size=3), json_values))
def test_parse_action_never_raises_on_any_text_dict_or_list(action):
    _check(parse_action(action, schemas=SCHEMAS))


# ------------------------------------------------------------- argument rules --------------


def _both_forms(args: dict) -> list:
    return [
        {"name": MS, "arguments": args},
        RENDER["hermes"](MS, args),
        RENDER["qwen3_coder"](MS, args),
    ]


@pytest.mark.parametrize("top_k,ok", [(0, False), (1, True), (20, True), (21, False)])
def test_top_k_limits(top_k, ok):
    for action in _both_forms({"query": "ataxia", "top_k": top_k}):
        parsed = parse_action(action, schemas=SCHEMAS)
        if ok:
            assert parsed.calls == (ToolCall(MS, {"query": "ataxia", "top_k": top_k}),)
        else:
            assert parsed.error.kind == "bad_arguments"
            assert f"between 1 and 20, got {top_k}" in parsed.error.message


@pytest.mark.parametrize("length,ok", [(500, True), (501, False)])
def test_query_max_length(length, ok):
    for action in _both_forms({"query": "a" * length}):
        parsed = parse_action(action, schemas=SCHEMAS)
        assert (parsed.error is None) == ok
        if not ok:
            assert "longer than 500 characters" in parsed.error.message


def test_empty_list_and_bad_attempts_never_raise():
    for action in ("[]", [], {"tool_calls": []}, '{"tool_calls": []}', "[{}]", [None]):
        parsed = parse_action(action, schemas=SCHEMAS)
        assert parsed.calls == () and parsed.error.kind in ("no_call", "bad_json"), action
    assert "empty" in parse_action("[]", schemas=SCHEMAS).error.message


def test_reasoning_content_and_tool_calls_json_text():
    msg = {
        "role": "assistant",
        "reasoning_content": "search first",
        "content": None,
        "tool_calls": [
            {"type": "function", "function": {"name": MS, "arguments": '{"query": "a"}'}}
        ],
    }
    parsed = parse_action(msg, schemas=SCHEMAS)
    assert parsed.think == "search first" and parsed.calls == (ToolCall(MS, {"query": "a"}),)
    assert parsed.family == "openai"
    content_only = {"content": "<think>t</think><answer>X</answer>", "reasoning_content": None}
    parsed = parse_action(content_only, schemas=SCHEMAS)
    assert parsed.think == "t" and parsed.calls == (ToolCall("answer", {"answer": "X"}),)
    as_text = json.dumps({"tool_calls": msg["tool_calls"]})
    assert parse_action(as_text, schemas=SCHEMAS).calls == (ToolCall(MS, {"query": "a"}),)


def test_unclosed_think_is_all_reasoning():
    parsed = parse_action('<think>maybe {"name": "medical_search", "arguments": {"query": "a"}}')
    assert parsed.error.kind == "no_call" and parsed.think.startswith("maybe")


NON_STRING = [
    {
        "type": "function",
        "function": {
            "name": "measure",
            "parameters": {
                "type": "object",
                "properties": {
                    "dose": {"type": "number", "minimum": 0},
                    "fasting": {"type": "boolean"},
                    "genes": {"type": "array"},
                    "extra": {"type": "object"},
                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "count": {"type": ["integer", "null"]},
                },
                "required": ["dose"],
            },
        },
    }
]


def test_non_string_schema_types_in_json_and_xml_families():
    args = {"dose": 2.5, "fasting": True, "genes": ["FGFR2"], "extra": {"a": 1}, "count": None}
    want = (ToolCall("measure", args),)
    for family in ("hermes", "mistral", "pythonic", "olmo3", "gemma4", *sorted(XML_LIKE)):
        text = RENDER[family]("measure", args)
        if family in XML_LIKE:
            # "null" is None where the schema allows null; an empty value stays text
            assert parse_action(text, schemas=NON_STRING).calls == want, family
            text = text.replace("\nnull\n", "\n\n").replace(">null<", "><")
            want_xml = {**args, "count": ""}  # an empty value of an integer-or-null is text
            parsed = parse_action(text, schemas=NON_STRING)
            assert parsed.error.kind == "bad_arguments" and "'count'" in parsed.error.message
            text = RENDER[family]("measure", {k: v for k, v in args.items() if k != "count"})
            want_xml = {k: v for k, v in args.items() if k != "count"}
            assert parse_action(text, schemas=NON_STRING).calls == (ToolCall("measure", want_xml),)
        else:
            assert parse_action(text, schemas=NON_STRING).calls == want, family
    bad = parse_action({"name": "measure", "arguments": {"dose": "2"}}, schemas=NON_STRING)
    assert (
        bad.error.kind == "bad_arguments"
        and "'dose' must be number, got string" in bad.error.message
    )
    bad = parse_action({"name": "measure", "arguments": {"dose": True}}, schemas=NON_STRING)
    assert bad.error.kind == "bad_arguments" and "got boolean" in bad.error.message
    glm = "<tool_call>measure<arg_key>dose</arg_key><arg_value>1</arg_value><arg_key>genes</arg_key><arg_value>['A', 'B']</arg_value></tool_call>"
    assert parse_action(glm, schemas=NON_STRING).calls == (
        ToolCall("measure", {"dose": 1, "genes": ["A", "B"]}),
    )  # GLM's Python-literal fallback


# ------------------------------------------------------------- marker scan -----------------


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(
        st.sampled_from([*marks.MARKERS, "<", "[", "<|", "<｜", "x", "<b>"]), max_size=40
    )
)
def test_first_marks_agree_with_plain_search(parts):
    text = "".join(parts)
    assert marks.first_marks(text) == {m: text.find(m) for m in marks.MARKERS if m in text}
    ends = ("<|end|>", "<|call|>", "<|return|>")
    plain = min(((text.find(n), n) for n in ends if n in text), default=(-1, ""))
    assert marks.find_any(text, ends) == plain


@pytest.mark.parametrize("dense", [10, 5000])
def test_dense_angle_brackets_still_find_every_format(dense):
    noise = "a<b " * dense
    call = '<tool_call>{"name": "medical_search", "arguments": {"query": "a"}}</tool_call>'
    assert marks.first_marks(noise + call + "[TOOL_CALLS]") == {
        "<tool_call>": 4 * dense,
        "</tool_call>": 4 * dense + len(call) - len("</tool_call>"),
        "[TOOL_CALLS]": 4 * dense + len(call),
    }
    parsed = parse_action(f"<think>{noise}</think>{noise}{call}", schemas=SCHEMAS)
    assert parsed.calls == (ToolCall(MS, {"query": "a"}),) and parsed.think == noise.strip()
    harmony = (
        f"<|channel|>analysis<|message|>{noise}<|end|><|start|>assistant<|channel|>commentary"
        ' to=functions.medical_search<|message|>{"query": "a"}<|call|>'
    )
    assert parse_action(harmony, schemas=SCHEMAS).calls == (ToolCall(MS, {"query": "a"}),)

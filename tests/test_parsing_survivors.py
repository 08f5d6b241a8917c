"""What a caller of the tool-call parser sees where the example tables do not look: the
survivors of a mutation run of `medenv.tools.parsing` and `medenv.tools.formats`
(`python -m bench.mutate parsing --sample 200 --seed 7`, `docs/mutation-testing.md`). Each test states a rule of the parser (an error's kind and words, a
position, a bound, a schema feature) and checks it on `parse_action`'s answer, or on the
public helper that states it, with the expected value written out here."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medenv.tools import formats
from medenv.tools.formats import harmony, jsontext
from medenv.tools.formats.marks import find_any
from medenv.tools.parsing import ToolCall, parse_action

MS = "medical_search"
CALL = f'{{"name": "{MS}", "arguments": {{"query": "ataxia"}}}}'
WEB = '{"name": "web_search", "arguments": {"query": "FBN1"}}'
DS_BEGIN, DS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
DS_CALL, DS_SEP, DS_CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>"
K_BEGIN, K_END = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
K_CALL, K_ARGS, K_CALL_END = "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>"


def _error(action, **kw):
    parsed = parse_action(action, **kw)
    assert parsed.calls == () and parsed.error is not None, parsed
    return parsed.error


def _says(action, kind: str, start: str, **kw) -> None:
    error = _error(action, **kw)
    assert error.kind == kind, (action, error)
    assert error.message.startswith(start), (action, error.message)


# -- the error of each family's malformed call: kind and words ------------------------------


def test_a_deepseek_call_with_broken_json_names_the_call_and_the_json_error():
    text = f'{DS_BEGIN}{DS_CALL}{MS}{DS_SEP}{{"query": ataxia}}{DS_CALL_END}{DS_END}'
    _says(text, "bad_json", f"The JSON of the DeepSeek call {MS} is invalid: Expecting value")
    _says(text, "bad_json", "The JSON of the DeepSeek call", tool_format="deepseek_v3")


def test_a_kimi_call_without_its_argument_token_says_how_to_write_it():
    text = f'{K_BEGIN}{K_CALL}functions.{MS}:0 {{"query": "x"}}{K_CALL_END}{K_END}'
    _says(
        text, "bad_json", "A Kimi call needs functions.NAME:0<|tool_call_argument_begin|>{arguments}."
    )


def test_a_mistral_call_without_arguments_says_what_is_missing():
    _says(f"[TOOL_CALLS]{MS}", "bad_json", "After [TOOL_CALLS]NAME put [ARGS] and a JSON object.")
    # a v13 call id, then nothing: the name is there, the arguments are not
    _says(
        f"[TOOL_CALLS]{MS}[CALL_ID]a1b2c3d4e",
        "bad_json",
        "After [TOOL_CALLS] put the tool name, [ARGS] and a JSON object.",
    )


def test_a_mistral_call_without_args_token_reads_its_object_from_the_first_brace():
    """``NAME{...}`` (no ``[ARGS]``): the arguments are the object at the first ``{`` after
    the name, even when a value holds another ``{``."""
    for text in (
        f'[TOOL_CALLS]{MS}{{"query": "set {{A, B}} of genes"}}',
        f'[TOOL_CALLS]{MS}[CALL_ID]abc{{"query": "set {{A, B}} of genes"}}',
    ):
        assert parse_action(text).calls == (ToolCall(MS, {"query": "set {A, B} of genes"}),), text


def test_a_pythonic_list_that_is_not_python_quotes_the_syntax_error():
    error = _error(f'[{MS}(query="ataxia"]')
    assert error.kind == "bad_json"
    assert error.message.startswith("The call list is not valid Python: closing parenthesis"), error


def test_a_pythonic_tool_name_too_deep_to_read_is_a_pythonic_error_not_a_crash():
    """Regression: a dotted name of a thousand parts parses but `ast.unparse` of it
    recursed past the limit; the error escaped the pythonic reader and came back as "The
    JSON is nested too deeply" with no format named."""
    text = "[" + "a." * 1500 + f'{MS}(query="ataxia")]'
    parsed = parse_action(text)
    assert parsed.family == "pythonic" and parsed.error is not None, parsed
    assert parsed.error.kind == "bad_json"
    assert parsed.error.message.startswith(
        ("The tool name is nested too deeply.", "The call list is not valid Python:")
    ), parsed.error  # the second where this Python's parser itself gives up first
    assert "(Read as the pythonic (Llama 4) format.)" in parsed.error.message


def test_qwen3_coder_tags_that_are_malformed_say_which():
    _says(
        f"<tool_call><function={MS}\nquery><parameter=query>x</parameter></function></tool_call>",
        "bad_json",
        "Malformed <function=NAME> tag.",
    )
    # a parameter left open ends where the next one opens (vLLM's rule, its regression test
    # test_extract_tool_calls_missing_closing_parameter_tag), not at a later </parameter>
    text = f"<tool_call><function={MS}><parameter=query>ataxia<parameter=top_k>3</function></tool_call>"
    assert parse_action(text).calls == (ToolCall(MS, {"query": "ataxia", "top_k": 3}),)
    text = f"<tool_call><function={MS}><parameter=query>ataxia\n<parameter=top_k>3</parameter></function>"
    assert parse_action(text).calls == (ToolCall(MS, {"query": "ataxia", "top_k": 3}),)


def test_a_parameter_value_may_quote_a_parameter_tag():
    value = "the tag <parameter="
    text = f"<tool_call><function={MS}><parameter=query>{value}</parameter></function></tool_call>"
    assert parse_action(text).calls == (ToolCall(MS, {"query": value}),)


def test_a_tool_call_block_that_is_not_a_call_says_what_it_is():
    _says("<tool_call></tool_call>", "bad_json", "The <tool_call> block is empty.")
    _says(
        "<tool_call>search for FBN1</tool_call>",
        "bad_json",
        "The JSON inside <tool_call> is invalid: Expecting value at line 1 column 1.",
    )
    _says(
        f'<tool_call>"{MS}"</tool_call>', "bad_json", "The text inside <tool_call> is not a JSON object."
    )


def test_a_glm_call_without_arguments_reads_its_whole_name():
    """A bare name in ``<tool_call>`` is a GLM-4.5 call without arguments; ``-``, ``_`` and
    ``.`` may be part of the name."""
    _says(
        f"<tool_call>{MS}</tool_call>",
        "bad_arguments",
        f"{MS} is missing the required argument(s): query.",
    )
    for name in ("medical-search", "tools.medical_search"):
        parsed = parse_action(f"<tool_call>{name}</tool_call>")
        assert parsed.family == "glm45", (name, parsed)
        assert parsed.error.kind == "unknown_tool"
        assert parsed.error.message.startswith(f"Unknown tool {name!r}."), parsed.error


def test_under_an_explicit_tool_call_family_another_familys_block_is_named():
    glm = f"<tool_call>{MS}<arg_key>query</arg_key><arg_value>FBN1</arg_value></tool_call>"
    _says(
        glm,
        "bad_json",
        "Expected a Hermes/Qwen JSON call inside <tool_call>, found GLM-4.5.",
        tool_format="hermes",
    )
    assert parse_action(glm).calls == (ToolCall(MS, {"query": "FBN1"}),)


def test_argument_null_is_named_null():
    _says(
        {"name": MS, "arguments": {"query": None}},
        "bad_arguments",
        f"{MS}: argument 'query' must be string, got null null.",
    )


# -- reasoning and several calls -------------------------------------------------------------


def test_several_calls_keep_the_reasoning_before_them():
    parsed = parse_action(f"<think>two lookups</think><tool_call>{CALL}</tool_call><tool_call>{WEB}</tool_call>")
    assert parsed.error.kind == "several_calls"
    assert parsed.error.message.startswith("Found 2 tool calls; make exactly one call per step.")
    assert parsed.think == "two lookups"


def test_an_unclosed_think_is_reasoning_to_its_last_character():
    for text in ("<think>stopped mid-thought", "Plan.<think>\nstill thinking\n"):
        parsed = parse_action(text)
        assert parsed.think == text.split("<think>")[1].strip(), parsed
        assert parsed.error.kind == "no_call"


def test_a_python_tag_call_after_reasoning_is_read():
    """The text after ``</think>`` reuses the reply's marker scan, shifted to the suffix: the
    ``<|python_tag|>`` position it gives must be the suffix's own."""
    for think in ("<think>look it up</think>", "<think>" + "x" * 300 + "</think>\n"):
        text = think + '<|python_tag|>{"name": "medical_search", "parameters": {"query": "ataxia"}}'
        parsed = parse_action(text)
        assert parsed.calls == (ToolCall(MS, {"query": "ataxia"}),), parsed
        assert parsed.family == "json"


# -- harmony ---------------------------------------------------------------------------------


def test_a_harmony_call_left_open_at_the_end_runs_to_the_end():
    text = f'<|start|>assistant<|channel|>commentary to=functions.{MS} <|constrain|>json<|message|>{{"query": "ataxia"}}'
    parsed = parse_action(text)
    assert parsed.calls == (ToolCall(MS, {"query": "ataxia"}),), parsed


def test_harmony_analysis_messages_are_joined_by_newlines_and_content_is_kept_whole():
    text = (
        "<|start|>assistant<|channel|>analysis<|message|>First, FBN1.<|end|>"
        "<|start|>assistant<|channel|>analysis<|message|>Then Marfan.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>It is <answer>Marfan syndrome</answer>.<|return|>"
    )
    think, found, content = harmony.attempts(text)
    assert think == "First, FBN1.\nThen Marfan."
    assert found == [] and content == "It is <answer>Marfan syndrome</answer>."
    parsed = parse_action(text)
    assert parsed.think == "First, FBN1.\nThen Marfan."
    assert parsed.calls == (ToolCall("answer", {"answer": "Marfan syndrome"}),)


# -- JSON text -------------------------------------------------------------------------------


def test_json_calls_separated_by_a_bare_semicolon_are_each_read():
    parsed = parse_action(f"{CALL};{WEB}", parallel_calls=True)
    assert parsed.calls == (ToolCall(MS, {"query": "ataxia"}), ToolCall("web_search", {"query": "FBN1"}))


def test_a_semicolon_is_looked_for_within_64_characters_of_a_value():
    """Bounded look-ahead (`jsontext._sequence`): a ``;`` after up to 63 whitespace
    characters separates two calls; after 64 the rest is trailing text."""
    two = parse_action(CALL + " " * 63 + ";" + WEB, parallel_calls=True)
    assert [c.name for c in two.calls] == [MS, "web_search"], two
    one = parse_action(CALL + " " * 64 + ";" + WEB, parallel_calls=True)
    assert one.calls == (ToolCall(MS, {"query": "ataxia"}),), one


def test_jsontext_reads_the_call_after_the_python_tag_it_is_told_of():
    text = 'Calling.<|python_tag|>{"name": "web_search", "parameters": {"query": "FBN1"}}'
    found, rest = jsontext.attempts(text, text.find("<|python_tag|>"))
    # the text before the tag is content (SGLang's Llama 3.2 detector test_with_python_tag_prefix)
    assert [tuple(a[:2]) for a in found] == [("web_search", {"query": "FBN1"})] and rest == "Calling."
    assert jsontext.attempts("Calling. " + WEB, -1) == ([("web_search", {"query": "FBN1"}, False)], "Calling. " + WEB)


def test_a_dicts_content_is_read_in_the_tool_format_asked_for():
    content = f'[TOOL_CALLS]{MS}[ARGS]{{"query": "ataxia"}}'
    assert parse_action({"content": content}).calls == (ToolCall(MS, {"query": "ataxia"}),)
    assert _error({"content": content}, tool_format="hermes").kind == "no_call"
    assert parse_action({"content": content}, tool_format="mistral").family == "mistral"


# -- schemas ---------------------------------------------------------------------------------

LOOKUP = {
    "name": "lookup",
    "parameters": {
        "type": "object",
        "properties": {
            "n": {"anyOf": [{"type": "number"}, {"type": "boolean"}]},
            "code": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "ids": {"oneOf": [{"type": "integer"}, {"type": "array"}]},
        },
    },
}
PING = {"type": "function", "function": {"name": "ping"}}  # no parameters at all


def _lookup(params: dict[str, str]) -> str:
    body = "".join(f"<parameter={k}>{v}</parameter>" for k, v in params.items())
    return f"<tool_call><function=lookup>{body}</function></tool_call>"


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"n": "2.5"}, {"n": 2.5}),
        ({"n": "true"}, {"n": True}),  # not a number: the next type, boolean
        ({"n": "false"}, {"n": False}),
        ({"code": "5"}, {"code": "5"}),  # string first: the text stays text
        ({"code": "abc"}, {"code": "abc"}),
        ({"ids": "7"}, {"ids": 7}),
        ({"ids": "[1, 2]"}, {"ids": [1, 2]}),
    ],
)
def test_xml_text_values_take_the_first_type_of_any_of_or_one_of_they_read_as(params, expected):
    parsed = parse_action(_lookup(params), schemas=[LOOKUP, PING])
    assert parsed.calls == (ToolCall("lookup", expected),), parsed


def test_a_value_of_none_of_the_any_of_types_names_them_all():
    _says(
        {"name": "lookup", "arguments": {"n": "many"}},
        "bad_arguments",
        "lookup: argument 'n' must be number or boolean, got string 'many'.",
        schemas=[LOOKUP],
    )


def test_a_tool_without_parameters_takes_no_arguments():
    assert parse_action({"name": "ping", "arguments": {}}, schemas=[LOOKUP, PING]).calls == (
        ToolCall("ping", {}),
    )
    _says(
        {"name": "ping", "arguments": {"x": 1}},
        "bad_arguments",
        "ping has no argument 'x'; its arguments are: none.",
        schemas=[PING],
    )


# -- what parse_action answers when a reader raises -------------------------------------------


def test_an_argument_name_too_long_to_show_is_one_bad_json_error():
    """A dict action (built in Python, not JSON) may key an argument by an int of more
    than 4,300 digits, which cannot be written as text: one error quoting Python's reason
    clipped to 80 characters, not a `ValueError`."""
    parsed = parse_action({"name": MS, "arguments": {10**4400: 1}})
    error = parsed.error
    assert error.kind == "bad_json" and parsed.family == "openai"
    assert "(Read as an OpenAI tool-call dict.)" in error.message
    reason = error.message.split("The call could not be read (ValueError: ", 1)[1].split(").", 1)[0]
    assert len(reason) == 80 and reason.startswith("Exceeds the limit (4300 digits)"), error


def test_an_argument_name_nested_too_deeply_to_show_is_one_bad_json_error():
    key: tuple = ()
    for _ in range(100_000):
        key = (key,)
    _says({"name": MS, "arguments": {key: 1}}, "bad_json", "The JSON is nested too deeply.")


# -- helpers whose contract the dispatcher relies on ------------------------------------------


def test_a_family_outside_the_table_is_labelled_as_no_known_format():
    assert formats.label(None) == "no known format"
    assert formats.label("hermes") == "the Hermes/Qwen JSON format"


def test_find_any_starts_at_zero_by_default_and_past_its_scan_limit():
    assert find_any("<|end|>after", ("<|end|>", "<|call|>")) == (0, "<|end|>")
    dense = "<" * 3000
    assert find_any(dense + "<|call|>x<|end|>", ("<|end|>", "<|call|>")) == (3000, "<|call|>")
    assert find_any(dense + "x", ("<|end|>", "<|call|>")) == (-1, "")


@settings(max_examples=40, deadline=None)
@given(st.integers(2040, 2060), st.sampled_from(["<a>", "<ab>", ""]), st.integers(0, 5))
def test_find_any_on_dense_text_agrees_with_a_plain_search(dense, tail, start):
    text = "<x" * dense + tail + "<a"
    needles = ("<a>", "<ab>")
    found = [(i, n) for n in needles if (i := text.find(n, start)) != -1]
    assert find_any(text, needles, start) == (min(found) if found else (-1, ""))


"""Edges of the tool-call parser that the example tables do not reach (found by mutation
testing, `make mutate`): what an error message says word for word, how values are shown
in it, unreadable objects in prose, malformed pythonic call lists, empty
harmony messages, and the marker search from a start position. Each case is the parser's
public answer (`parse_action`) or a plain search written here."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from medenv.tools.formats import marks
from medenv.tools.parsing import ToolCall, parse_action

MS = "medical_search"


def _error(action, **kw):
    parsed = parse_action(action, **kw)
    assert parsed.calls == () and parsed.error is not None, parsed
    return parsed.error


def test_json_data_in_a_dicts_content_is_named_as_data_not_a_call():
    for action in ({"content": '{"gene": "FBN1"}'}, '[{"gene": "FBN1"}]'):
        error = _error(action)
        assert error.kind == "no_call"
        assert error.message.startswith(
            "No tool call found: the JSON in the reply is data, not a call "
            '(a call is an object with "name" and "arguments").'
        ), error.message
    assert _error({"content": "Marfan, I think."}).message.startswith(
        "No tool call or answer found."
    )


def test_a_pythonic_list_that_is_not_a_list_of_calls_is_one_error_not_a_crash():
    hint = "Write calls as [tool(arg=value), ...]."
    for text in (
        f"[{MS}(query='a')] + [{MS}(query='b')]",  # an expression, not a list
        f"[{MS}(query='a'), 5]",  # a list holding a non-call
        f"[{MS}()(query='a')]",  # a call of a call: no tool name
    ):
        error = _error(text, tool_format="pythonic")
        assert error.kind == "bad_json" and error.message.startswith(hint), (text, error)
        assert _error(text).message.startswith(hint)  # read the same way in auto


def test_an_empty_harmony_message_is_a_call_without_arguments():
    text = f"<|start|>assistant<|channel|>commentary to=functions.{MS} <|constrain|>json<|message|> <|call|>"
    error = _error(text)
    assert error.kind == "bad_arguments"
    assert error.message.startswith(f"{MS} is missing the required argument(s): query."), error
    ok = parse_action(text.replace("<|message|> ", '<|message|>{"query": "x"}'))
    assert ok.calls == (ToolCall(MS, {"query": "x"}),)


def test_a_truncated_call_in_prose_is_bad_json_naming_the_truncation():
    for key in ("arguments", "parameters"):
        text = (
            f'I will look it up: {{"name": "{MS}", "{key}": {{"query": "ataxia"}} and then answer.'
        )
        error = _error(text)
        assert error.kind == "bad_json", (key, error)
        assert error.message.startswith("The JSON in the reply is "), error.message


def test_a_call_after_a_data_object_in_prose_is_found():
    text = f'Data {{"arguments": 1, "x": {{"y": 2}}}} then {{"name": "{MS}", "arguments": {{"query": "q"}}}}'
    assert parse_action(text).calls == (ToolCall(MS, {"query": "q"}),)


def test_the_scan_of_prose_gives_up_after_16_unreadable_objects():
    """Bounded work: 16 broken fragments (no call key near them) are tried, then the scan
    stops, so a call after them is not read; after 15 it still is."""
    call = f'{{"name": "{MS}", "arguments": {{"query": "q"}}}}'
    broken = 'then {"args": [1,}' + " " * 300
    assert parse_action("Plan: " + broken * 15 + call).calls == (ToolCall(MS, {"query": "q"}),)
    assert _error("Plan: " + broken * 16 + call).kind == "no_call"


def test_argument_values_are_shown_with_their_json_type_and_clipped_to_60_characters():
    long = "x" * 100
    error = _error({"name": MS, "arguments": {"query": 1.5}})
    assert error.kind == "bad_arguments"
    assert error.message.startswith(f"{MS}: argument 'query' must be string, got number 1.5."), (
        error
    )
    error = _error({"name": MS, "arguments": {"query": "ataxia", "top_k": 99}})
    assert error.message.startswith(f"{MS}: argument 'top_k' must be between 1 and 20, got 99.")
    listed = [long]
    error = _error({"name": MS, "arguments": {"query": listed}})
    shown = json.dumps(listed)[:60]
    assert error.message.startswith(f"{MS}: argument 'query' must be string, got array {shown}.")
    error = _error({"name": MS, "arguments": {"query": "q", "top_k": long}})
    assert f"got string {long[:60]!r}." in error.message and long[:61] not in error.message


def test_a_number_too_long_to_read_quotes_pythons_reason_clipped_to_80_characters():
    digits = "9" * 5000
    error = _error(f'{{"name": "{MS}", "arguments": {{"query": "q", "top_k": {digits}}}}}')
    assert error.kind == "bad_json"
    reason = error.message.split("holds a number too long to read (", 1)[1].split(").", 1)[0]
    assert len(reason) == 80 and "4300" in reason, error.message


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["<a>", "<b>", "<ab>", "x", "<", " "]), max_size=12),
    st.integers(0, 30),
)
def test_find_any_from_a_start_agrees_with_a_plain_search(parts, start):
    text = "".join(parts)
    needles = ("<a>", "<ab>")
    found = [(i, n) for n in needles if (i := text.find(n, start)) != -1]
    assert marks.find_any(text, needles, start) == (min(found) if found else (-1, ""))


def test_an_internlm_action_without_its_json_or_with_bad_json_says_which():
    for body in ("<|plugin|>\n", "<|plugin|> search the web"):
        error = _error(f"<|action_start|>{body}<|action_end|>")
        assert error.kind == "bad_json"
        assert error.message.startswith("An action needs <|plugin|> then a JSON object."), error
    bad = '<|action_start|><|plugin|>\n{"name": "medical_search", "parameters": {"query": }}<|action_end|>'
    error = _error(bad)
    assert error.kind == "bad_json"
    assert error.message.startswith("The JSON in the <|plugin|> action is invalid: Expecting value")

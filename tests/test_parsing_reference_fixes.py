"""The parser fixes the reference parsers' own test cases found (see
`tests/test_parsing_reference_cases.py`), each on medenv's own tools through `parse_action`:
what the family reads now, and the error it gives where it reads no call."""

from __future__ import annotations

from medenv.tools.parsing import ToolCall, parse_action

MS = "medical_search"


def test_a_glm_string_value_keeps_its_spaces_and_a_number_is_read_from_the_stripped_text():
    text = (
        f"<tool_call>{MS}\n<arg_key>query</arg_key>\n<arg_value>  ataxia  </arg_value>\n"
        "<arg_key>top_k</arg_key>\n<arg_value> 3 </arg_value>\n</tool_call>"
    )
    for tool_format in ("glm45", "auto"):
        parsed = parse_action(text, tool_format=tool_format)
        assert parsed.calls == (ToolCall(MS, {"query": "  ataxia  ", "top_k": 3}),), parsed


def test_xml_values_are_typed_by_vllms_type_names_too():
    schema = {
        "name": "f",
        "parameters": {
            "type": "object",
            "properties": {
                "x": {"type": "float"},
                "n": {"type": "int64"},
                "b": {"type": "bool"},
                "d": {"type": "dict"},
                "s": {"type": "str"},
            },
        },
    }
    text = (
        "<tool_call><function=f><parameter=x>2.5</parameter><parameter=n>7</parameter>"
        '<parameter=b>false</parameter><parameter=d>{"k": 1}</parameter>'
        "<parameter=s>12</parameter></function></tool_call>"
    )
    for check_arguments in (True, False):
        parsed = parse_action(text, schemas=[schema], check_arguments=check_arguments)
        assert parsed.calls == (
            ToolCall("f", {"x": 2.5, "n": 7, "b": False, "d": {"k": 1}, "s": "12"}),
        )
    bad = parse_action(text.replace(">2.5<", ">fast<"), schemas=[schema])
    assert bad.error is not None and bad.error.kind == "bad_arguments", bad
    assert bad.error.message.startswith("f: argument 'x' must be number, got string 'fast'.")


def test_a_kimi_call_id_that_names_no_tool_is_an_error():
    k_call, k_args, k_end = (
        "<|tool_call_begin|>",
        "<|tool_call_argument_begin|>",
        "<|tool_call_end|>",
    )
    for call_id in ("0", "functions.medical.0", "functions.:0"):
        text = f'{k_call}{call_id} {k_args}{{"query": "ataxia"}}{k_end}'
        parsed = parse_action(text, tool_format="kimi_k2")
        assert parsed.calls == () and parsed.error.kind == "bad_json", (call_id, parsed)
        assert parsed.error.message.startswith(
            f"A Kimi call id is functions.NAME:IDX, not {call_id!r}."
        ), parsed.error.message
    good = f'{k_call}{MS}:3 {k_args}{{"query": "ataxia"}}{k_end}'
    assert parse_action(good).calls == (ToolCall(MS, {"query": "ataxia"}),)


def test_a_pythonic_value_json_cannot_hold_is_an_error():
    for value in ("b'ataxia'", "1e999", "{'a', 'b'}", "{1: 'a'}", "[float('nan')]"):
        # as the env reads it: argument types are its own later check, not the parser's
        parsed = parse_action(
            f"[{MS}(query={value})]", tool_format="pythonic", check_arguments=False
        )
        assert parsed.calls == () and parsed.error is not None, (value, parsed)
        assert parsed.error.kind == "bad_arguments", (value, parsed.error)
    parsed = parse_action(f"[{MS}(query='ataxia', top_k=2)]")
    assert parsed.calls == (ToolCall(MS, {"query": "ataxia", "top_k": 2}),)


def test_a_llama4_python_block_inside_prose_is_the_call_and_the_prose_is_content():
    text = f"I will search. <|python_start|>[{MS}(query='ataxia')]<|python_end|> Then answer."
    for tool_format in ("pythonic", "auto"):
        parsed = parse_action(text, tool_format=tool_format)
        assert parsed.family == "pythonic" and parsed.calls == (ToolCall(MS, {"query": "ataxia"}),)
    # an <answer> in the prose around it is read as the answer after the call
    both = parse_action(text + " <answer>FBN1</answer>", parallel_calls=True)
    assert [c.name for c in both.calls] == [MS, "answer"], both


def test_llama32_calls_separated_by_python_tags_are_several_calls():
    one = '{"name": "medical_search", "parameters": {"query": "ataxia"}}'
    two = '{"name": "web_search", "parameters": {"query": "FBN1"}}'
    text = f"Let me look.<|python_tag|>{one}<|python_tag|>{two}"
    parsed = parse_action(text, parallel_calls=True, tool_format="json")
    assert parsed.calls == (
        ToolCall(MS, {"query": "ataxia"}),
        ToolCall("web_search", {"query": "FBN1"}),
    )
    assert parse_action(text).error.kind == "several_calls"


def test_granite_3_1s_tool_call_tag_is_read_under_the_granite_format():
    text = 'Sure.<tool_call>[{"name": "medical_search", "arguments": {"query": "ataxia"}}]'
    parsed = parse_action(text, tool_format="granite")
    assert parsed.family == "granite" and parsed.calls == (ToolCall(MS, {"query": "ataxia"}),)
    broken = parse_action("<tool_call>[{", tool_format="granite")
    assert broken.error.kind == "bad_json"
    assert broken.error.message.startswith("The JSON after <tool_call> is truncated"), broken


def test_a_lone_magistral_end_of_thinking_closes_the_reasoning_the_template_opened():
    text = 'I should look it up.[/THINK][TOOL_CALLS]medical_search[ARGS]{"query": "ataxia"}'
    for tool_format in ("mistral", "auto"):
        parsed = parse_action(text, tool_format=tool_format)
        assert parsed.think == "I should look it up."
        assert parsed.calls == (ToolCall(MS, {"query": "ataxia"}),), parsed
    # a [/THINK] quoted after the call is text, not the end of reasoning
    quoted = '[TOOL_CALLS]medical_search[ARGS]{"query": "[/THINK] tag"}'
    parsed = parse_action(quoted)
    assert parsed.think is None and parsed.calls == (ToolCall(MS, {"query": "[/THINK] tag"}),)

"""More of what a caller of the tool-call parser sees, from the later passes of the
mutation run of `medenv.tools.parsing` and `medenv.tools.formats` (the first pass is
`tests/test_parsing_survivors.py`, whose helpers and schemas this file shares): how an
error names the format it was read in, the text left around calls (read for answers),
reasoning cut out anywhere in a reply, truncated tags, and the too-many-calls bound."""

from __future__ import annotations

import pytest

from medenv.tools import formats
from medenv.tools.parsing import FORMAT_HINT, ToolCall, parse_action
from tests.test_parsing_survivors import (
    CALL,
    K_ARGS,
    K_BEGIN,
    K_CALL,
    K_CALL_END,
    K_END,
    MS,
    PING,
    WEB,
    _error,
    _says,
)

# -- second pass (a fresh seed-7 sample of the code above) -----------------------------------


def test_the_format_an_error_was_read_in_is_named_for_answers_and_dicts():
    error = _error("<answer> </answer>")
    assert error.kind == "bad_arguments"
    assert error.message.startswith("The <answer></answer> is empty; put the answer inside. (Read as an <answer> tag.) ")
    error = _error({"name": MS, "arguments": {}})
    assert f"{MS} is missing the required argument(s): query. (Read as an OpenAI tool-call dict.) " in error.message


def test_an_error_outside_any_family_hints_the_tool_format_asked_for():
    mistral_hint = "Call exactly one tool as [TOOL_CALLS]TOOL[ARGS]{...}, or give the final answer"
    for action in ({"name": MS, "arguments": {}}, "<answer></answer>", "no call at all"):
        assert mistral_hint in _error(action, tool_format="mistral").message, action


def test_a_dict_with_neither_call_nor_content_says_so():
    _says({"role": "assistant"}, "no_call", "The dict has no tool call or content.")


def test_fenced_json_data_is_named_as_data():
    _says('```json\n{"gene": "FBN1", "type": "gene"}\n```', "no_call", "No tool call found: the JSON in the reply is data")


def test_broken_json_inside_a_tool_call_block_is_named_there():
    """Its position is counted in the block's own text (line 1: the JSON's first line)."""
    body = f'{{"name": "{MS}", "arguments": {{"query": ataxia}}}}'
    _says(
        f"<tool_call>\n{body}\n</tool_call>",
        "bad_json",
        f"The JSON inside <tool_call> is invalid: Expecting value at line 1 column {body.index('ataxia') + 1}.",
    )


def test_text_between_tool_call_blocks_is_left_over_and_read_for_answers():
    text = f"<tool_call>{CALL}</tool_call>\nso <answer>Marfan</answer>\n<tool_call>{WEB}</tool_call>"
    assert formats.extract(text)[3] == "\nso <answer>Marfan</answer>\n"
    parsed = parse_action(text, parallel_calls=True)
    assert [c.name for c in parsed.calls] == [MS, "web_search", "answer"], parsed


def test_a_mistral_reply_keeps_the_text_before_its_first_call_for_answers():
    text = f'It is <answer>Marfan</answer>[TOOL_CALLS]{MS}[ARGS]{{"query": "ataxia"}}'
    assert formats.extract(text)[3] == "It is <answer>Marfan</answer>"
    _says(text, "several_calls", "Found 2 tool calls")


def test_a_harmony_reply_stopped_inside_its_final_answer_is_that_answer():
    text = "<|channel|>analysis<|message|>It is Marfan.<|end|><|start|>assistant<|channel|>final<|message|><answer>Marfan syndrome"
    assert parse_action(text).calls == (ToolCall("answer", {"answer": "Marfan syndrome"}),)


def test_magistral_reasoning_ends_at_the_first_close_tag():
    text = f'[THINK]plan[/THINK][TOOL_CALLS]{MS}[ARGS]{{"query": "what [/THINK] means"}}'
    parsed = parse_action(text)
    assert parsed.think == "plan"
    assert parsed.calls == (ToolCall(MS, {"query": "what [/THINK] means"}),)


def test_an_unclosed_think_holding_a_json_tool_call_is_all_reasoning():
    """Only ``<tool_call><function=`` (Qwen3-Coder) ends an unclosed ``<think>``; a Hermes
    block quoted in it is reasoning."""
    text = f"<think>I could send <tool_call>{CALL}</tool_call> or <tool_call>{WEB}"
    parsed = parse_action(text)
    assert parsed.think == text.removeprefix("<think>") and parsed.error.kind == "no_call"


def test_past_64_blocks_an_explicit_tool_call_family_says_too_many_calls():
    """Regression: under ``tool_format`` ``qwen3_coder`` or ``glm45``, the 65th block's
    too-many error was reported as a Hermes block in the wrong family."""
    blocks = {
        "hermes": f"<tool_call>{CALL}</tool_call>",
        "qwen3_coder": f"<tool_call><function={MS}><parameter=query>a</parameter></function></tool_call>",
        "glm45": f"<tool_call>{MS}<arg_key>query</arg_key><arg_value>a</arg_value></tool_call>",
    }
    for fmt, block in blocks.items():
        for tool_format in (fmt, "auto"):
            _says(block * 65, "several_calls", "More than 64 calls.", tool_format=tool_format, parallel_calls=True)
        assert len(parse_action(block * 64, tool_format=fmt, parallel_calls=True).calls) == 64


def test_a_qwen3_coder_parameter_closed_by_the_function_tag_ends_there():
    text = f"<tool_call><function={MS}><parameter=query>ataxia</function></tool_call>"
    assert parse_action(text).calls == (ToolCall(MS, {"query": "ataxia"}),)


def test_a_qwen3_coder_call_stopped_inside_a_parameter_tag_is_malformed():
    _says(f"<tool_call><function={MS}><parameter=query", "bad_json", f"Malformed <parameter=...> tag in {MS}.")


def test_a_glm_name_holding_a_tag_is_malformed_and_a_stopped_value_runs_to_the_end():
    _says(
        f"<tool_call><b>{MS}</b><arg_key>query</arg_key><arg_value>x</arg_value></tool_call>",
        "bad_json",
        "Malformed GLM call: put the tool name right after <tool_call>.",
    )
    for text in (
        f"<tool_call>{MS}\n<arg_key>query</arg_key>\n<arg_value>ataxia",
        f"<tool_call>{MS}\n<arg_key>top_k</arg_key><arg_value>2</arg_value><arg_key>query</arg_key><arg_value>ataxia",
    ):
        assert parse_action(text).calls[0].arguments["query"] == "ataxia", text


def test_a_typeless_argument_keeps_its_text_when_arguments_are_left_to_the_caller():
    schema = {"name": "note", "parameters": {"properties": {"text": {"description": "any"}}}}
    text = "<tool_call><function=note><parameter=text>42</parameter></function></tool_call>"
    for check_arguments in (True, False):
        parsed = parse_action(text, schemas=[schema], check_arguments=check_arguments)
        assert parsed.calls == (ToolCall("note", {"text": "42"}),), parsed


def test_an_unknown_tool_suggests_the_closest_name_only():
    error = _error({"name": "medical_serch", "arguments": {"query": "x"}})
    assert error.message.startswith(
        "Unknown tool 'medical_serch'. Did you mean 'medical_search'? Available tools: "
        "answer, browse, medical_search, web_search."
    ), error


# The text around reasoning reads as if the reasoning were not there: the reply after a
# `<think>` block reuses the scan of the whole reply (shifted), or scans the text again
# when prose came before the block.
_BEFORE = ["", "Plan. ", "<|tool_call|>", "<|python_start|>", "<|action_start|><|plugin|>", "{", "See [1]. "]
_AFTER = [
    CALL,
    f"[{CALL}]",
    f"<tool_call>{CALL}</tool_call>",
    f'<|python_tag|>{{"name": "{MS}", "parameters": {{"query": "a"}}}}',
    f'[{MS}(query="a")]<|python_end|>',
    f'{{"name": "{MS}", "parameters": {{"query": "a"}}}}<|action_end|>',
    "<answer>Marfan</answer>",
    f"{K_BEGIN}{K_CALL}functions.{MS}:0{K_ARGS}{{\"query\": \"a\"}}{K_CALL_END}{K_END}",
]


@pytest.mark.parametrize("before", _BEFORE)
@pytest.mark.parametrize("after", _AFTER)
def test_a_think_block_anywhere_is_cut_out_before_reading(before, after):
    plain = parse_action(before + after)
    for think in ("check <|tool_call|> and <tool_call> first", "x" * 200):
        parsed = parse_action(f"{before}<think>{think}</think>{after}")
        assert parsed.think == think.strip()
        assert (parsed.calls, parsed.error, parsed.family) == (plain.calls, plain.error, plain.family), (
            before, after, think,
        )


# -- third pass ------------------------------------------------------------------------------


def test_under_an_explicit_tool_call_family_the_reply_is_read_as_that_family():
    glm = f"<tool_call>{MS}<arg_key>query</arg_key><arg_value>FBN1</arg_value></tool_call>"
    parsed = parse_action(glm, tool_format="hermes")
    assert parsed.family == "hermes"
    assert "found GLM-4.5. (Read as the Hermes/Qwen JSON format.) " in parsed.error.message


def test_an_error_read_in_no_format_names_none():
    assert _error("no call at all").message == f"No tool call or answer found. {FORMAT_HINT}"


def test_arguments_null_are_no_arguments():
    _says({"name": MS, "arguments": None}, "bad_arguments", f"{MS} is missing the required argument(s): query.")
    assert parse_action({"name": "ping", "arguments": None}, schemas=[PING]).calls == (ToolCall("ping", {}),)


def test_a_list_action_is_a_list_of_calls():
    calls = [{"name": MS, "arguments": {"query": "a"}}, {"type": "function", "function": {"name": "web_search", "arguments": '{"query": "b"}'}}]
    parsed = parse_action(calls, parallel_calls=True)
    assert parsed.calls == (ToolCall(MS, {"query": "a"}), ToolCall("web_search", {"query": "b"}))
    assert parsed.family == "openai"
    _says([], "no_call", "The list of tool calls is empty.")


def test_a_dicts_reasoning_field_is_its_think():
    for key in ("reasoning", "reasoning_content"):
        parsed = parse_action({key: "plan", "content": None, "tool_calls": [{"function": {"name": MS, "arguments": {"query": "a"}}}]})
        assert parsed.think == "plan" and parsed.calls == (ToolCall(MS, {"query": "a"}),), key


def test_a_pythonic_call_too_deep_for_the_parser_says_why_in_words():
    """An exception without text (the parser's RecursionError/MemoryError on thousands of
    nested unary minus signs) still gives a reason after the colon."""
    text = f"[{MS}(top_k=" + "-" * 100_000 + "1)]"
    error = _error(text)
    assert error.kind == "bad_json"
    head, _, reason = error.message.partition("The call list is not valid Python: ")
    assert head == "" and reason[:2].strip(" .") != "", error.message

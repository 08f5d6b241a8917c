"""Tool-call formats of every model family: a table per family built from each family's
documented examples (vLLM/SGLang parser docs and tests, mistral-common, openai/harmony, the
model cards' chat templates), valid and invalid, read in ``auto`` mode and under the family's
own ``tool_format``; plus the misreads issue #18 lists."""

from __future__ import annotations

import pytest

from medenv.errors import MedenvError
from medenv.tools.parsing import (
    FAMILIES,
    FORMAT_HINT,
    TOOL_FORMATS,
    ToolCall,
    format_hint,
    parse_action,
)
from medenv.tools.registry import tool_schemas

SCHEMAS = tool_schemas()
MS, WS = "medical_search", "web_search"
DS_BEGIN, DS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
DS_CALL, DS_SEP, DS_CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>"
K_BEGIN, K_END = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
DSML_FC, DSML_INV = "<｜DSML｜function_calls>", '<｜DSML｜invoke name="'
DSML_PARAM = '<｜DSML｜parameter name="'
K_CALL, K_ARGS, K_CALL_END = (
    "<|tool_call_begin|>",
    "<|tool_call_argument_begin|>",
    "<|tool_call_end|>",
)

# (family, id, text, calls [(name, args)], think)
VALID = [
    ("hermes", "qwen25", '<tool_call>\n{"name": "medical_search", "arguments": {"query": "ataxia"}}\n</tool_call>', [(MS, {"query": "ataxia"})], None),
    ("hermes", "qwen3-think", '<think>\nplan\n</think>\n\n<tool_call>\n{"name": "web_search", "arguments": {"query": "FBN1"}}\n</tool_call>', [(WS, {"query": "FBN1"})], "plan"),
    ("hermes", "granite31-list-in-tool-call", '<tool_call>[{"name": "medical_search", "arguments": {"query": "ataxia"}}]', [(MS, {"query": "ataxia"})], None),
    ("qwen3_coder", "single-line", "<tool_call><function=medical_search><parameter=query>ataxia</parameter></function></tool_call>", [(MS, {"query": "ataxia"})], None),
    ("qwen3_coder", "multi-line-int", "<tool_call>\n<function=medical_search>\n<parameter=query>\nataxia\n</parameter>\n<parameter=top_k>\n3\n</parameter>\n</function>\n</tool_call>", [(MS, {"query": "ataxia", "top_k": 3})], None),
    ("qwen3_coder", "qwen3-open-think-ends-at-tool-call", "<think>\nI should search.\n<tool_call>\n<function=medical_search>\n<parameter=query>\nataxia\n</parameter>\n</function>\n</tool_call>", [(MS, {"query": "ataxia"})], "I should search."),
    ("glm45", "glm45", "<tool_call>medical_search\n<arg_key>query</arg_key>\n<arg_value>ataxia</arg_value>\n<arg_key>top_k</arg_key>\n<arg_value>3</arg_value>\n</tool_call>", [(MS, {"query": "ataxia", "top_k": 3})], None),
    ("glm45", "glm45-think", "<think>look it up</think><tool_call>web_search\n<arg_key>query</arg_key>\n<arg_value>FBN1 gene</arg_value>\n</tool_call>", [(WS, {"query": "FBN1 gene"})], "look it up"),
    ("mistral", "v11-args", '[TOOL_CALLS]medical_search[ARGS]{"query": "ataxia"}', [(MS, {"query": "ataxia"})], None),
    ("mistral", "v13-call-id", '[TOOL_CALLS]medical_search[CALL_ID]a1b2c3d4e[ARGS]{"query": "ataxia", "top_k": 2}', [(MS, {"query": "ataxia", "top_k": 2})], None),
    ("mistral", "content-before", 'Let me search.[TOOL_CALLS]web_search[ARGS]{"query": "FBN1"}', [(WS, {"query": "FBN1"})], None),
    ("mistral", "pre-v11-list", '[TOOL_CALLS] [{"name": "medical_search", "arguments": {"query": "ataxia"}}]', [(MS, {"query": "ataxia"})], None),
    ("mistral", "pre-v11-junk-then-list", '[TOOL_CALLS]  junk [{"name": "medical_search", "arguments":{"query": "a"}}] trail', [(MS, {"query": "a"})], None),
    ("mistral", "pre-v11-arguments-first-trailing", '[TOOL_CALLS] [{"arguments":{"query": "x"}, "name": "web_search"}]\nextra trailing data', [(WS, {"query": "x"})], None),
    ("mistral", "v11-no-args-token", '[TOOL_CALLS]medical_search{"query": "a", "top_k": 4}', [(MS, {"query": "a", "top_k": 4})], None),
    ("pythonic", "quotes-escaped", "[web_search(query='Martha\\'s Vineyard ataxia')]", [(WS, {"query": "Martha's Vineyard ataxia"})], None),
    ("kimi_k2", "spaced-tokens", f' {K_BEGIN} {K_CALL} functions.web_search:0 {K_ARGS} {{"query": "FBN1"}} {K_CALL_END} {K_END}', [(WS, {"query": "FBN1"})], None),
    ("json", "arguments-key-and-prose-before", 'Sure. {"name": "medical_search", "arguments": {"query": "ataxia"}}', [(MS, {"query": "ataxia"})], None),
    ("mistral", "vllm-decoded", 'medical_search{"query": "ataxia"}', [(MS, {"query": "ataxia"})], None),
    ("mistral", "magistral-think", '[THINK]Search first.[/THINK][TOOL_CALLS]medical_search[ARGS]{"query": "ataxia"}', [(MS, {"query": "ataxia"})], "Search first."),
    ("harmony", "channel-recipient", '<|channel|>analysis<|message|>Need a search.<|end|><|start|>assistant<|channel|>commentary to=functions.medical_search <|constrain|>json<|message|>{"query": "ataxia"}<|call|>', [(MS, {"query": "ataxia"})], "Need a search."),
    ("harmony", "recipient-in-role", '<|start|>assistant to=functions.web_search<|channel|>commentary json<|message|>{"query": "FBN1"}<|call|>', [(WS, {"query": "FBN1"})], None),
    ("harmony", "final-answer", "<|channel|>analysis<|message|>It is Marfan.<|end|><|start|>assistant<|channel|>final<|message|><answer>Marfan syndrome</answer><|return|>", [("answer", {"answer": "Marfan syndrome"})], "It is Marfan."),
    ("deepseek_v3", "v3-fenced", f'{DS_BEGIN}{DS_CALL}function{DS_SEP}medical_search\n```json\n{{"query": "ataxia"}}\n```{DS_CALL_END}{DS_END}', [(MS, {"query": "ataxia"})], None),
    ("deepseek_v3", "v31", f'{DS_BEGIN}{DS_CALL}medical_search{DS_SEP}{{"query": "ataxia"}}{DS_CALL_END}{DS_END}', [(MS, {"query": "ataxia"})], None),
    ("deepseek_v3", "r1-think-then-call", f'<think>search</think>\n\n{DS_BEGIN}{DS_CALL}web_search{DS_SEP}{{"query": "FBN1"}}{DS_CALL_END}{DS_END}', [(WS, {"query": "FBN1"})], "search"),
    ("kimi_k2", "k2", f'I will search.{K_BEGIN}{K_CALL}functions.medical_search:0{K_ARGS}{{"query": "ataxia"}}{K_CALL_END}{K_END}', [(MS, {"query": "ataxia"})], None),
    ("pythonic", "list", '[medical_search(query="ataxia", top_k=3)]', [(MS, {"query": "ataxia", "top_k": 3})], None),
    ("pythonic", "lfm2-tokens-content-after", "<|tool_call_start|>[web_search(query='FBN1 gene')]<|tool_call_end|>\nSearching now.", [(WS, {"query": "FBN1 gene"})], None),
    ("pythonic", "llama4-tokens", "<|python_start|>[web_search(query='FBN1 gene')]<|python_end|>", [(WS, {"query": "FBN1 gene"})], None),
    ("json", "llama31-python-tag", '<|python_tag|>{"name": "medical_search", "parameters": {"query": "ataxia"}}', [(MS, {"query": "ataxia"})], None),
    ("json", "llama32-bare", '{"name": "web_search", "parameters": {"query": "FBN1"}}', [(WS, {"query": "FBN1"})], None),
    ("json", "tool-calls-object-text", '{"tool_calls": [{"type": "function", "function": {"name": "medical_search", "arguments": "{\\"query\\": \\"ataxia\\"}"}}]}', [(MS, {"query": "ataxia"})], None),
    ("granite", "granite30", '<|tool_call|>[{"name": "medical_search", "arguments": {"query": "ataxia"}}]', [(MS, {"query": "ataxia"})], None),
    ("internlm", "internlm2", 'I need to search.<|action_start|><|plugin|>\n{"name": "medical_search", "parameters": {"query": "ataxia"}}<|action_end|>', [(MS, {"query": "ataxia"})], None),
    ("deepseek_v32", "v32-typed", f'Searching.{DSML_FC}\n{DSML_INV}medical_search">\n{DSML_PARAM}query" string="true">ataxia</｜DSML｜parameter>\n{DSML_PARAM}top_k" string="false">3</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>', [(MS, {"query": "ataxia", "top_k": 3})], None),
    ("deepseek_v32", "v4-think", f'<think>plan</think>\n\n<｜DSML｜tool_calls>\n{DSML_INV}web_search">\n{DSML_PARAM}query" string="true">FBN1</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>', [(WS, {"query": "FBN1"})], "plan"),
    ("minimax_m2", "m2-interleaved-think", '<think>plan</think>\n<minimax:tool_call>\n<invoke name="medical_search">\n<parameter name="query">ataxia</parameter>\n<parameter name="top_k">3</parameter>\n</invoke>\n</minimax:tool_call>', [(MS, {"query": "ataxia", "top_k": 3})], "plan"),
    ("minimax_m2", "m2-bare-name-cut-off", "<minimax:tool_call><invoke name=web_search><parameter name='query'>FBN1 gene", [(WS, {"query": "FBN1 gene"})], None),
    ("gemma4", "gemma4-thought-channel", '<|channel>thought\nSearch first.<channel|><|tool_call>call:medical_search{query:<|"|>ataxia, gait<|"|>,top_k:3}<tool_call|>', [(MS, {"query": "ataxia, gait", "top_k": 3})], "Search first."),
    ("gemma4", "gemma4-cut-off", 'Let me look.<|tool_call>call:web_search{query:<|"|>FBN1', [(WS, {"query": "FBN1"})], None),
    ("olmo3", "olmo3-think-json-literal", "<think>plan</think>\n<function_calls>medical_search(query='ataxia', top_k=3)\n</function_calls>", [(MS, {"query": "ataxia", "top_k": 3})], "plan"),
    ("olmo3", "olmo3-prose-then-cut-off", 'I will search.\n<function_calls>\nweb_search(query="FBN1")', [(WS, {"query": "FBN1"})], None),
    ("seed_oss", "seed-think", "<seed:think>plan</seed:think><seed:tool_call>\n<function=web_search>\n<parameter=query>FBN1</parameter>\n</function>\n</seed:tool_call>", [(WS, {"query": "FBN1"})], "plan"),
    ("seed_oss", "seed-example-in-think", "<seed:think>The format is <seed:tool_call><function=browse></function></seed:tool_call>.</seed:think><seed:tool_call><function=medical_search><parameter=query>ataxia</parameter></function></seed:tool_call>", [(MS, {"query": "ataxia"})], "The format is <seed:tool_call><function=browse></function></seed:tool_call>."),
]  # fmt: skip

# (family, id, text, kind, words in the message)
INVALID = [
    ("hermes", "truncated", '<tool_call>{"name": "medical_search", "arguments": {"query": "atax', "bad_json", "truncated"),
    ("qwen3_coder", "bad-int", "<function=medical_search><parameter=query>a</parameter><parameter=top_k>many</parameter></function>", "bad_arguments", "top_k"),
    ("glm45", "key-without-value", "<tool_call>medical_search\n<arg_key>query</arg_key>\n</tool_call>", "bad_json", "<arg_value>"),
    ("mistral", "truncated-args", '[TOOL_CALLS]medical_search[ARGS]{"query": "atax', "bad_json", "truncated"),
    ("mistral", "no-args", "[TOOL_CALLS]medical_search", "bad_json", "[ARGS]"),
    ("mistral", "unknown-tool", '[TOOL_CALLS]pubmed[ARGS]{"q": "x"}', "unknown_tool", "Available tools"),
    ("harmony", "bad-json", "<|channel|>commentary to=functions.medical_search <|constrain|>json<|message|>{\"query\": }<|call|>", "bad_json", "functions.medical_search"),
    ("harmony", "builtin-tool", '<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>commentary to=browser.search<|message|>{"query": "x"}<|call|>', "unknown_tool", "browser.search"),
    ("harmony", "final-without-answer", "<|channel|>final<|message|>It is Marfan syndrome.<|return|>", "no_call", "No tool call"),
    ("deepseek_v3", "no-sep", f'{DS_BEGIN}{DS_CALL}medical_search{{"query": "x"}}{DS_CALL_END}{DS_END}', "bad_json", "tool▁sep"),
    ("kimi_k2", "bad-args", f'{K_BEGIN}{K_CALL}functions.medical_search:0{K_ARGS}{{"query": ataxia}}{K_CALL_END}{K_END}', "bad_json", "invalid"),
    ("kimi_k2", "two-calls", f'{K_BEGIN}{K_CALL}functions.medical_search:0{K_ARGS}{{"query": "a"}}{K_CALL_END}{K_CALL}functions.web_search:1{K_ARGS}{{"query": "b"}}{K_CALL_END}{K_END}', "several_calls", "Found 2"),
    ("pythonic", "positional", '[medical_search("ataxia")]', "bad_arguments", "by name"),
    ("pythonic", "not-literal", "[medical_search(query=ataxia)]", "bad_arguments", "literal"),
    ("json", "llama32-semicolons", '{"name": "medical_search", "parameters": {"query": "a"}}; {"name": "web_search", "parameters": {"query": "b"}}', "several_calls", "Found 2"),
    ("granite", "bad-json", '<|tool_call|>[{"name": "medical_search", "arguments": {"query": }}]', "bad_json", "invalid"),
    ("deepseek_v32", "no-name", f'{DSML_FC}{DSML_INV}">{DSML_PARAM}query" string="true">a</｜DSML｜parameter></｜DSML｜invoke></｜DSML｜function_calls>', "bad_json", "<｜DSML｜invoke name="),
    ("minimax_m2", "bad-int", '<minimax:tool_call><invoke name="medical_search"><parameter name="query">a</parameter><parameter name="top_k">many</parameter></invoke></minimax:tool_call>', "bad_arguments", "top_k"),
    ("gemma4", "no-call-prefix", '<|tool_call>medical_search{query:<|"|>a<|"|>}<tool_call|>', "bad_json", "call:TOOL"),
    ("gemma4", "bare-string-for-int", '<|tool_call>call:medical_search{query:<|"|>a<|"|>,top_k:three}<tool_call|>', "bad_arguments", "top_k"),
    ("olmo3", "json-null-for-string", "<function_calls>medical_search(query=null)</function_calls>", "bad_arguments", "must be string"),
    ("olmo3", "not-a-call", "<function_calls>medical_search query='a'</function_calls>", "bad_json", "not valid Python"),
    ("seed_oss", "json-body", '<seed:tool_call>{"name": "medical_search", "arguments": {"query": "a"}}</seed:tool_call>', "bad_json", "<function=NAME>"),
    ("internlm", "missing-brace", '<|action_start|><|plugin|>\n{"name": "medical_search", "parameters": {"query": "a"}<|action_end|>', "bad_json", "JSON"),
]  # fmt: skip


def _calls(parsed):
    return [(c.name, c.arguments) for c in parsed.calls]


@pytest.mark.parametrize("mode", ["auto", "family"])
@pytest.mark.parametrize(
    "family,name,text,calls,think", VALID, ids=[f"{v[0]}-{v[1]}" for v in VALID]
)
def test_documented_examples_parse_in_auto_and_under_their_family(
    family, name, text, calls, think, mode
):
    parsed = parse_action(text, schemas=SCHEMAS, tool_format="auto" if mode == "auto" else family)
    assert parsed.error is None, parsed.error
    assert _calls(parsed) == calls
    assert parsed.think == think
    assert parsed.family == ("answer" if calls[0][0] == "answer" else family)


@pytest.mark.parametrize("mode", ["auto", "family"])
@pytest.mark.parametrize(
    "family,name,text,kind,words", INVALID, ids=[f"{v[0]}-{v[1]}" for v in INVALID]
)
def test_documented_mistakes_give_the_error_the_read_format_and_its_hint(
    family, name, text, kind, words, mode
):
    parsed = parse_action(text, schemas=SCHEMAS, tool_format="auto" if mode == "auto" else family)
    assert parsed.calls == () and parsed.error.kind == kind, parsed.error
    message = parsed.error.message
    assert words in message.removesuffix(format_hint(family))
    assert message.endswith(format_hint(family))
    if kind != "no_call":
        assert parsed.family == family and f"Read as the {FAMILIES[family][0]} format" in message


def test_every_family_has_valid_and_invalid_examples():
    assert {v[0] for v in VALID} == set(FAMILIES) == {v[0] for v in INVALID}
    assert TOOL_FORMATS == ("auto", *FAMILIES)


def test_several_calls_of_each_separator_style_run_with_parallel_calls():
    two = {
        "mistral": '[TOOL_CALLS]medical_search[ARGS]{"query": "a"}[TOOL_CALLS]web_search[ARGS]{"query": "b"}',
        "json": '{"name": "medical_search", "parameters": {"query": "a"}}; {"name": "web_search", "parameters": {"query": "b"}}',
        "pythonic": '[medical_search(query="a"), web_search(query="b")]',
        "deepseek_v3": f'{DS_BEGIN}{DS_CALL}medical_search{DS_SEP}{{"query": "a"}}{DS_CALL_END}{DS_CALL}web_search{DS_SEP}{{"query": "b"}}{DS_CALL_END}{DS_END}',
        "harmony": '<|channel|>commentary to=functions.medical_search<|message|>{"query": "a"}<|call|><|start|>assistant<|channel|>commentary to=functions.web_search<|message|>{"query": "b"}<|call|>',
        "granite": '<|tool_call|>[{"name": "medical_search", "arguments": {"query": "a"}}, {"name": "web_search", "arguments": {"query": "b"}}]',
        "qwen3_coder": "<tool_call><function=medical_search><parameter=query>a</parameter></function></tool_call><tool_call><function=web_search><parameter=query>b</parameter></function></tool_call>",
    }  # fmt: skip
    for family, text in two.items():
        parsed = parse_action(text, parallel_calls=True, schemas=SCHEMAS)
        assert parsed.calls == (ToolCall(MS, {"query": "a"}), ToolCall(WS, {"query": "b"})), family
        assert parsed.family == family
        single = parse_action(text, schemas=SCHEMAS)
        assert single.error.kind == "several_calls" and "Found 2" in single.error.message, family


# ------------------------------------------------------------------ misreads (issue #18) ---


def test_answer_tag_quoted_in_prose_before_a_call_is_not_a_second_call():
    text = (
        "Before I give an <answer>, let me check the inheritance.\n"
        '<tool_call>{"name": "medical_search", "arguments": {"query": "Apert"}}</tool_call>'
    )
    parsed = parse_action(text, schemas=SCHEMAS)
    assert parsed.error is None and _calls(parsed) == [(MS, {"query": "Apert"})]
    # an answer cut off by the end of generation still counts when it is the only thing
    assert _calls(parse_action("So: <answer>Apert syndrome", schemas=SCHEMAS)) == [
        ("answer", {"answer": "Apert syndrome"})
    ]


def test_json_data_in_prose_is_not_a_tool_call():
    data = 'The entities are [{"name": "FGFR2", "type": "gene"}, {"name": "Apert", "type": "disease"}].'
    parsed = parse_action(data, schemas=SCHEMAS)
    assert parsed.error.kind == "no_call" and parsed.family is None
    parsed = parse_action(data + " <answer>FGFR2</answer>", schemas=SCHEMAS)
    assert parsed.error is None and _calls(parsed) == [("answer", {"answer": "FGFR2"})]
    whole = parse_action('[{"name": "FGFR2", "type": "gene"}]', schemas=SCHEMAS)
    assert whole.error.kind == "no_call" and "data, not a call" in whole.error.message


def test_literal_think_in_a_json_string_after_a_closed_think_block():
    text = (
        "<think>plan</think>\n"
        '<tool_call>{"name": "medical_search", "arguments": {"query": "what <think> means"}}</tool_call>'
    )
    parsed = parse_action(text, schemas=SCHEMAS)
    assert parsed.error is None and parsed.think == "plan"
    assert _calls(parsed) == [(MS, {"query": "what <think> means"})]


def test_literal_close_tag_inside_an_argument_value_stays_in_the_value():
    text = '<tool_call>{"name": "medical_search", "arguments": {"query": "a </tool_call> b"}}</tool_call>'
    parsed = parse_action(text, schemas=SCHEMAS)
    assert parsed.error is None and _calls(parsed) == [(MS, {"query": "a </tool_call> b"})]


def test_deep_nesting_and_huge_integers_are_bad_json_with_the_hint():
    for text in (
        "[" * 100_000,
        "<tool_call>" + "[" * 100_000,
        '{"name": "medical_search", "arguments": {"query": "a", "top_k": ' + "9" * 5000 + "}}",
        '<tool_call>{"name": "medical_search", "arguments": {"top_k": '
        + "1" * 4400
        + "}}</tool_call>",
        '[TOOL_CALLS]medical_search[ARGS]{"top_k": ' + "1" * 4400 + "}",
    ):
        parsed = parse_action(text, schemas=SCHEMAS)
        assert parsed.error.kind == "bad_json", parsed.error
        assert parsed.error.message.endswith(format_hint(parsed.family)), parsed.error.message
    xml = "<function=medical_search><parameter=query>a</parameter><parameter=top_k>" + "7" * 5000
    parsed = parse_action(xml + "</parameter></function>", schemas=SCHEMAS)
    assert (
        parsed.error.kind == "bad_arguments" and "'top_k' must be integer" in parsed.error.message
    )
    huge = {"name": "medical_search", "arguments": {"query": "a", "top_k": 10**5000}}
    parsed = parse_action(huge, schemas=SCHEMAS)  # a dict holding such an int: no raise
    assert parsed.error.kind == "bad_arguments" and "between 1 and 20" in parsed.error.message


# ------------------------------------------------------------------ tool_format ------------


def test_an_explicit_family_reads_only_its_own_format():
    hermes = '<tool_call>{"name": "medical_search", "arguments": {"query": "a"}}</tool_call>'
    parsed = parse_action(hermes, schemas=SCHEMAS, tool_format="mistral")
    assert parsed.error.kind == "no_call" and parsed.error.message.endswith(format_hint("mistral"))
    assert "[TOOL_CALLS]TOOL[ARGS]" in parsed.error.message
    xml = (
        "<tool_call><function=medical_search><parameter=query>a</parameter></function></tool_call>"
    )
    parsed = parse_action(xml, schemas=SCHEMAS, tool_format="hermes")
    assert (
        parsed.error.kind == "bad_json"
        and "Expected a Hermes/Qwen JSON call" in parsed.error.message
    )
    decoded = 'medical_search{"query": "a"}'
    assert parse_action(decoded, schemas=SCHEMAS, tool_format="json").error.kind == "no_call"
    # the answer tag is the env's own protocol: read under every family
    for family in FAMILIES:
        parsed = parse_action("<answer>FGFR2</answer>", schemas=SCHEMAS, tool_format=family)
        assert _calls(parsed) == [("answer", {"answer": "FGFR2"})] and parsed.family == "answer"


def test_unknown_tool_format_is_a_clear_error():
    with pytest.raises(MedenvError, match="unknown tool_format 'llama5'.*hermes"):
        parse_action("<answer>x</answer>", tool_format="llama5")


def test_hint_of_auto_is_the_hermes_prompt_format():
    assert format_hint(None) == format_hint("hermes") == FORMAT_HINT
    assert all(FAMILIES[f][1] in format_hint(f) for f in FAMILIES)


def test_every_readme_example_parses_under_its_family():
    import re

    from tests.conftest import ROOT

    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| `(.+?)`(?: \(|\s*\|$)", _readme(ROOT), re.M)
    assert {family for family, _ in rows} == set(FAMILIES)
    for family, example in rows:
        text = example.replace("\\|", "|")
        for mode in ("auto", family):
            parsed = parse_action(text, schemas=SCHEMAS, tool_format=mode)
            assert parsed.error is None and parsed.calls[0].name == MS, (family, mode, parsed)
            assert parsed.calls[0].arguments["query"] == "ataxia" and parsed.family == family


def _readme(root) -> str:
    """The README's table of tool-call formats (in the environment section)."""
    text = (root / "README.md").read_text(encoding="utf-8")
    return text.split("| `tool_format` | models | one call |", 1)[1].split("\n\n", 1)[0]


@pytest.mark.parametrize(
    "one",
    [
        '<tool_call>{"name": "medical_search", "arguments": {"query": "a"}}</tool_call>',
        '[TOOL_CALLS]medical_search[ARGS]{"query": "a"}',
        f'{DS_CALL}medical_search{DS_SEP}{{"query": "a"}}{DS_CALL_END}',
        f'{K_CALL}functions.medical_search:0{K_ARGS}{{"query": "a"}}{K_CALL_END}',
        '<|start|>assistant<|channel|>commentary to=functions.medical_search<|message|>{"query": "a"}<|call|>',
        f'{DSML_FC}{DSML_INV}medical_search">{DSML_PARAM}query" string="true">a</｜DSML｜parameter></｜DSML｜invoke></｜DSML｜function_calls>',
        '<minimax:tool_call><invoke name="medical_search"><parameter name="query">a</parameter></invoke></minimax:tool_call>',
        "<seed:tool_call><function=medical_search><parameter=query>a</parameter></function></seed:tool_call>",
        "<function_calls>medical_search(query='a')</function_calls>",
        '<|tool_call>call:medical_search{query:<|"|>a<|"|>}<tool_call|>',
    ],
)
def test_at_most_64_calls_are_read_from_one_reply(one):
    parsed = parse_action(one * 64, parallel_calls=True, schemas=SCHEMAS)
    assert parsed.error is None and len(parsed.calls) == 64
    parsed = parse_action(one * 65, parallel_calls=True, schemas=SCHEMAS)
    assert parsed.error.kind == "several_calls" and "More than 64 calls" in parsed.error.message
    # a megabyte of unclosed blocks stays linear: no per-block rescans of the text
    parse_action(one.replace("}", "") * 20_000, schemas=SCHEMAS)


@pytest.mark.parametrize(
    "text, family, arguments",
    [
        ("<tool_call>web_search\n<arg_key>query</arg_key>\n<arg_value>[TOOL_CALLS]</arg_value>\n"
         "</tool_call>", "glm45", {"query": "[TOOL_CALLS]"}),
        ('<tool_call>\n{"name": "web_search", "arguments": {"query": "<｜tool▁calls▁begin｜>"}}\n'
         "</tool_call>", "hermes", {"query": "<｜tool▁calls▁begin｜>"}),
        ('[TOOL_CALLS]web_search[ARGS]{"query": "<tool_call> in text"}', "mistral",
         {"query": "<tool_call> in text"}),

        ('<tool_call>\n{"name": "web_search", "arguments": {"query": "<minimax:tool_call> <seed:tool_call>"}}\n'
         "</tool_call>", "hermes", {"query": "<minimax:tool_call> <seed:tool_call>"}),
        ('<minimax:tool_call><invoke name="web_search"><parameter name="query"><tool_call> [TOOL_CALLS]'
         "</parameter></invoke></minimax:tool_call>", "minimax_m2", {"query": "<tool_call> [TOOL_CALLS]"}),
        ('<｜DSML｜function_calls><｜DSML｜invoke name="web_search"><｜DSML｜parameter name="query" string="true">'
         "<minimax:tool_call><function=x></｜DSML｜parameter></｜DSML｜invoke></｜DSML｜function_calls>",
         "deepseek_v32", {"query": "<minimax:tool_call><function=x>"}),
        ("<seed:tool_call><function=web_search><parameter=query><｜DSML｜tool_calls></parameter>"
         "</function></seed:tool_call>", "seed_oss", {"query": "<｜DSML｜tool_calls>"}),
    ],
)  # fmt: skip
def test_another_familys_marker_inside_the_arguments_is_text(text, family, arguments):
    """Auto mode reads the family whose call marker opens first; a marker of another family
    inside the arguments (found by the property test) is part of a string."""
    parsed = parse_action(text)
    assert parsed.error is None and parsed.family == family
    assert parsed.calls[0].arguments == arguments

"""Tool-call parsing: a conformance table of real-world model outputs, against the real
tool schemas of `medenv.tools.registry`."""

from __future__ import annotations

import json

import pytest

from medenv.tools.parsing import (
    ERROR_KINDS,
    PARSER_VERSION,
    ToolCall,
    error_suffix,
    parse_action,
)
from medenv.tools.registry import tool_schemas

SCHEMAS = tool_schemas()
MS = "medical_search"

# (id, action, expected calls as (name, arguments) or an error kind, expected think or None)
VALID = [
    (
        "qwen3-hermes-think",
        "<think>\nI need the inheritance of Apert syndrome.\n</think>\n\n<tool_call>\n"
        '{"name": "medical_search", "arguments": {"query": "Apert syndrome inheritance"}}\n</tool_call>',
        [(MS, {"query": "Apert syndrome inheritance"})],
        "I need the inheritance of Apert syndrome.",
    ),
    (
        "qwen3-template-opened-think",  # the chat template put <think> in the prompt
        'The question asks about a gene.\n</think>\n\n<tool_call>\n{"name": "web_search", '
        '"arguments": {"query": "FBN1 gene"}}\n</tool_call>',
        [("web_search", {"query": "FBN1 gene"})],
        "The question asks about a gene.",
    ),
    (
        "stopped-at-close-tag",  # vLLM stop=["</tool_call>"] drops the closing tag
        '<tool_call>\n{"name": "medical_search", "arguments": {"query": "ataxia"}}',
        [(MS, {"query": "ataxia"})],
        None,
    ),
    (
        "arguments-as-json-string",
        '<tool_call>{"name": "medical_search", "arguments": "{\\"query\\": \\"ataxia\\", \\"top_k\\": 3}"}</tool_call>',
        [(MS, {"query": "ataxia", "top_k": 3})],
        None,
    ),
    (
        "llama-parameters-key-bare",
        '{"name": "medical_search", "parameters": {"query": "ataxia"}}',
        [(MS, {"query": "ataxia"})],
        None,
    ),
    (
        "json-code-fence",
        '```json\n{"name": "medical_search", "arguments": {"query": "ataxia"}}\n```',
        [(MS, {"query": "ataxia"})],
        None,
    ),
    (
        "embedded-in-prose",
        'I will search first. {"name": "medical_search", "arguments": {"query": "ataxia"}} Then read.',
        [(MS, {"query": "ataxia"})],
        None,
    ),
    (
        "qwen3-coder-xml",
        "<tool_call>\n<function=medical_search>\n<parameter=query>\nataxia with\nmyoclonus\n"
        "</parameter>\n<parameter=top_k>\n7\n</parameter>\n</function>\n</tool_call>",
        [(MS, {"query": "ataxia with\nmyoclonus", "top_k": 7})],
        None,
    ),
    (
        "qwen35-xml-no-wrapper-with-think",
        "<think>browse it</think>\n<function=browse>\n<parameter=url>\n"
        "https://medref.medenv.org/entity/OMIM:101200\n</parameter>\n<parameter=goal>\n"
        "inheritance\n</parameter>\n</function>",
        [
            (
                "browse",
                {"url": "https://medref.medenv.org/entity/OMIM:101200", "goal": "inheritance"},
            )
        ],
        "browse it",
    ),
    (
        "xml-truncated-before-function-close",
        "<tool_call>\n<function=medical_search>\n<parameter=query>\nataxia\n</parameter>\n",
        [(MS, {"query": "ataxia"})],
        None,
    ),
    (
        "openai-function-dict-string-args",
        {
            "type": "function",
            "id": "call_1",
            "function": {"name": "medical_search", "arguments": '{"query": "ataxia"}'},
        },
        [(MS, {"query": "ataxia"})],
        None,
    ),
    (
        "openai-assistant-message",
        {
            "role": "assistant",
            "content": "<think>plan: read the page</think>",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "browse", "arguments": {"url": "u", "goal": "g"}},
                }
            ],
        },
        [("browse", {"url": "u", "goal": "g"})],
        "plan: read the page",
    ),
    (
        "plain-dict",
        {"name": "answer", "arguments": {"answer": "Marfan syndrome"}},
        [("answer", {"answer": "Marfan syndrome"})],
        None,
    ),
    (
        "answer-tag-after-think",
        "<think>So the disease is Marfan syndrome.</think>\n<answer>Marfan syndrome</answer>",
        [("answer", {"answer": "Marfan syndrome"})],
        "So the disease is Marfan syndrome.",
    ),
    (
        "answer-tag-stopped",
        "<answer> Autosomal dominant inheritance",
        [("answer", {"answer": "Autosomal dominant inheritance"})],
        None,
    ),
    (
        "mistral-tool-calls-prefix",
        '[TOOL_CALLS][{"name": "medical_search", "arguments": {"query": "ataxia"}}]',
        [(MS, {"query": "ataxia"})],
        None,
    ),
    (
        "llama-python-tag",
        '<|python_tag|>{"name": "web_search", "parameters": {"query": "ataxia"}}',
        [("web_search", {"query": "ataxia"})],
        None,
    ),
    (
        "greek-and-unicode",
        '<tool_call>{"name": "medical_search", "arguments": {"query": "α-synuclein β-thalassemia Ménière"}}</tool_call>',
        [(MS, {"query": "α-synuclein β-thalassemia Ménière"})],
        None,
    ),
    (
        "call-inside-think-is-ignored",
        '<think>maybe <tool_call>{"name": "web_search", "arguments": {"query": "x"}}</tool_call>?</think>'
        '<tool_call>{"name": "medical_search", "arguments": {"query": "y"}}</tool_call>',
        [(MS, {"query": "y"})],
        'maybe <tool_call>{"name": "web_search", "arguments": {"query": "x"}}</tool_call>?',
    ),
    (
        "extra-closing-brace",
        '<tool_call>{"name": "medical_search", "arguments": {"query": "ataxia"}}}</tool_call>',
        [(MS, {"query": "ataxia"})],
        None,
    ),
    (
        "null-arguments-answer-tag-multiline",
        "<answer>\nCystic fibrosis\n</answer>",
        [("answer", {"answer": "Cystic fibrosis"})],
        None,
    ),
]

INVALID = [
    ("empty", "", "no_call", "No tool call"),
    ("whitespace", "  \n\t ", "no_call", "No tool call"),
    ("prose-only", "I think the answer is Marfan syndrome.", "no_call", "No tool call or answer"),
    (
        "only-thinking-truncated",
        "<think>Let me consider the phenotypes and",
        "no_call",
        "No tool call",
    ),
    ("not-text", 42, "no_call", "text or a tool-call dict"),
    ("dict-without-call", {"role": "assistant", "content": "hello"}, "no_call", "No tool call"),
    (
        "truncated-json",
        '<tool_call>\n{"name": "medical_search", "arguments": {"query": "atax',
        "bad_json",
        "truncated",
    ),
    ("unquoted-keys", "<tool_call>{name: medical_search}</tool_call>", "bad_json", "invalid"),
    (
        "python-dict-quotes",
        "<tool_call>{'name': 'medical_search', 'arguments': {'query': 'x'}}</tool_call>",
        "bad_json",
        "invalid",
    ),
    ("empty-tool-call", "<tool_call></tool_call>", "bad_json", "empty"),
    ("no-name", '<tool_call>{"arguments": {"query": "x"}}</tool_call>', "bad_json", '"name"'),
    (
        "arguments-string-not-json",
        '{"name": "medical_search", "arguments": "query=ataxia"}',
        "bad_json",
        'in the "arguments" of medical_search is invalid',
    ),
    ("json-array-of-strings", '["medical_search", "ataxia"]', "no_call", "data, not a call"),
    ("deeply-nested", "[" * 100_000, "bad_json", "nested too deeply"),
    (
        "unknown-tool",
        '<tool_call>{"name": "google_search", "arguments": {"query": "x"}}</tool_call>',
        "unknown_tool",
        "Available tools",
    ),
    (
        "misspelt-tool",
        '<tool_call>{"name": "medical_serch", "arguments": {"query": "x"}}</tool_call>',
        "unknown_tool",
        "Did you mean 'medical_search'",
    ),
    (
        "xml-unknown-tool",
        "<function=pubmed>\n<parameter=q>\nx\n</parameter>\n</function>",
        "unknown_tool",
        "Available tools",
    ),
    (
        "query-int",
        '<tool_call>{"name": "medical_search", "arguments": {"query": 123}}</tool_call>',
        "bad_arguments",
        "'query' must be string",
    ),
    (
        "query-list",
        '{"name": "medical_search", "arguments": {"query": ["a", "b"]}}',
        "bad_arguments",
        "must be string",
    ),
    (
        "top-k-string",
        '{"name": "medical_search", "arguments": {"query": "a", "top_k": "five"}}',
        "bad_arguments",
        "top_k",
    ),
    (
        "top-k-bool",
        '{"name": "medical_search", "arguments": {"query": "a", "top_k": true}}',
        "bad_arguments",
        "top_k",
    ),
    (
        "top-k-out-of-range",
        '{"name": "medical_search", "arguments": {"query": "a", "top_k": 500}}',
        "bad_arguments",
        "between",
    ),
    (
        "xml-top-k-not-int",
        "<function=medical_search>\n<parameter=query>\na\n</parameter>\n<parameter=top_k>\nmany\n</parameter>\n</function>",
        "bad_arguments",
        "top_k",
    ),
    (
        "arguments-list",
        '{"name": "medical_search", "arguments": ["ataxia"]}',
        "bad_arguments",
        "JSON object",
    ),
    ("missing-required", '{"name": "browse", "arguments": {"goal": "x"}}', "bad_arguments", "url"),
    (
        "unknown-argument",
        '{"name": "medical_search", "arguments": {"q": "ataxia"}}',
        "bad_arguments",
        "query",
    ),
    (
        "empty-query",
        '{"name": "medical_search", "arguments": {"query": ""}}',
        "bad_arguments",
        "empty",
    ),
    ("empty-answer-tag", "<answer>  </answer>", "bad_arguments", "empty"),
    (
        "two-tool-calls",
        '<tool_call>{"name": "medical_search", "arguments": {"query": "a"}}</tool_call>\n'
        '<tool_call>{"name": "web_search", "arguments": {"query": "b"}}</tool_call>',
        "several_calls",
        "Found 2",
    ),
    (
        "call-and-answer",
        '<tool_call>{"name": "medical_search", "arguments": {"query": "a"}}</tool_call><answer>X</answer>',
        "several_calls",
        "exactly one",
    ),
    (
        "json-list-of-two",
        '[{"name": "medical_search", "arguments": {"query": "a"}}, {"name": "answer", "arguments": {"answer": "b"}}]',
        "several_calls",
        "Found 2",
    ),
    (
        "openai-two-tool-calls",
        {
            "tool_calls": [
                {"function": {"name": "medical_search", "arguments": {"query": "a"}}},
                {"function": {"name": "web_search", "arguments": {"query": "b"}}},
            ]
        },
        "several_calls",
        "Found 2",
    ),
    ("one-megabyte-prose", "lorem ipsum " * 90_000, "no_call", "No tool call"),
    ("one-megabyte-open-tags", "<tool_call>" * 95_000, "bad_json", "block is empty"),
]


@pytest.mark.parametrize("name,action,calls,think", VALID, ids=[v[0] for v in VALID])
def test_valid_outputs_parse_to_calls(name, action, calls, think):
    parsed = parse_action(action, schemas=SCHEMAS)
    assert parsed.error is None, parsed.error
    assert [(c.name, c.arguments) for c in parsed.calls] == calls
    assert parsed.think == think


@pytest.mark.parametrize("name,action,kind,words", INVALID, ids=[v[0] for v in INVALID])
def test_malformed_outputs_give_one_error_of_the_taxonomy(name, action, kind, words):
    parsed = parse_action(action, schemas=SCHEMAS)
    assert parsed.calls == ()
    assert parsed.error is not None and parsed.error.kind == kind, parsed.error
    assert parsed.error.kind in ERROR_KINDS
    suffix = error_suffix(parsed.family)
    assert parsed.error.message.endswith(suffix)  # the read format and its hint, every kind
    assert words in parsed.error.message.removesuffix(suffix)  # not in the hint
    assert len(parsed.error.message) < 600  # short enough for the model to read


def test_parallel_calls_allow_several():
    text = (
        '<tool_call>{"name": "medical_search", "arguments": {"query": "a"}}</tool_call>\n'
        '<tool_call>{"name": "web_search", "arguments": {"query": "b", "top_k": 2}}</tool_call>'
    )
    parsed = parse_action(text, parallel_calls=True, schemas=SCHEMAS)
    assert parsed.error is None
    assert parsed.calls == (
        ToolCall(MS, {"query": "a"}),
        ToolCall("web_search", {"query": "b", "top_k": 2}),
    )
    broken = text.replace('"top_k": 2', '"top_k": "x"')
    assert parse_action(broken, parallel_calls=True, schemas=SCHEMAS).error.kind == "bad_arguments"


def test_default_schemas_are_the_registry_and_a_subset_restricts_tools():
    call = '<tool_call>{"name": "web_search", "arguments": {"query": "a"}}</tool_call>'
    assert parse_action(call).error is None
    only = tool_schemas(["medical_search", "answer"])
    error = parse_action(call, schemas=only).error
    assert error.kind == "unknown_tool" and "web_search" in error.message


def test_a_valid_call_after_a_megabyte_of_text_is_found():
    text = (
        "x " * 500_000
        + '\n<tool_call>{"name": "medical_search", "arguments": {"query": "a"}}</tool_call>'
    )
    parsed = parse_action(text, schemas=SCHEMAS)
    assert parsed.calls == (ToolCall(MS, {"query": "a"}),)


def test_parser_version_and_round_trip_of_openai_arguments():
    assert PARSER_VERSION
    args = {"query": "Ménière disease", "top_k": 4}
    dict_action = {"function": {"name": MS, "arguments": json.dumps(args)}}
    assert parse_action(dict_action, schemas=SCHEMAS).calls[0].arguments == args

"""Tool-call parsing cost: 100 KB replies of several shapes, each parsed in ``auto`` mode
against the real tool schemas. Target: under 1 ms per 100 KB reply (the parser is linear).

Shapes: a long ``<think>`` then a Hermes call; prose then a call in each of the slower
families (Mistral, harmony, Qwen3-Coder XML, DeepSeek, DeepSeek DSML, MiniMax-M2, Olmo 3,
Gemma 4, and Seed-OSS after a long ``<seed:think>``); prose sprinkled with JSON data objects
(every one decoded, none a call); prose with no call at all; a 100 KB pythonic argument.
Reported: ``ms_per_100kb`` (mean time per parse).
"""

from __future__ import annotations

import pytest

from medenv.tools.parsing import parse_action
from medenv.tools.registry import tool_schemas

SIZE = 100_000
PROSE = "The patient presents with ataxia and myoclonus; FGFR2 is a candidate gene. "
CALLS = {
    "hermes_after_think": '<tool_call>{"name": "medical_search", "arguments": {"query": "a"}}</tool_call>',
    "mistral": '[TOOL_CALLS]medical_search[ARGS]{"query": "ataxia"}',
    "harmony": '<|start|>assistant<|channel|>commentary to=functions.medical_search <|constrain|>json<|message|>{"query": "a"}<|call|>',
    "qwen3_coder": "<tool_call>\n<function=medical_search>\n<parameter=query>\na\n</parameter>\n</function>\n</tool_call>",
    "deepseek_v3": '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>medical_search<｜tool▁sep｜>{"query": "a"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
    "deepseek_v32": '<｜DSML｜function_calls>\n<｜DSML｜invoke name="medical_search">\n<｜DSML｜parameter name="query" string="true">a</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>',
    "minimax_m2": '<minimax:tool_call>\n<invoke name="medical_search">\n<parameter name="query">a</parameter>\n</invoke>\n</minimax:tool_call>',
    "gemma4": '<|tool_call>call:medical_search{query:<|"|>a<|"|>,top_k:3}<tool_call|>',
    "olmo3": "<function_calls>\nmedical_search(query='a')\n</function_calls>",
    "seed_oss_after_think": "<seed:tool_call>\n<function=medical_search>\n<parameter=query>a</parameter>\n</function>\n</seed:tool_call>",
}  # fmt: skip


def _filler(unit: str) -> str:
    return (unit * (SIZE // len(unit) + 1))[:SIZE]


def _cases() -> dict[str, str]:
    cases = {}
    for family, call in CALLS.items():
        if family == "hermes_after_think":
            cases[family] = "<think>" + _filler(PROSE) + "</think>\n" + call
        elif family == "seed_oss_after_think":
            cases[family] = "<seed:think>" + _filler(PROSE) + "</seed:think>\n" + call
        elif family == "harmony":
            cases[family] = "<|channel|>analysis<|message|>" + _filler(PROSE) + "<|end|>" + call
        else:
            cases[family] = _filler(PROSE) + call
    cases["json_data_in_prose"] = _filler(PROSE + '{"name": "FGFR2", "type": "gene"} ')
    cases["no_call"] = _filler(PROSE)
    cases["pythonic_long_arg"] = '[medical_search(query="' + _filler("ataxia ") + '")]'
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_parse_100kb(benchmark, extra, case):
    text = CASES[case]
    schemas = tool_schemas()
    parsed = parse_action(text, schemas=schemas)
    assert parsed.error is None or case in ("json_data_in_prose", "no_call", "pythonic_long_arg")
    benchmark(parse_action, text, schemas=schemas)
    extra(benchmark, ms_per_100kb=benchmark.stats.stats.mean * 1000, chars=len(text))

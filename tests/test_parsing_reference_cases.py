"""The reference parsers' own test cases, read by medenv's parser (data:
`tests/parsing_reference_data.py`; licence and attribution there: vLLM and SGLang are
Apache-2.0, each case names its repository, commit, path and test).

Each case is one model output from a reference test suite (vLLM's tool and reasoning parser
tests, SGLang's function-call detector tests) with the calls the reference extracts. It is
read through `parse_action` exactly as the env reads an action (``check_arguments=False``,
calls in parallel allowed), once under the family's own ``tool_format`` and once under
``"auto"``. The reference tools (get_weather, ...) are not medenv's, so each case is read with
a schema for every tool name in the text: the declared parameter types where the reference
request declares them (the XML-like families type values by them), none otherwise. What is
compared is the layer before tool validation: the calls (name and typed arguments), the
reasoning, and that the content the reference returns is still in the text left over.

Where medenv reads a text otherwise on purpose, the case names the README line that says so
(`DIFFERENCES`) and asserts medenv's documented reading instead; the README must hold it.

Taken / skipped per family (non-streaming only; a case needs a model output and an
asserted result):

| family | taken | of which differ (documented) | skipped |
|---|---|---|---|
| hermes | 9 | 1 | streaming/stream-interval tests (tokenizer deltas) |
| qwen3_coder | 17 | 1 | streaming tests; `malformed_xml_no_gt` (asserts only no crash) |
| glm45 (GLM-4.5/4.6; GLM-4.7: 8 of them) | 27 | 2 | streaming tests; `malformed_xml` (asserts only no crash); SGLang's raw-string variant of the escaped-JSON array (backslash-escaped quotes: an SGLang-specific unescape); GLM-4.7's `test_empty_content_none` (the output of `test_zero_arg_inline` again) |
| mistral | 22 | 1 | streaming tests (Mistral tokenizer); pre-v11 two `[TOOL_CALLS]` (the reference raises); adjust_request/grammar tests |
| harmony | 5 | 1 | none: the reference feeds harmony token ids, so each case is the text rendering of its messages |
| deepseek_v3 | 13 | 0 | streaming tests (SGLang's DeepSeek tests are all streaming) |
| kimi_k2 | 14 | 3 | streaming tests; bare-counter inference with several tools (needs the request's tools) |
| pythonic (Llama 4; LFM2: 22 of them) | 41 | 11 | streaming tests; regex-timeout and logging tests (mocks); LFM2's `adjust_request` test |
| json | 23 | 1 | streaming separator tests; regex-timeout test (mock) |
| granite | 8 | 1 | streaming tests; malformed inputs (the reference asserts only no crash) |
| internlm | 6 | 0 | malformed inputs (the reference raises); unknown-name checks (tool validation, not parsing) |
| deepseek_v32 (V3.2 and V4 DSML) | 21 | 3 | streaming tests (but the non-streaming reading of `test_streaming_matches_non_streaming_conversion_fallbacks`, taken); V4's structural-tag and registry tests; SGLang's DSML tests (all streaming) |
| minimax_m2 | 15 | 0 | SGLang's streaming tests; vLLM's tests all stream: taken where the chunks join into a whole output and the test asserts the calls at the end (7), not the delta-shape, EOS and token-id tests |
| seed_oss | 4 | 0 | streaming tests; the content the reference asserts is the `<seed:think>` text (its tool parser runs without the reasoning parser): here it is the reasoning, asserted as such |
| gemma4 | 11 | 1 | streaming tests; the argument-reader unit tests (`_parse_gemma4_args`/`_array`: not model outputs; their inputs are read in `tests/test_parsing_invoke.py`) |
| olmo3 | 11 | 2 | streaming tests; regex-timeout and logging tests (mocks) |
| reasoning (Qwen3, DeepSeek-R1 `<think>`; Magistral `[THINK]`) | 34 | 5 | streaming and multi-token-delta tests; `is_reasoning_end`/`extract_content_ids` (token ids) |

281 cases; 248 read as the reference reads them, 33 differ on purpose.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from medenv.tools import formats
from medenv.tools.formats import RawCall
from medenv.tools.parsing import parse_action

sys.path.insert(0, str(Path(__file__).parent))
from parsing_reference_data import CASES, DIFFERENCES, SOURCES, Case  # noqa: E402

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
TAKEN = {
    "hermes": 9, "qwen3_coder": 17, "glm45": 27, "mistral": 22, "harmony": 5, "deepseek_v3": 13,
    "kimi_k2": 14, "pythonic": 41, "json": 23, "granite": 8, "internlm": 6, "reasoning": 34,
    "deepseek_v32": 21, "minimax_m2": 15, "seed_oss": 4, "olmo3": 11,
    "gemma4": 11,
}  # fmt: skip


def group(case: Case) -> str:
    return "reasoning" if case.source.endswith("-reasoning") else case.family


def schemas_for(case: Case, tool_format: str) -> list[dict]:
    """A schema for every tool the text names (declared types where the reference has them)."""
    names = set(case.tools)
    for attempt in formats.extract(case.text, tool_format)[2]:
        if isinstance(attempt, RawCall) and isinstance(attempt.name, str) and attempt.name.strip():
            names.add(attempt.name.strip())
    return [
        {"name": n, "parameters": {"type": "object", "properties": case.tools.get(n, {})}}
        for n in sorted(names)
    ]


def read(case: Case, tool_format: str):
    """``(calls [(name, arguments)], reasoning or "", text left)`` as the env reads it."""
    parsed = parse_action(
        case.text, parallel_calls=True, schemas=schemas_for(case, tool_format),
        tool_format=tool_format, check_arguments=False,
    )  # fmt: skip
    rest = formats.extract(case.text, tool_format)[3]
    return [(c.name, c.arguments) for c in parsed.calls], parsed.think or "", rest


def agrees(case: Case, tool_format: str, with_reference: bool = False) -> list[str]:
    """What differs from the expected reading (the reference's, or the documented one)."""
    calls, think, rest = read(case, tool_format)
    use_ours = case.differs is not None and not with_reference
    expected = case.ours if use_ours else case.calls
    problems = []
    if [n for n, _ in calls] != [n for n, _ in expected]:
        problems.append(f"calls {calls!r} != {expected!r}")
    else:
        for (name, args), (_, want) in zip(calls, expected, strict=True):
            if want is not None and args != want:
                problems.append(f"{name} arguments {args!r} != {want!r}")
    want_think = case.our_think if use_ours and case.our_think is not None else case.think
    if want_think is not None and think != want_think.strip():
        problems.append(f"reasoning {think!r} != {want_think.strip()!r}")
    if case.content and not use_ours and case.content.strip() not in rest:
        problems.append(f"content {case.content.strip()!r} not in {rest!r}")
    return problems


IDS = [case.id for case in CASES]


def test_case_ids_sources_and_counts_are_as_documented():
    assert len(set(IDS)) == len(IDS)
    assert all(case.source in SOURCES for case in CASES)
    assert all(case.family in formats.FAMILIES for case in CASES)
    assert Counter(group(case) for case in CASES) == TAKEN


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reference_case_under_its_family(case):
    assert agrees(case, case.family) == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reference_case_under_auto(case):
    assert agrees(case, "auto") == []


@pytest.mark.parametrize("key", sorted(DIFFERENCES))
def test_every_deliberate_difference_is_in_the_readme_and_used(key):
    assert DIFFERENCES[key] in README
    assert any(case.differs == key for case in CASES)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.differs], ids=[c.id for c in CASES if c.differs]
)
def test_a_documented_difference_really_differs_from_the_reference(case):
    assert agrees(case, case.family, with_reference=True) != []


def test_the_readme_and_this_docstring_state_the_real_counts():
    differ = sum(case.differs is not None for case in CASES)
    flat = " ".join(README.split())
    assert f"({len(CASES)} model outputs from" in flat
    assert f"read the same here ({len(CASES) - differ})," in flat
    assert f"more tolerant on purpose ({differ}):" in flat
    summary = f"{len(CASES)} cases; {len(CASES) - differ} read as the reference reads them, "
    assert summary + f"{differ} differ on purpose." in " ".join(__doc__.split())

"""Tool-call formats of the mainstream model families, and the dispatcher that picks one.

`extract(text, tool_format)` splits a model reply into reasoning, the family it recognised,
the call attempts and the text left over. With ``tool_format="auto"`` families are tried by
their distinctive markers, most specific first (harmony; then the family whose wrapper opens
first among DeepSeek, Kimi, InternLM, Granite, Mistral, DeepSeek DSML, MiniMax-M2, Seed-OSS,
Gemma 4, Olmo 3 and ``<tool_call>`` blocks; bare Qwen3-Coder XML, pythonic, Mistral's decoded form, JSON);
the first that finds a call wins. With one family named, only that family's rules apply, so
its quirks never misfire on another's text. ``<answer>X</answer>`` is read in every mode.
Cost is linear in the text length: every detector is a substring test.
"""

from __future__ import annotations

from medenv.tools.formats import (
    deepseek,
    gemma,
    granite,
    harmony,
    invoke,
    jsontext,
    kimi,
    mistral,
    pythonic,
)
from medenv.tools.formats.base import TOO_MANY, Attempt, Failure, RawCall
from medenv.tools.formats.marks import find_any, first_marks, suffix_marks
from medenv.tools.formats.reasoning import split_reasoning
from medenv.tools.formats.tagged import tool_call_attempts
from medenv.tools.formats.xml import SEED, qwen3_coder_attempts, seed_attempts

# family: (what it is, how the medical_search call looks in it)
FAMILIES: dict[str, tuple[str, str]] = {
    "hermes": ("Hermes/Qwen JSON", '<tool_call>{"name": "TOOL", "arguments": {...}}</tool_call>'),
    "qwen3_coder": (
        "Qwen3-Coder XML",
        "<tool_call><function=TOOL><parameter=ARG>VALUE</parameter></function></tool_call>",
    ),
    "glm45": (
        "GLM-4.5",
        "<tool_call>TOOL<arg_key>ARG</arg_key><arg_value>VALUE</arg_value></tool_call>",
    ),
    "mistral": ("Mistral", "[TOOL_CALLS]TOOL[ARGS]{...}"),
    "harmony": (
        "gpt-oss harmony",
        "<|channel|>commentary to=functions.TOOL <|constrain|>json<|message|>{...}<|call|>",
    ),
    "deepseek_v3": (
        "DeepSeek-V3",
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>TOOL<｜tool▁sep｜>{...}<｜tool▁call▁end｜>"
        "<｜tool▁calls▁end｜>",
    ),
    "kimi_k2": (
        "Kimi-K2",
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.TOOL:0"
        "<|tool_call_argument_begin|>{...}<|tool_call_end|><|tool_calls_section_end|>",
    ),
    "pythonic": ("pythonic (Llama 4)", '[TOOL(ARG="VALUE")]'),
    "json": ("Llama 3 JSON", '{"name": "TOOL", "parameters": {...}}'),
    "granite": ("Granite", '<|tool_call|>[{"name": "TOOL", "arguments": {...}}]'),
    "internlm": (
        "InternLM",
        '<|action_start|><|plugin|>{"name": "TOOL", "parameters": {...}}<|action_end|>',
    ),
    "deepseek_v32": (
        "DeepSeek-V3.2/V4 DSML",
        '<｜DSML｜function_calls><｜DSML｜invoke name="TOOL"><｜DSML｜parameter name="ARG" '
        'string="true">VALUE</｜DSML｜parameter></｜DSML｜invoke></｜DSML｜function_calls>',
    ),
    "minimax_m2": (
        "MiniMax-M2",
        '<minimax:tool_call><invoke name="TOOL"><parameter name="ARG">VALUE</parameter>'
        "</invoke></minimax:tool_call>",
    ),
    "gemma4": ("Gemma 4", '<|tool_call>call:TOOL{ARG:<|"|>VALUE<|"|>}<tool_call|>'),
    "olmo3": ("Olmo 3", '<function_calls>TOOL(ARG="VALUE")</function_calls>'),
    "seed_oss": (
        "Seed-OSS",
        "<seed:tool_call><function=TOOL><parameter=ARG>VALUE</parameter></function>"
        "</seed:tool_call>",
    ),
}
TOOL_FORMATS = ("auto", *FAMILIES)
_TAGGED = ("hermes", "qwen3_coder", "glm45")

__all__ = ["FAMILIES", "TOOL_FORMATS", "Attempt", "Failure", "RawCall", "extract", "hint"]


def hint(family: str | None) -> str:
    """How to call a tool in ``family`` (Hermes/Qwen for ``None``/``auto``/answers)."""
    example = FAMILIES.get(family or "hermes", FAMILIES["hermes"])[1]
    return (
        f"Call exactly one tool as {example}, or give the final answer as <answer>ANSWER</answer>."
    )


def label(family: str | None) -> str:
    if family == "answer":
        return "an <answer> tag"
    if family == "openai":
        return "an OpenAI tool-call dict"
    return f"the {FAMILIES[family][0]} format" if family in FAMILIES else "no known format"


def extract(text: str, tool_format: str = "auto") -> tuple[str | None, str | None, list, str]:
    """``(reasoning, family or None, attempts, text left)`` of a model reply."""
    marks = first_marks(text)
    if tool_format in ("auto", "harmony") and harmony.detect(text, marks):
        think, found, rest = harmony.attempts(text)
        family: str | None = "harmony"
    else:
        think, content = split_reasoning(text, marks)
        if content is not text:  # the reply after its reasoning: reuse the scan of it
            cut = len(text) - len(content)
            suffix = text.endswith(content)  # cut 0: content == text, suffix_marks gives marks
            marks = suffix_marks(text, marks, cut) if suffix else first_marks(content)
        family, found, rest = _calls(content, tool_format, marks)
        if rest is content:
            text = rest  # marks still describe it
    # without an <answer> there is no answer (a lone </answer> closes nothing); the text left
    # is searched by one memchr walk over its "<"s (a str search costs ~60 us per 100 KB)
    if rest is text:
        tagged = "<answer>" in marks
    else:
        tagged = find_any(rest, ("<answer>",))[0] != -1
    answers = _answers(rest, closed_only=bool(found)) if tagged else []
    if answers and not found:
        family = "answer"
    return think, family, found + answers, rest


def _opens_first(marks: dict[str, int], keys: tuple[str, ...], first: int) -> bool:
    """Auto mode: a family's call markers are present and none opens later than ``first``,
    the earliest call marker of any family (a marker inside another family's arguments, as
    ``[TOOL_CALLS]`` in a GLM ``<arg_value>``, is text, not a call)."""
    return min((marks[k] for k in keys if k in marks), default=-1) == first


def _calls(text: str, fmt: str, marks: dict[str, int]) -> tuple[str | None, list[Attempt], str]:
    auto = fmt == "auto"
    first = min((i for k, i in marks.items() if k in _OPENER_SET), default=-2)  # few marks

    def opens(family: str, keys: tuple[str, ...]) -> bool:
        if auto:
            return _opens_first(marks, keys, first)
        return fmt == family and any(k in marks for k in keys)

    if not auto or not _FAMILY_OPENER_SET.isdisjoint(marks):  # else none of these opens
        if opens("deepseek_v3", (deepseek.BEGIN, deepseek.CALL)):
            return "deepseek_v3", *deepseek.attempts(text)
        if opens("kimi_k2", (kimi.BEGIN, kimi.CALL)):
            return "kimi_k2", *kimi.attempts(text)
        if opens("internlm", (granite.ACTION_START,)):
            return "internlm", *granite.internlm_attempts(text)
        if opens("granite", (granite.GRANITE,)):
            return "granite", *granite.granite_attempts(text)
        if opens("mistral", (mistral.BOT,)):
            return "mistral", *mistral.attempts(text)
        if opens("deepseek_v32", (invoke.DSML_FUNCTION_CALLS, invoke.DSML_TOOL_CALLS)):
            return "deepseek_v32", *invoke.dsml_attempts(text, marks)
        if opens("minimax_m2", (invoke.MINIMAX,)):
            return "minimax_m2", *invoke.minimax_attempts(text, marks)
        if opens("seed_oss", (SEED,)):
            return "seed_oss", *seed_attempts(text, marks[SEED])
        if opens("gemma4", (gemma.START,)):
            return "gemma4", *gemma.attempts(text, marks)
        if opens("olmo3", (pythonic.OLMO,)):
            return "olmo3", *pythonic.olmo3_attempts(text, marks)
    if fmt == "olmo3":  # no <function_calls>: vLLM reads the whole reply as the calls
        found, rest = pythonic.olmo3_attempts(text, marks)
        return ("olmo3" if found else None), found, rest
    if fmt == "granite" and "<tool_call>" in marks:  # Granite 3.1 writes <tool_call>[...]
        return "granite", *granite.granite_attempts(text, "<tool_call>")
    if (auto or fmt in _TAGGED) and "<tool_call>" in marks:
        tagged, rest = tool_call_attempts(text)
        if tagged:
            family = tagged[0][0] if auto else fmt
            return family, [_expect(f, a, fmt) for f, a in tagged], rest
    if (auto or fmt == "qwen3_coder") and "<function=" in marks:
        found, rest = qwen3_coder_attempts(text)
        return "qwen3_coder", found, rest
    if (auto or fmt == "pythonic") and pythonic.detect(text, marks):
        return "pythonic", *pythonic.attempts(text, marks)
    if auto or fmt == "mistral":
        found = mistral.decoded_attempts(text)
        if found:
            return "mistral", found, ""
    if auto or fmt == "json":
        found, rest = jsontext.attempts(text, marks.get(jsontext.PYTHON_TAG, -1))
        if found:
            return "json", found, rest
        return None, [], rest
    return None, [], text


# the markers of the families tried before <tool_call> (each opens only where its marker is
# the first call marker of the text, in auto mode)
_FAMILY_OPENERS = (
    deepseek.BEGIN, deepseek.CALL, kimi.BEGIN, kimi.CALL, granite.ACTION_START, granite.GRANITE,
    mistral.BOT, *invoke.OPENERS, SEED, pythonic.OLMO, gemma.START,
)  # fmt: skip
_OPENERS = (*_FAMILY_OPENERS, "<tool_call>", "<function=")
_FAMILY_OPENER_SET, _OPENER_SET = frozenset(_FAMILY_OPENERS), frozenset(_OPENERS)


def _expect(found: str, attempt: Attempt, fmt: str) -> Attempt:
    """Under an explicit ``<tool_call>`` family, a block of another family is an error
    (past `MAX_CALLS` blocks, the too-many error stands, whatever the blocks were)."""
    if fmt in ("auto", found) or attempt is TOO_MANY:
        return attempt
    return Failure(
        "bad_json",
        f"Expected a {FAMILIES[fmt][0]} call inside <tool_call>, found {FAMILIES[found][0]}.",
    )


def _answers(text: str, closed_only: bool) -> list[Attempt]:
    """``<answer>X</answer>`` blocks (an answer tag quoted in prose before one is ignored);
    an unclosed last ``<answer>`` (generation stopped) counts only when nothing else does."""
    found: list[Attempt] = []
    pos = 0
    while True:
        close = text.find("</answer>", pos)
        if close == -1:
            break
        start = text.rfind("<answer>", pos, close)
        if start != -1:
            found.append(_answer(text[start + len("<answer>") : close]))
        pos = close + len("</answer>")
    start = text.rfind("<answer>", pos)
    if start != -1 and not found and not closed_only:
        found.append(_answer(text[start + len("<answer>") :]))
    return found


def _answer(body: str) -> Attempt:
    answer = body.strip()
    if not answer:
        return Failure("bad_arguments", "The <answer></answer> is empty; put the answer inside.")
    return RawCall("answer", {"answer": answer})

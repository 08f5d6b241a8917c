"""Turn a model's raw output (or a tool-call dict) into tool calls, or one precise error.

Text is read in the tool-call format of any mainstream model family (`medenv.tools.formats`:
Hermes/Qwen, Qwen3-Coder XML, GLM-4.5/4.7, Mistral, gpt-oss harmony, DeepSeek-V3/V3.1, Kimi-K2,
pythonic/Llama 4, Llama 3 JSON, Granite, InternLM, DeepSeek-V3.2/V4 DSML, MiniMax-M2,
Seed-OSS, Olmo 3, Gemma 4), each by its reference parser's rules;
``tool_format`` names one family to read only that one (``"auto"``: any).
``<answer>X</answer>`` is the final answer, parsed as ``ToolCall("answer", {"answer": X})``.
Reasoning (``<think>``, ``<seed:think>``, Gemma 4's ``<|channel>``, ``[THINK]``, the harmony
analysis channel, a dict's ``reasoning_content``) is kept in ``think`` and never searched for calls.

Dicts: ``{"name", "arguments"}``, ``{"type": "function", "function": {...}}``, an assistant
message ``{"content", "tool_calls": [...]}`` (family ``"openai"``) or a list of calls.

Errors come as a `ParseError` whose ``kind`` is one of `ERROR_KINDS` and whose message says
what was wrong, which format the text was read as, and how to call a tool (`format_hint`).
`parse_action` never raises for any ``str``, ``dict`` or ``list`` (an integer of more than
4,300 digits or 100,000 nested brackets is a ``bad_json`` error) and is linear in the length.
More than `MAX_CALLS` (64) calls in one action is a ``several_calls`` error in every form
(text blocks, a JSON array, a pythonic list, a list of dicts), also with ``parallel_calls``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from medenv.errors import MedenvError
from medenv.tools import formats
from medenv.tools.formats import FAMILIES, TOOL_FORMATS, Failure, RawCall
from medenv.tools.formats.base import MAX_CALLS, TOO_MANY, attempts_from_json
from medenv.tools.formats.jsontext import unfence
from medenv.tools.formats.reasoning import split_reasoning
from medenv.tools.formats.validate import check, index_schemas
from medenv.tools.registry import tool_schemas

# 2.1: DSML, MiniMax-M2, Seed-OSS, Olmo 3, Gemma 4; null of a nullable XML value is None
PARSER_VERSION = "2.1"
ERROR_KINDS = ("no_call", "bad_json", "unknown_tool", "bad_arguments", "several_calls")
FORMAT_HINT = formats.hint("hermes")

__all__ = [
    "ERROR_KINDS", "FAMILIES", "FORMAT_HINT", "PARSER_VERSION", "TOOL_FORMATS",
    "ParseError", "ParsedAction", "RawCall", "ToolCall", "check_tool_format", "error_suffix",
    "format_hint",
    "parse_action",
]  # fmt: skip


class ToolCall(msgspec.Struct, frozen=True):
    name: str
    arguments: dict[str, Any]


class ParseError(msgspec.Struct, frozen=True):
    kind: str  # one of ERROR_KINDS
    message: str


class ParsedAction(msgspec.Struct, frozen=True):
    calls: tuple[ToolCall, ...] = ()
    think: str | None = None
    error: ParseError | None = None
    family: str | None = None  # a FAMILIES key, "openai", "answer", or None (nothing read)


def format_hint(family: str | None) -> str:
    """How to call a tool in ``family``'s format (the Hermes/Qwen one for ``None``/``auto``)."""
    return formats.hint(family)


_DEFAULT_SCHEMAS = tool_schemas()  # every tool of the registry (a fixed set; ~4 ms)


def check_tool_format(tool_format: str) -> str:
    """``tool_format`` if it is ``"auto"`` or a family name; else a `MedenvError`."""
    if tool_format not in TOOL_FORMATS:
        raise MedenvError(
            f"unknown tool_format {tool_format!r}; use one of: {', '.join(TOOL_FORMATS)}"
        )
    return tool_format


def parse_action(
    action: str | dict | list,
    parallel_calls: bool = False,
    schemas: list[dict] | None = None,
    tool_format: str = "auto",
    check_arguments: bool = True,
) -> ParsedAction:
    """Parse one model action. ``schemas`` (OpenAI function format) default to all tools.
    ``check_arguments=False`` leaves the argument checks (names, types, bounds, required)
    to the caller (the env checks them once, with the tool's msgspec ``Args``).

    Returns calls (one, or several when ``parallel_calls``) or an ``error``, with the family
    recognised; never raises for an action (an unknown ``tool_format`` is a `MedenvError`).
    """
    check_tool_format(tool_format)
    spec = index_schemas(_DEFAULT_SCHEMAS if schemas is None else schemas)
    think, family = None, None
    try:
        think, family, attempts, rest = _read(action, tool_format)
        if not attempts:
            return _error(think, family, tool_format, "no_call", _no_call_message(action, rest))
        if len(attempts) > 1 and not parallel_calls:
            problem = f"Found {len(attempts)} tool calls; make exactly one call per step."
            return _error(think, family, tool_format, "several_calls", problem)
        if len(attempts) > MAX_CALLS and attempts[-1] is not TOO_MANY:
            # a call list (dict, JSON array, pythonic) had no cap: 2,000 searches in a step
            return _error(think, family, tool_format, TOO_MANY.kind, TOO_MANY.message)
        calls = []
        for attempt in attempts:
            result = (
                attempt if isinstance(attempt, Failure) else check(attempt, spec, check_arguments)
            )
            if isinstance(result, Failure):
                return _error(think, family, tool_format, result.kind, result.message)
            calls.append(ToolCall(*result))
    except RecursionError:
        return _error(think, family, tool_format, "bad_json", "The JSON is nested too deeply.")
    except (ValueError, MemoryError) as exc:  # e.g. an integer of more than 4,300 digits
        problem = f"The call could not be read ({type(exc).__name__}: {str(exc)[:80]})."
        return _error(think, family, tool_format, "bad_json", problem)
    return ParsedAction(calls=tuple(calls), think=think, error=None, family=family)


def error_suffix(family: str | None, tool_format: str = "auto") -> str:
    """What every error message ends with: the format the text was read as (when one was)
    and how to call a tool in it."""
    read_as = f"(Read as {formats.label(family)}.) " if family else ""
    return read_as + format_hint(family if family in FAMILIES else tool_format)


def _error(think, family, tool_format: str, kind: str, problem: str) -> ParsedAction:
    error = ParseError(kind, f"{problem} {error_suffix(family, tool_format)}")
    return ParsedAction(calls=(), think=think, error=error, family=family)


def _no_call_message(action: Any, rest: str) -> str:
    if not isinstance(action, str | dict | list):
        return f"The action must be text or a tool-call dict, not {type(action).__name__}."
    if isinstance(action, dict) and rest is None:
        return "The dict has no tool call or content."
    text = action.get("content") if isinstance(action, dict) else action
    if isinstance(text, str) and unfence(split_reasoning(text)[1].strip())[:1] in ("{", "["):
        return (
            "No tool call found: the JSON in the reply is data, not a call "
            '(a call is an object with "name" and "arguments").'
        )
    return "No tool call or answer found."


def _read(action: Any, tool_format: str) -> tuple[str | None, str | None, list, Any]:
    """``(think, family, attempts, text left)`` of any action."""
    if isinstance(action, str):
        return formats.extract(action, tool_format)
    if isinstance(action, list):
        return None, "openai", attempts_from_json(action), ""
    if not isinstance(action, dict):
        return None, None, [], ""
    think = action.get("reasoning_content") or action.get("reasoning") or None
    think = think if isinstance(think, str) else None
    content = action.get("content")
    if "name" in action or "function" in action:
        return think, "openai", attempts_from_json(action), ""
    if action.get("tool_calls"):
        if isinstance(content, str) and think is None:
            think = split_reasoning(content)[0]
        return think, "openai", attempts_from_json(action["tool_calls"]), ""
    if isinstance(content, str):
        text_think, family, attempts, rest = formats.extract(content, tool_format)
        return think or text_think, family, attempts, rest
    return think, None, [], None

"""Mistral calls, as vLLM's ``mistral`` parser and mistral-common read them.

- tokenizer < v11: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]`` (one JSON list);
- v11+: ``[TOOL_CALLS]NAME[ARGS]{...}``, one ``[TOOL_CALLS]`` per call;
- v13+: ``[TOOL_CALLS]NAME[CALL_ID]ID[ARGS]{...}`` (the id is dropped);
- decoded with special tokens skipped (vLLM's default), the whole reply is ``NAME{...}`` (one
  or more, back to back).

The text before the first ``[TOOL_CALLS]`` is content. Magistral's ``[THINK]...[/THINK]``
reasoning is split off before (see `reasoning`).
"""

from __future__ import annotations

import re

from medenv.tools.formats.base import (
    MAX_CALLS,
    TOO_MANY,
    Attempt,
    Failure,
    RawCall,
    attempts_from_json,
    decode_at,
    json_message,
)

BOT = "[TOOL_CALLS]"
_NAME = re.compile(r"\s*([A-Za-z_](?:[\w.\-]*\w)?)(?=\{)")  # decoded: NAME{ with no gap
_IDENT = re.compile(r"[A-Za-z_][\w.\-]*")


def attempts(text: str) -> tuple[list[Attempt], str]:
    """Calls after each ``[TOOL_CALLS]`` in ``text``, and the content before the first."""
    parts = text.split(BOT, MAX_CALLS + 1)
    found: list[Attempt] = []
    for raw in parts[1 : MAX_CALLS + 1]:
        found.extend(_raw_attempts(raw))
    if len(parts) > MAX_CALLS + 1:
        found.append(TOO_MANY)
    return found, parts[0]


def _raw_attempts(raw: str) -> list[Attempt]:
    body = raw.strip()
    if body[:1] in ("[", "{"):  # pre-v11: one JSON list (or object) of calls
        try:
            value, _ = decode_at(body, 0)
        except (ValueError, RecursionError) as exc:
            return [Failure("bad_json", json_message(exc, "after [TOOL_CALLS]"))]
        return attempts_from_json(value)
    cut = min(
        (i for i in (body.find("[ARGS]"), body.find("[CALL_ID]"), body.find("{")) if i != -1),
        default=-1,
    )
    if cut == -1:
        return [Failure("bad_json", "After [TOOL_CALLS]NAME put [ARGS] and a JSON object.")]
    name = body[:cut].strip()
    if not _IDENT.fullmatch(name) and body.find("[{") != -1:  # junk, then a pre-v11 list
        return _raw_attempts(body[body.find("[{") :])
    args_at = body.find("[ARGS]", cut)
    start = args_at + len("[ARGS]") if args_at != -1 else body.find("{", cut)
    if start < 0 or not name:
        return [
            Failure("bad_json", "After [TOOL_CALLS] put the tool name, [ARGS] and a JSON object.")
        ]
    try:
        value, _ = decode_at(body, start)
    except (ValueError, RecursionError) as exc:
        return [Failure("bad_json", json_message(exc, f"in the [ARGS] of {name[:80]}"))]
    return [RawCall(name, value)]


def decoded_attempts(text: str) -> list[Attempt]:
    """The whole reply as ``NAME{...}`` calls back to back, or ``[]`` if it is not that."""
    found: list[Attempt] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _NAME.match(text, pos)
        if match is None:
            return []
        try:
            value, pos = decode_at(text, match.end())
        except (ValueError, RecursionError):
            return []
        if not isinstance(value, dict):
            return []
        found.append(RawCall(match.group(1), value))
    return found

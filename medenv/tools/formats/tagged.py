"""``<tool_call>...</tool_call>`` blocks: Hermes/Qwen JSON, Qwen3-Coder XML or GLM-4.5 bodies.

A block whose body starts with ``{`` or ``[`` is read as JSON first, and the block ends at the
first ``</tool_call>`` *after* that JSON value, so a literal ``</tool_call>`` inside an
argument string stays in the argument (vLLM's hermes parser regex would cut it). A missing
closing tag is tolerated (generation often stops on it). Several blocks are several calls.
"""

from __future__ import annotations

from medenv.tools.formats.base import (
    Attempt,
    Failure,
    attempts_from_json,
    decode_at,
    json_message,
    loads,
)
from medenv.tools.formats.xml import function_attempt, glm_attempt, is_glm_body

OPEN, CLOSE = "<tool_call>", "</tool_call>"
WHERE = "inside <tool_call>"


def tool_call_attempts(text: str) -> tuple[list[tuple[str, Attempt]], str]:
    """``[(family, attempt)]`` for every block (family ``hermes``, ``qwen3_coder`` or
    ``glm45``) and the text outside the blocks."""
    found: list[tuple[str, Attempt]] = []
    rest: list[str] = []
    pos = 0
    while True:
        start = text.find(OPEN, pos)
        if start == -1:
            rest.append(text[pos:])
            break
        rest.append(text[pos:start])
        body_start = start + len(OPEN)
        value, json_end, error = _json_at(text, body_start)
        if value is not None or error is not None:
            close = text.find(CLOSE, json_end)
            if value is not None:
                found.extend(("hermes", a) for a in attempts_from_json(value))
            else:
                found.append(("hermes", Failure("bad_json", error)))
        else:
            close = text.find(CLOSE, body_start)
            body = text[body_start : len(text) if close == -1 else close]
            found.extend(_body_attempts(body))
        if close == -1:
            break
        pos = close + len(CLOSE)
    return found, "".join(rest)


def _json_at(text: str, pos: int) -> tuple[object, int, str | None]:
    """(value, end, None) for JSON at ``pos`` (a ```json fence allowed), (None, pos, message)
    for broken JSON there, (None, pos, None) when no JSON starts there."""
    i = pos
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    if text.startswith("```", i):
        nl = text.find("\n", i)
        i = nl + 1 if nl != -1 else i
    if text[i : i + 1] not in ("{", "["):
        return None, pos, None
    try:
        value, end = decode_at(text, i)
    except (ValueError, RecursionError) as exc:  # explain it on the block's own text
        close = text.find(CLOSE, i)
        body = text[i : len(text) if close == -1 else close].strip().removesuffix("```")
        result = loads(body, WHERE)
        return (
            None,
            pos,
            result.message if isinstance(result, Failure) else json_message(exc, WHERE),
        )
    return value, end, None


def _body_attempts(body: str) -> list[tuple[str, Attempt]]:
    stripped = body.strip()
    if stripped.startswith("<function="):
        inner = stripped.split("<function=")[1:]
        return [("qwen3_coder", function_attempt(b.split("</function>")[0])) for b in inner]
    if not stripped:
        return [("hermes", Failure("bad_json", "The <tool_call> block is empty."))]
    if is_glm_body(stripped):
        return [("glm45", glm_attempt(body))]
    return [("hermes", _invalid(stripped))]


def _invalid(body: str) -> Failure:
    result = loads(body, WHERE)
    if isinstance(result, Failure):
        return result
    return Failure("bad_json", f"The text {WHERE} is not a JSON object.")

"""``<tool_call>...</tool_call>`` blocks: Hermes/Qwen JSON, Qwen3-Coder XML or GLM-4.5 bodies.

A block whose body starts with ``{`` or ``[`` is read as JSON first, and the block ends at the
first ``</tool_call>`` *after* that JSON value, so a literal ``</tool_call>`` inside an
argument string stays in the argument (vLLM's hermes parser regex would cut it). A missing
closing tag is tolerated (generation often stops on it): the block then ends where the next
``<tool_call>`` opens, or at the end. Several blocks are several calls; reading stops after
`MAX_CALLS` of them.
"""

from __future__ import annotations

from medenv.tools.formats.base import (
    MAX_CALLS,
    TOO_MANY,
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
    ``glm45``) and the text outside the blocks. Linear: the next closing tag is searched
    again only once the scan has passed it."""
    found: list[tuple[str, Attempt]] = []
    rest: list[str] = []
    pos, next_close = 0, None
    while True:
        start = text.find(OPEN, pos)
        if start == -1:
            rest.append(text[pos:])
            break
        rest.append(text[pos:start])
        if len(found) >= MAX_CALLS:
            found.append(("hermes", TOO_MANY))
            break
        body_start = start + len(OPEN)
        value, json_end, exc = _json_at(text, body_start)
        if next_close is None or -1 < next_close < json_end:
            next_close = text.find(CLOSE, json_end)
        following = text.find(OPEN, json_end)
        unclosed = following != -1 and (next_close == -1 or following < next_close)
        end = following if unclosed else (len(text) if next_close == -1 else next_close)
        if value is not None:
            found.extend(("hermes", a) for a in attempts_from_json(value))
        elif exc is not None:  # explain it on the block's own text
            body = text[body_start:end].strip().removesuffix("```")
            result = loads(body[body.find("{") if body[:1] == "`" else 0 :], WHERE)
            message = result.message if isinstance(result, Failure) else json_message(exc, WHERE)
            found.append(("hermes", Failure("bad_json", message)))
        elif not unclosed or text[body_start:end].strip():  # skip a doubled opening tag
            found.extend(_body_attempts(text[body_start:end]))
        if end == len(text):
            break
        pos = following if unclosed else next_close + len(CLOSE)
    return found, "".join(rest)


def _json_at(text: str, pos: int) -> tuple[object, int, Exception | None]:
    """(value, end, None) for JSON at ``pos`` (a ```json fence allowed), (None, pos, error)
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
    except (ValueError, RecursionError) as exc:
        return None, pos, exc
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

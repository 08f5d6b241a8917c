"""What every family parser returns, and the JSON helpers they share.

A family's ``extract(text)`` returns ``(attempts, rest)``: one `RawCall` or `Failure` per call
it found (in order) and the text left outside its calls (searched for ``<answer>`` by the
dispatcher). An empty ``attempts`` means the family did not recognise a call. Extractors never
raise for any text and are linear in its length; schema checks come later (`validate`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple


class RawCall(NamedTuple):
    """A call as written. ``text_args``: the values are raw text (XML-like families), converted
    by the schema's declared type during validation."""

    name: Any
    arguments: Any
    text_args: bool = False


class Failure(NamedTuple):
    kind: str  # one of ERROR_KINDS
    message: str


Attempt = RawCall | Failure
MAX_CALLS = 64  # calls read from one reply; more is an error anyway, and bounds the work
TOO_MANY = Failure("several_calls", f"More than {MAX_CALLS} calls.")

_DECODER = json.JSONDecoder()


def json_message(exc: Exception, where: str) -> str:
    """One line on why the JSON ``where`` failed: truncated, invalid, too deep or too big."""
    if isinstance(exc, RecursionError):
        return f"The JSON {where} is nested too deeply."
    if not isinstance(exc, json.JSONDecodeError):  # ValueError: an integer of > 4,300 digits
        return f"The JSON {where} holds a number too long to read ({str(exc)[:80]})."
    if exc.pos >= len(exc.doc.rstrip()) - 1 or "Unterminated" in exc.msg:
        return (
            f"The JSON {where} is truncated ({exc.msg} at char {exc.pos}); "
            "close every brace and quote."
        )
    return f"The JSON {where} is invalid: {exc.msg} at line {exc.lineno} column {exc.colno}."


def decode_at(text: str, pos: int) -> tuple[Any, int]:
    """``raw_decode`` of the JSON value at ``pos`` (leading whitespace skipped): (value, end).
    Raises ``ValueError`` (incl. ``JSONDecodeError``) or ``RecursionError``."""
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return _DECODER.raw_decode(text, pos)


def loads(text: str, where: str) -> Any | Failure:
    """The JSON value of ``text`` (trailing prose after a complete value is ignored), or a
    ``bad_json`` `Failure`."""
    try:
        value, end = decode_at(text, 0)
    except (ValueError, RecursionError) as exc:
        return Failure("bad_json", json_message(exc, where))
    return value


def is_call_object(value: Any) -> bool:
    """A JSON object shaped like a call (not data that happens to have a "name")."""
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("function"), dict) or isinstance(value.get("tool_calls"), list):
        return True
    return "name" in value and any(k in value for k in ("arguments", "parameters", "args"))


def holds_call(value: Any) -> bool:
    """``value`` is a call object, or a list holding at least one."""
    if isinstance(value, list):
        return any(is_call_object(v) for v in value)
    return is_call_object(value)


def attempts_from_json(value: Any) -> list[Attempt]:
    """Calls from a decoded JSON value: an object, ``{"tool_calls": [...]}`` or a list."""
    if isinstance(value, list):
        if not value:
            return [Failure("no_call", "The list of tool calls is empty.")]
        return [object_attempt(item) for item in value]
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        return attempts_from_json(value["tool_calls"])
    return [object_attempt(value)]


def object_attempt(obj: Any) -> Attempt:
    """``{"name", "arguments" | "parameters" | "args"}`` or ``{"function": {...}}``."""
    if not isinstance(obj, dict):
        return Failure("bad_json", f"A tool call must be a JSON object, got {json_type(obj)}.")
    inner = obj.get("function")
    if isinstance(inner, dict):
        return RawCall(inner.get("name"), pick_arguments(inner))
    return RawCall(obj.get("name", inner), pick_arguments(obj))


def pick_arguments(obj: dict) -> Any:
    for key in ("arguments", "parameters", "args"):
        if key in obj:
            return obj[key]
    return {}


def blocks(
    text: str, open_tag: str, close_tag: str, first: int | None = None
) -> tuple[list[str], str]:
    """Bodies of ``open..close`` blocks (an unclosed last block runs to the end) and the rest.
    ``first``: where the first ``open_tag`` is, when the caller knows (no search for it)."""
    bodies: list[str] = []
    rest: list[str] = []
    pos = 0
    while True:
        start = text.find(open_tag, pos) if first is None else first
        first = None
        if start == -1:
            rest.append(text[pos:])
            break
        rest.append(text[pos:start])
        end = text.find(close_tag, start + len(open_tag))
        if end == -1:
            bodies.append(text[start + len(open_tag) :])
            break
        bodies.append(text[start + len(open_tag) : end])
        pos = end + len(close_tag)
    return bodies, "".join(rest)


def token_section_attempts(
    text: str, begin: str, end: str, call: str, call_end: str, parse: Callable[[str], Attempt]
) -> tuple[list[Attempt], str]:
    """Calls written between special tokens (DeepSeek, Kimi): the section runs from ``begin``
    (or, without it, the first ``call``) to ``end``; each ``call`` ... ``call_end`` body is
    given to ``parse``. Returns ``(attempts, the text outside the section)``."""
    start = text.find(begin)
    if start == -1:
        start = text.find(call)
    section, _, after = text[start:].partition(end)
    chunks = section.split(call, MAX_CALLS + 1)
    found = [parse(chunk.partition(call_end)[0]) for chunk in chunks[1 : MAX_CALLS + 1]]
    return found + [TOO_MANY] * (len(chunks) > MAX_CALLS + 1), text[:start] + after


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def shown(value: Any, limit: int = 60) -> str:
    """A short, safe rendering of ``value`` for a message (never raises)."""
    if isinstance(value, str):
        return repr(value[:limit])
    try:
        return json.dumps(value, ensure_ascii=False)[:limit]
    except (ValueError, TypeError, RecursionError):
        return f"<{json_type(value)}>"

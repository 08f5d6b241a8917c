"""JSON calls in plain text: Llama 3.x (vLLM's ``llama3_json``), bare or fenced JSON, prose.

- The reply (after an optional ``<|python_tag|>`` and a ```json fence) is JSON: one call
  object, a list of them, ``{"tool_calls": [...]}``, or several objects separated by ``;``
  or by another ``<|python_tag|>`` (Llama 3.2, as SGLang reads it) — each one a call; the
  text before the first ``<|python_tag|>`` is content;
- otherwise call objects embedded in prose are calls.

Only objects shaped like calls count (``"name"`` with ``"arguments"``/``"parameters"``, or a
``"function"`` object, or ``"tool_calls"``): JSON data such as ``[{"name": "FGFR2", "type":
"gene"}]`` is text, as in vLLM, where such objects are not calls. In prose, an object is tried
only when a call key comes before any nested object (``{"name": ..., "arguments": ...}``), so
data objects cost one regex match each.
"""

from __future__ import annotations

import re

from medenv.tools.formats.base import (
    Attempt,
    Failure,
    attempts_from_json,
    decode_at,
    holds_call,
    json_message,
)

PYTHON_TAG = "<|python_tag|>"
_FENCE = re.compile(r"^```[a-zA-Z]*[ \t]*\n?(.*?)\n?```$", re.DOTALL)
# an object whose own keys (before any nested object) include a call key; tried at each "{"
_EMBEDDED = re.compile(r'\{[^{}]*?"(?:arguments|parameters|args|function|tool_calls)"\s*:')
_MAX_BROKEN = 16  # broken fragments in prose tried before giving up (keeps the scan linear)


def unfence(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def attempts(text: str, tag: int) -> tuple[list[Attempt], str]:
    """Calls written as JSON in ``text``, and the text left (for ``<answer>``). ``tag``: the
    index of ``<|python_tag|>`` in ``text`` (-1: none), known from the dispatcher's scan."""
    body = unfence((text[tag + len(PYTHON_TAG) :] if tag != -1 else text).strip())
    if body[:1] in ("{", "["):
        return _sequence(body), text[:tag] if tag != -1 else ""
    return _embedded(text), text


def _sequence(body: str) -> list[Attempt]:
    """JSON values separated by ``;`` or ``<|python_tag|>`` (trailing prose after the last one
    is ignored)."""
    values = []
    pos = 0
    while True:
        try:
            value, pos = decode_at(body, pos)
        except (ValueError, RecursionError) as exc:
            if not values:
                return [Failure("bad_json", json_message(exc, "in the reply"))]
            break
        values.append(value)
        rest = body[pos : pos + 64].lstrip()
        separator = next((sep for sep in (";", PYTHON_TAG) if rest.startswith(sep)), None)
        if separator is None:
            break
        pos = body.index(separator, pos) + len(separator)
    found: list[Attempt] = []
    for value in values:
        if value == []:
            found.append(Failure("no_call", "The list of tool calls is empty."))
        elif holds_call(value):
            found.extend(attempts_from_json(value))
    return found


_CALL_KEYS = ('"arguments"', '"parameters"', '"function"', '"tool_calls"', '"args"')


def _embedded(text: str) -> list[Attempt]:
    found: list[Attempt] = []
    pos, broken = text.find("{"), 0
    if pos != -1 and not any(key in text for key in _CALL_KEYS):
        return found  # JSON data without a call key anywhere: nothing to decode
    while pos != -1 and broken < _MAX_BROKEN:
        if _EMBEDDED.match(text, pos) is None:
            pos = text.find("{", pos + 1)
            continue
        try:
            value, end = decode_at(text, pos)
        except (ValueError, RecursionError) as exc:
            broken += 1
            near = text[pos : pos + 300]
            if '"arguments"' in near or '"parameters"' in near:
                found.append(Failure("bad_json", json_message(exc, "in the reply")))
                break
            pos = text.find("{", pos + 1)
            continue
        if holds_call(value):
            found.extend(attempts_from_json(value))
        pos = text.find("{", end)  # a data object is skipped whole
    return found

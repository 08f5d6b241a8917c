"""JSON calls in plain text: Llama 3.x (vLLM's ``llama3_json``), bare or fenced JSON, prose.

- The reply (after an optional ``<|python_tag|>`` and a ```json fence) is JSON: one call
  object, a list of them, ``{"tool_calls": [...]}``, or several objects separated by ``;``
  (Llama 3.2) — each one a call;
- otherwise call objects embedded in prose are calls.

Only objects shaped like calls count (``"name"`` with ``"arguments"``/``"parameters"``, or a
``"function"`` object, or ``"tool_calls"``): JSON data such as ``[{"name": "FGFR2", "type":
"gene"}]`` is text, as in vLLM, where such objects are not calls.
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
_EMBEDDED = re.compile(r'\{\s*"(?:name|function|tool_calls)"\s*:')
_MAX_BROKEN = 16  # broken fragments in prose tried before giving up (keeps the scan linear)


def unfence(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def attempts(text: str) -> tuple[list[Attempt], str]:
    """Calls written as JSON in ``text``, and the text left (for ``<answer>``)."""
    tag = text.find(PYTHON_TAG)
    body = unfence((text[tag + len(PYTHON_TAG) :] if tag != -1 else text).strip())
    if body[:1] in ("{", "["):
        return _sequence(body), ""
    return _embedded(text), text


def _sequence(body: str) -> list[Attempt]:
    """JSON values separated by ``;`` (trailing prose after the last one is ignored)."""
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
        if not rest.startswith(";"):
            break
        pos = body.index(";", pos) + 1
    found: list[Attempt] = []
    for value in values:
        if value == []:
            found.append(Failure("no_call", "The list of tool calls is empty."))
        elif holds_call(value):
            found.extend(attempts_from_json(value))
    return found


def _embedded(text: str) -> list[Attempt]:
    found: list[Attempt] = []
    pos, broken = 0, 0
    while broken < _MAX_BROKEN:
        match = _EMBEDDED.search(text, pos)
        if match is None:
            break
        try:
            value, end = decode_at(text, match.start())
        except (ValueError, RecursionError) as exc:
            broken += 1
            near = text[match.start() : match.start() + 300]
            if '"arguments"' in near or '"parameters"' in near:
                found.append(Failure("bad_json", json_message(exc, "in the reply")))
                break
            pos = match.end()
            continue
        if holds_call(value):
            found.extend(attempts_from_json(value))
            pos = end
        else:
            pos = match.end()
    return found

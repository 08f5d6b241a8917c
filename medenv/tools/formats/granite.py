"""IBM Granite (``<|tool_call|>[...]``) and InternLM2 (``<|action_start|><|plugin|>{...}
<|action_end|>``) calls, as vLLM's ``granite`` and ``internlm`` parsers read them.

Granite: after ``<|tool_call|>`` (Granite 3.0; Granite 3.1 writes ``<tool_call>``, which
``tool_format="granite"`` reads too, as vLLM's parser does) comes one JSON list of
``{"name", "arguments"}`` objects.
InternLM2: each action block holds one JSON object with ``"name"`` and ``"parameters"`` (or
``"arguments"``), starting at its first ``{``. Text before the marker is content.
"""

from __future__ import annotations

from medenv.tools.formats.base import (
    Attempt,
    Failure,
    attempts_from_json,
    blocks,
    decode_at,
    json_message,
    object_attempt,
)

GRANITE = "<|tool_call|>"
ACTION_START, ACTION_END, PLUGIN = "<|action_start|>", "<|action_end|>", "<|plugin|>"


def granite_attempts(text: str, marker: str = GRANITE) -> tuple[list[Attempt], str]:
    """The calls after the first ``marker`` (``<|tool_call|>`` or ``<tool_call>``)."""
    start = text.find(marker)
    try:
        value, end = decode_at(text, start + len(marker))
    except (ValueError, RecursionError) as exc:
        return [Failure("bad_json", json_message(exc, f"after {marker}"))], text[:start]
    return attempts_from_json(value), text[:start] + text[end:]


def internlm_attempts(text: str) -> tuple[list[Attempt], str]:
    bodies, rest = blocks(text, ACTION_START, ACTION_END)
    return [_action(body) for body in bodies], rest


def _action(body: str) -> Attempt:
    head, sep, _ = body.partition("{")
    if not sep or head.strip() not in (PLUGIN, ""):
        return Failure("bad_json", "An action needs <|plugin|> then a JSON object.")
    try:
        value, _ = decode_at(body, len(head))
    except (ValueError, RecursionError) as exc:
        return Failure("bad_json", json_message(exc, "in the <|plugin|> action"))
    return object_attempt(value)

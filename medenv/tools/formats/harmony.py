"""gpt-oss harmony messages, as openai/harmony and vLLM's ``openai`` parser read them.

A reply is a run of messages ``[<|start|>ROLE]HEADER<|message|>BODY<|end|> | <|call|> |
<|return|>``; the header holds ``<|channel|>CHANNEL``, an optional recipient ``to=...`` (after
the channel, or in the role: ``<|start|>assistant to=functions.NAME<|channel|>commentary``)
and an optional ``<|constrain|>json``. Channel ``analysis`` is reasoning; a message to
``functions.NAME`` is a call whose body is the JSON arguments; ``final`` and recipient-less
``commentary`` messages are content. A body left open at the end (generation stopped) runs to
the end of the text.
"""

from __future__ import annotations

import re

from medenv.tools.formats.base import (
    MAX_CALLS,
    TOO_MANY,
    Attempt,
    Failure,
    RawCall,
    decode_at,
    json_message,
)
from medenv.tools.formats.marks import find_any

_RECIPIENT = re.compile(r"to=([^\s<]+)")
_CHANNEL = re.compile(r"<\|channel\|>\s*([A-Za-z_]+)")
_ENDS = ("<|end|>", "<|call|>", "<|return|>")


def detect(text: str, marks: dict[str, int]) -> bool:
    """``marks``: `first_marks` of ``text``."""
    return "<|channel|>" in marks or ("<|message|>" in marks and "to=" in text)


def attempts(text: str) -> tuple[str | None, list[Attempt], str]:
    """(reasoning, calls, content) of a harmony reply."""
    thinks: list[str] = []
    found: list[Attempt] = []
    content: list[str] = []
    for segment in text.split("<|start|>"):
        head, sep, body = segment.partition("<|message|>")
        if not sep:
            content.append(segment)
            continue
        end, token = find_any(body, _ENDS)
        if end == -1:
            end = len(body)
        # text after the end token but before the next message is content
        body, after = body[:end], body[end + len(token) :]
        channel = _CHANNEL.search(head)
        recipient = _RECIPIENT.search(head)
        if recipient is not None and len(found) >= MAX_CALLS:
            found.append(TOO_MANY)
            break
        if recipient is not None:
            found.append(_call(recipient.group(1), body))
        elif channel is not None and channel.group(1) == "analysis":
            thinks.append(body.strip())
        else:
            content.append(body)
        content.append(after)
    think = "\n".join(thinks) if thinks else None
    return think, found, "".join(content)


def _call(recipient: str, body: str) -> Attempt:
    name = recipient.removeprefix("functions.")
    if not body.strip():
        return RawCall(name, {})
    try:
        value, _ = decode_at(body, 0)
    except (ValueError, RecursionError) as exc:
        return Failure("bad_json", json_message(exc, f"in the message to {recipient[:80]}"))
    return RawCall(name, value)

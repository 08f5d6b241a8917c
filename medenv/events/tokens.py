"""Token counts recorded with the text of events: what ``tokens`` holds.

`count_tokens` is the one definition (whitespace-separated words, equal to DuckDB's
``len(regexp_extract_all(x, '\\S+'))`` on logs written before the counts were recorded);
`TOKEN_FIELDS` names the text each event type counts; `with_tokens` fills a payload's
``tokens`` in; `token_count` is `count_tokens` remembering recent texts (a GRPO group's
rollouts see the same cached tool observations again and again).
"""

from __future__ import annotations

import msgspec

from medenv.events.schema import (
    ActionReceived,
    ActionRejected,
    EpisodeStarted,
    Payload,
    ToolReturned,
)

# Token counts are whitespace-separated words: maximal runs of characters other than the
# five RE2 ``\s`` characters, so they equal what ``len(regexp_extract_all(x, '\S+'))``
# gives in DuckDB for logs written before the counts were recorded. Counted on the UTF-8
# bytes (a multi-byte character has no byte below 0x80): those five -> " ", others -> "x".
_WORD_BYTES = bytes(32 if c in b" \t\n\f\r" else 120 for c in range(256))
TOKEN_FIELDS: dict[type, str] = {  # event type -> the text field its ``tokens`` counts
    EpisodeStarted: "prompt", ActionReceived: "text", ActionRejected: "observation",
    ToolReturned: "observation",
}  # fmt: skip


def count_tokens(text: str) -> int:
    """Whitespace-separated words of ``text`` (see `_WORD_BYTES`)."""
    marks = text.encode("utf-8", "surrogatepass").translate(_WORD_BYTES)
    return marks.count(b" x") + marks.startswith(b"x")


def with_tokens(payload: Payload) -> Payload:
    """``payload`` with ``tokens`` filled in, for the event types that count their text."""
    field = TOKEN_FIELDS.get(type(payload))
    if field is None or payload.tokens is not None:
        return payload
    return msgspec.structs.replace(payload, tokens=count_tokens(getattr(payload, field)))


# `token_count` remembers texts by identity: a GRPO group's rollouts log the very same
# observation objects again (the tool result cache returns them), and a lookup by id costs
# nothing per character, so texts that never repeat (one pass over a set) lose nothing.
# The text itself is held, so its id cannot be reused while it is remembered; no tuples
# (the cyclic GC would track them).
_TEXTS: dict[int, str] = {}
_COUNTS: dict[int, int] = {}
_REMEMBER = 4096


def token_count(text: str) -> int:
    """`count_tokens` of ``text``, remembered for the last few thousand text objects."""
    key = id(text)
    if _TEXTS.get(key) is text:
        return _COUNTS[key]
    n = count_tokens(text)
    if len(_TEXTS) >= _REMEMBER:
        _TEXTS.clear()
        _COUNTS.clear()
    _TEXTS[key] = text
    _COUNTS[key] = n
    return n

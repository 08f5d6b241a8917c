"""What an action and an observation are, as text: the limits, the canonical form of an
action (the text the env logs and parses, so a replay parses the same input), the nesting
guard, and observations fitted into the observation space (`medenv.spaces`).

Shared by the env (`medenv.env`), replay (`medenv.events.replay`) and exports; it imports
nothing above the event schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

from medenv.events.schema import utf8_safe
from medenv.spaces import RANGES as _RANGES

ACTION_MAX_CHARS = 131_072  # ~32k tokens: a long reasoning trace plus the call
# Actions nested deeper (JSON brackets outside strings, or a dict/list action) are a bad_json
# error without parsing: Python's recursion limit would otherwise decide, and it depends on
# the caller's stack depth, so a replay could parse the same text differently.
MAX_NESTING = 100
DEEP_OBJECT = f"<a tool-call object nested deeper than {MAX_NESTING} levels>"
_NESTING_TOKENS = re.compile(r'[\[\]{}"\\]')
OBSERVATION_MAX_CHARS = 65_536
# Observations map any character outside CHARSET to U+FFFD; actions are accepted as they are.
_OUTSIDE = re.compile("[^" + "".join(f"\\U{lo:08x}-\\U{hi - 1:08x}" for lo, hi in _RANGES) + "]")


def fit_text(text: str, limit: int = OBSERVATION_MAX_CHARS) -> str:
    """``text`` inside the observation space: foreign characters -> U+FFFD, length capped."""
    if not text.isascii():
        text = _OUTSIDE.sub("\ufffd", text)
    if len(text) > limit:
        note = f"\n[... {len(text) - limit} more characters truncated]"
        text = text[: limit - len(note)] + note
    return text


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests dicts/lists/tuples more than ``limit`` levels (iterative:
    also ends on a value that contains itself)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if not isinstance(item, dict | list | tuple):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def too_deep(text: str) -> bool:
    """Whether action text nests JSON brackets (outside JSON strings) more than
    `MAX_NESTING` levels, or is `DEEP_OBJECT`. Cheap unless the text holds that many
    brackets."""
    if text == DEEP_OBJECT:
        return True
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return False
    depth, in_string, skip = 0, False, -1
    for match in _NESTING_TOKENS.finditer(text):
        i = match.start()
        if i == skip:
            continue
        ch = text[i]
        if in_string:
            if ch == "\\":
                skip = i + 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif ch in "]}":
            depth = max(0, depth - 1)
    return False


def truncation_marker(length: int | None) -> str:
    """What follows the logged text of an action cut to ``ACTION_MAX_CHARS`` (``""`` for an
    action that was not cut): the marker and the original length."""
    if length is None:
        return ""
    return (
        f"\n[... truncated: the action had {length} characters; the env read the first "
        f"{ACTION_MAX_CHARS}]"
    )


def canonical_action(action: Any) -> tuple[str | dict | list, str, bool]:
    """What `MedResearchEnv.step` parses for ``action``, the text it logs, and whether that
    text is JSON: ``(parsed, text, is_dict)``.

    Text is parsed as it is. A dict or list is logged as JSON (sorted keys) and parsed *from
    that JSON*, so replaying the log parses exactly the value the live step parsed (same
    key order, tuples as lists). Anything else, or a dict that is not JSON, is parsed as its
    ``repr``. Lone surrogates become U+FFFD (`utf8_safe`). Never raises.
    """
    if isinstance(action, dict | list) and _deeper_than(action, MAX_NESTING):
        return DEEP_OBJECT, DEEP_OBJECT, False
    if isinstance(action, dict | list):
        try:
            text = utf8_safe(json.dumps(action, sort_keys=True, ensure_ascii=False))
            # once more from the JSON: keys that collide as strings (1 and "1") keep one
            # value, so the logged text is a fixed point and a replay logs it again
            text = json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False)
            return json.loads(text), text, True
        except (TypeError, ValueError, RecursionError):
            pass
    if isinstance(action, str):
        text = str(action)
    else:
        try:
            text = repr(action)
        except Exception:  # noqa: BLE001 - a broken __repr__ must not break the step
            text = f"<unprintable {type(action).__name__}>"
    text = utf8_safe(text)
    return text, text, False

"""Gemma 4 calls, as vLLM's ``gemma4`` parser reads them.

``<|tool_call>call:NAME{key:<|"|>text<|"|>,n:42,flag:true,obj:{k:<|"|>v<|"|>},xs:[1,2]}
<tool_call|>``: keys are bare (or quoted with ``<|"|>``), strings are delimited by ``<|"|>``,
other values are bare: ``true``/``false``/``null``, numbers, else the bare text as a string.
Several calls follow each other without separators. A call cut off at the end (no
``<tool_call|>``) is read to the end (vLLM drops it); an unterminated string runs to the end
of its call. Reasoning is ``<|channel>thought ...<channel|>`` (`medenv.tools.formats.reasoning`).
One pass over each call's text: strings, keys and bare values are found with ``str.find`` or a
character-class search from the current position, never re-scanned.
"""

from __future__ import annotations

import math
import re

from medenv.tools.formats.base import MAX_CALLS, TOO_MANY, Attempt, Failure, RawCall

START, END, QUOTE = "<|tool_call>", "<tool_call|>", '<|"|>'
_NAME = re.compile(r"[\w\-.]+")
_BARE_END = re.compile(r"[,}\]]")
_SPACE = re.compile(r"[\s,]*")  # between items
_WS = re.compile(r"\s*")
_INT = re.compile(r"[+-]?\d+")
_WORDS = {"true": True, "false": False, "null": None}
_HINT = "write call:TOOL{...} right after <|tool_call>."


def attempts(text: str, marks: dict[str, int]) -> tuple[list[Attempt], str]:
    """Every ``<|tool_call>`` call in ``text`` (the first at ``marks[START]``) and the rest."""
    found: list[Attempt] = []
    rest: list[str] = []
    pos, start = 0, marks.get(START, -1)
    while start != -1:
        if len(found) >= MAX_CALLS:
            found.append(TOO_MANY)
            break
        rest.append(text[pos:start])
        end = text.find(END, start + len(START))
        found.append(_call(text[start + len(START) : len(text) if end == -1 else end]))
        pos = len(text) if end == -1 else end + len(END)
        start = text.find(START, pos)
    rest.append(text[pos:])
    return found, "".join(rest)


def _call(body: str) -> Attempt:
    body = body.strip()
    brace = body.find("{")
    head = body[: len(body) if brace == -1 else brace]
    name = head.removeprefix("call:").strip()
    if not head.startswith("call:") or _NAME.fullmatch(name) is None:
        return Failure("bad_json", f"Malformed Gemma 4 call {head[:60]!r}: {_HINT}")
    if brace == -1:  # cut off before its arguments
        return RawCall(name, {})
    args = body[brace + 1 :]
    if args.endswith("}"):
        args = args[:-1]
    try:
        return RawCall(name, _Reader(args).object(None))
    except RecursionError:
        return Failure("bad_json", f"The arguments of {name[:80]} are nested too deeply.")


class _Reader:
    """A recursive-descent reading of Gemma 4's argument syntax, lenient as vLLM's is (text
    that fits no rule is a bare string); each position is read once."""

    def __init__(self, text: str):
        self.text, self.i = text, 0

    def object(self, closer: str | None) -> dict:
        text, out = self.text, {}
        while True:
            self.i = _SPACE.match(text, self.i).end()
            if self.i >= len(text):
                return out
            if text[self.i] in "}]":
                self.i += 1
                if closer is not None:
                    return out
                continue  # a stray closer at the top level
            if text.startswith(QUOTE, self.i):
                key = self.string()
                colon = text.find(":", self.i)
            else:
                colon = text.find(":", self.i)
                key = text[self.i : len(text) if colon == -1 else colon].strip()
            if colon == -1:  # trailing text without a colon: not a key (vLLM drops it)
                self.i = len(text)
                return out
            self.i = colon + 1
            out[key] = self.value()

    def array(self) -> list:
        text, items = self.text, []
        while True:
            self.i = _SPACE.match(text, self.i).end()
            if self.i >= len(text):
                return items
            if text[self.i] in "]}":
                self.i += 1
                return items
            items.append(self.value())

    def value(self) -> object:
        text = self.text
        self.i = _WS.match(text, self.i).end()
        if self.i >= len(text):
            return ""
        if text.startswith(QUOTE, self.i):
            return self.string()
        if text[self.i] == "{":
            self.i += 1
            return self.object("}")
        if text[self.i] == "[":
            self.i += 1
            return self.array()
        match = _BARE_END.search(text, self.i)
        end = len(text) if match is None else match.start()
        bare, self.i = text[self.i : end].strip(), end
        return _bare(bare)

    def string(self) -> str:
        """The ``<|"|>``-delimited string at the position (unterminated: to the end)."""
        start = self.i + len(QUOTE)
        end = self.text.find(QUOTE, start)
        self.i = len(self.text) if end == -1 else end + len(QUOTE)
        return self.text[start : len(self.text) if end == -1 else end]


def _bare(text: str) -> object:
    if text in _WORDS:
        return _WORDS[text]
    try:
        if _INT.fullmatch(text):
            return int(text)
        number = float(text)
    except ValueError:  # not a number, or an integer of more than 4,300 digits
        return text
    return number if math.isfinite(number) else text

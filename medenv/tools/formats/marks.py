"""Where each format marker first occurs, found in one pass (keeps detection flat).

A multi-character ``str`` search costs about as much as reading the text, and the dispatcher
asks about some twenty markers; `first_marks` instead jumps between the ``<`` and ``[``
characters (a ``memchr``) and tests only the markers that can start there. Text with
thousands of such characters falls back to one search per marker.
"""

from __future__ import annotations

MARKERS = (
    "<think>", "</think>", "<tool_call>", "</tool_call>", "<function=", "<answer>", "</answer>",
    "<|channel|>", "<|message|>", "<|start|>", "<|python_tag|>", "<|python_start|>",
    "<|tool_call|>", "<|action_start|>", "<|tool_calls_section_begin|>", "<|tool_call_begin|>",
    "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "[TOOL_CALLS]", "[THINK]",
    "[/THINK]", "<seed:think>", "</seed:think>", "<seed:tool_call>", "<minimax:tool_call>",
    "<｜DSML｜function_calls>", "<｜DSML｜tool_calls>", "<function_calls>", "<|tool_call>",
    "<|channel>", "<channel|>", "<|tool_call_start|>",
)  # fmt: skip
_BY_PREFIX: dict[str, tuple[str, ...]] = {}
for _m in MARKERS:
    _BY_PREFIX[_m[:2]] = (*_BY_PREFIX.get(_m[:2], ()), _m)
_MAX_HITS = 2048


def first_marks(text: str) -> dict[str, int]:
    """``{marker: index of its first occurrence}`` for every `MARKERS` entry in ``text``."""
    first: dict[str, int] = {}
    for lead in "<[":
        pos, hits = text.find(lead), 0
        while pos != -1:
            hits += 1
            if hits > _MAX_HITS:  # dense text: one search per remaining marker
                for marker in MARKERS:
                    if marker[0] == lead and marker not in first:
                        i = text.find(marker, pos)
                        if i != -1:
                            first[marker] = i
                break
            for marker in _BY_PREFIX.get(text[pos : pos + 2], ()):
                if marker not in first and text.startswith(marker, pos):
                    first[marker] = pos
            pos = text.find(lead, pos + 1)
    return first


def suffix_marks(text: str, marks: dict[str, int], start: int) -> dict[str, int]:
    """`first_marks` of ``text[start:]`` from ``marks = first_marks(text)``: a marker first
    found at or after ``start`` moves by ``start``; one found before it is searched again
    from ``start``; one absent from ``text`` is absent from its suffix. The text before
    ``start`` (e.g. the reasoning) is not scanned twice."""
    out: dict[str, int] = {}
    for marker, i in marks.items():
        if i >= start:
            out[marker] = i - start
        else:
            j = text.find(marker, start)
            if j != -1:
                out[marker] = j - start
    return out


def find_any(text: str, needles: tuple[str, ...], start: int = 0) -> tuple[int, str]:
    """``(index, needle)`` of the first of ``needles`` (each starting with ``<``) at or after
    ``start``, or ``(-1, "")``; one ``memchr`` walk instead of one search per needle."""
    pos, hits = text.find("<", start), 0
    while pos != -1:
        hits += 1
        if hits > _MAX_HITS:
            found = [(i, n) for n in needles if (i := text.find(n, pos)) != -1]
            return min(found) if found else (-1, "")
        for needle in needles:
            if text.startswith(needle, pos):
                return pos, needle
        pos = text.find("<", pos + 1)
    return -1, ""

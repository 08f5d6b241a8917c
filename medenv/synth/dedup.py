"""Deduplication of questions.

Two items are duplicates when they share ``(answer_id, chain)``, when their normalised
texts are equal, or when they have the same answer and the Jaccard similarity of their
word 3-shingles (lower-cased ``\\w+`` tokens) reaches the threshold. The first one seen is
kept; comparison is only among items with the same answer, so it stays cheap.
"""

from __future__ import annotations

import re

from medenv.synth.qa import QAItem

_WORD = re.compile(r"\w+")


def shingles(text: str, k: int = 3) -> frozenset[tuple[str, ...]]:
    tokens = _WORD.findall(text.casefold())
    if len(tokens) < k:
        return frozenset({tuple(tokens)})
    return frozenset(tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class Deduplicator:
    """Remembers accepted items; `is_duplicate` says whether a new one repeats one."""

    def __init__(self, threshold: float = 0.8) -> None:
        self.threshold = threshold
        self._chains: set[tuple[str, tuple[str, ...]]] = set()
        self._texts: set[str] = set()
        self._by_answer: dict[str, list[frozenset]] = {}

    def is_duplicate(self, item: QAItem) -> bool:
        if (item.answer_id, item.chain) in self._chains:
            return True
        norm = " ".join(_WORD.findall(item.question.casefold()))
        if norm in self._texts:
            return True
        sh = shingles(item.question)
        return any(
            jaccard(sh, o) >= self.threshold for o in self._by_answer.get(item.answer_id, ())
        )

    def add(self, item: QAItem) -> None:
        self._chains.add((item.answer_id, item.chain))
        self._texts.add(" ".join(_WORD.findall(item.question.casefold())))
        self._by_answer.setdefault(item.answer_id, []).append(shingles(item.question))

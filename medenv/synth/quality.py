"""Wording quality figures of a QA set, for the manifest.

- ``words``: words per question (median, mean, max);
- ``verbatim_names``: entities named verbatim (in double quotes) per question, as a
  histogram, and the share of questions naming at most one;
- ``repeated_noun``: questions where a phrase repeats its subject's noun right after
  the verb ("Which gene is a gene associated with ...", "a clinical feature that is a
  clinical feature of ...");
- ``max_relative_clauses``: the most relative clauses ("that"/"which") in one sentence.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence

from medenv.synth.qa import QAItem

_QUOTED = re.compile(r'"[^"]+"')
_WORD = re.compile(r"[A-Za-z0-9][\w'-]*")
_NOUN_REPEAT = re.compile(
    r"\b(\w+(?: \w+)?) (?:that |which )?(?:is|are) (?:a|an|the) \1\b", re.IGNORECASE
)
_SENTENCE = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")


def words(question: str) -> int:
    return len(_WORD.findall(question))


def verbatim_names(question: str) -> int:
    return len(_QUOTED.findall(question))


def repeats_noun(question: str) -> bool:
    return _NOUN_REPEAT.search(_QUOTED.sub('""', question)) is not None


def relative_clauses(question: str) -> int:
    """The most "that"/"which" clauses in one sentence of ``question``."""
    text = _QUOTED.sub('""', question)
    return max(
        len(re.findall(r"\b(?:that|which)\b", s, re.IGNORECASE)) for s in _SENTENCE.split(text)
    )


def quality(items: Sequence[QAItem]) -> dict:
    if not items:
        return {}
    counts = [words(i.question) for i in items]
    names = [verbatim_names(i.question) for i in items]
    return {
        "words": {
            "median": statistics.median(counts),
            "mean": round(statistics.fmean(counts), 2),
            "max": max(counts),
        },
        "verbatim_names": {
            "histogram": {str(k): v for k, v in sorted(Counter(names).items())},
            "mean": round(statistics.fmean(names), 3),
            "share_at_most_one": round(sum(n <= 1 for n in names) / len(names), 4),
        },
        "repeated_noun": sum(repeats_noun(i.question) for i in items),
        "max_relative_clauses": max(relative_clauses(i.question) for i in items),
    }

"""Text analysis shared by every search backend and by `browse`.

Contract: `tokens(text)` is the one tokenizer of medenv's search. It lower-cases, splits on
anything that is not a Unicode letter or digit, drops tokens of 40+ bytes and folds simple
English plurals (``seizures`` -> ``seizure``). Backends index the pre-tokenized text
(`analyzed(text)`) with a whitespace tokenizer, so every backend sees the same terms and a
query is never parsed as syntax: quotes, operators and punctuation are just separators.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from functools import lru_cache
from itertools import accumulate

_WORD = re.compile(r"[^\W_]+")
PASSAGE_CACHE_SIZE = 16384  # pages whose analysed passages are memoised (`analysed_passages`)

# Words that carry no meaning in a query; dropped from queries (not from the index).
STOPWORDS = frozenset(
    "a an and are as at be by for from has have how in is it its of on or that the this to "
    "was what which who whom with does do did can".split()
)


def _fold(token: str) -> str:
    if len(token) > 4 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


class _Terms(dict):
    """word (lower-cased regex match) -> its term, or ``""`` when dropped (40+ UTF-8 bytes).

    A memo of `_fold` and the length filter, so each distinct word is analysed once; it is
    cleared when it reaches `_TERMS_MAX` entries (the result never depends on its state)."""

    def __missing__(self, word: str) -> str:
        term = _fold(word) if len(word.encode("utf-8")) < 40 else ""
        if len(self) >= _TERMS_MAX:
            self.clear()
        self[word] = term
        return term


_TERMS_MAX = 500_000
_TERM_OF = _Terms().__getitem__


# ASCII fast path: on ASCII text `_WORD` matches exactly the runs of [a-z0-9] (after
# lower-casing), which a byte translation to spaces plus `split` finds ~4x faster.
_ASCII_WORDS = bytes(c if chr(c).isalnum() and c < 128 else 32 for c in range(256))


def words(text: str) -> list[str]:
    """The lower-cased runs of Unicode letters and digits of ``text`` (before folding)."""
    low = text.lower()
    if low.isascii():
        return low.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
    return _WORD.findall(low)


def tokens(text: str) -> list[str]:
    """The search terms of ``text``, in order (duplicates kept)."""
    return list(filter(None, map(_TERM_OF, words(text))))


def analyzed(text: str) -> str:
    """``text`` as the space-joined terms the indexes store."""
    return " ".join(tokens(text))


def query_terms(query: str) -> list[str]:
    """Distinct terms of a query, in first-seen order; stopwords dropped unless nothing
    else is left."""
    terms = list(dict.fromkeys(tokens(query)))
    kept = [t for t in terms if t not in STOPWORDS]
    return kept or terms


def passages(text: str, max_chars: int = 500) -> list[str]:
    """Split a page into passages: its non-empty lines, long lines cut at sentence ends
    (else at a semicolon, comma or space, else hard at ``max_chars``)."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        while len(line) > max_chars:
            for sep in (". ", "; ", ", ", " "):
                cut = line.rfind(sep, 0, max_chars)
                if cut > max_chars // 3:
                    cut += len(sep) - 1
                    break
            else:
                cut = max_chars
            out.append(line[:cut].strip())
            line = line[cut:].strip()
        if line:
            out.append(line)
    return out


class _Passages:
    """A page's passages and their lower-cased text: ``low`` is the lower-cased passages
    joined by newlines, passage ``i`` starting at ``starts[i]`` (what snippets scan); each
    passage's term counts (for BM25 in `browse`) are computed on first use."""

    __slots__ = ("parts", "low", "starts", "_where", "_counts")

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts
        lows = [p.lower() for p in parts]
        self.low = "\n".join(lows)
        self.starts = list(accumulate((len(x) + 1 for x in lows), initial=0))
        self._where: dict[str, tuple[int, ...]] = {}
        self._counts: list[Counter] | None = None

    def lower(self, i: int) -> str:
        """Passage ``i`` lower-cased (as `str.lower` gives it)."""
        return self.low[self.starts[i] : self.starts[i + 1] - 1]

    def where(self, term: str) -> tuple[int, ...]:
        r"""Indices (ascending) of the passages that have ``term`` among their `tokens`
        (memoised per term), found with `str.find` instead of tokenising.

        Exact by construction of `tokens`: a word is a maximal run of `str.isalnum`
        characters (the same set as `_WORD`'s ``[^\W_]``); its term is the word itself, or
        the word less a final ``s`` when `_fold` drops it, and a word of 40+ UTF-8 bytes has
        none. A term never folds further (``_fold(t) == t``), so the words whose term is
        ``t`` are ``t`` and, when `_plural_folds` (``t``), ``t + "s"``: an occurrence of
        ``t`` with no word character before it and none after it (or one ``s`` and then
        none). Passages are joined by ``"\n"`` (not alphanumeric) in ``low``, so a word of
        ``low`` never spans two passages."""
        found = self._where.get(term)
        if found is None:
            low, starts, out, n, size = self.low, self.starts, [], len(term), len(self.low)
            pos = low.find(term)
            while pos >= 0:
                if pos == 0 or not low[pos - 1].isalnum():
                    after = pos + n
                    if (
                        after == size
                        or not low[after].isalnum()
                        or (
                            low[after] == "s"
                            and (after + 1 == size or not low[after + 1].isalnum())
                            and _plural_folds(term)
                        )
                    ):
                        i = bisect_right(starts, pos) - 1
                        out.append(i)
                        pos = low.find(term, starts[i + 1])
                        continue
                pos = low.find(term, pos + 1)
            found = self._where[term] = tuple(out)
        return found

    @property
    def counts(self) -> list[Counter]:
        if self._counts is None:
            self._counts = [Counter(tokens(p)) for p in self.parts]
        return self._counts


@lru_cache(maxsize=PASSAGE_CACHE_SIZE)
def analysed_passages(text: str) -> _Passages:
    """`passages` of ``text`` with their lower-cased text, memoised for the last
    `PASSAGE_CACHE_SIZE` page texts (keyed by the text itself: a page's text object lives
    as long as its corpus, so its hash is computed once). Read-only: callers must not
    mutate it."""
    return _Passages(passages(text))


@lru_cache(maxsize=65536)
def _plural_folds(term: str) -> bool:
    """Whether the word ``term + "s"`` has the term ``term`` (`_fold` drops its ``s`` and it
    is under 40 UTF-8 bytes)."""
    plural = term + "s"
    return _fold(plural) == term and len(plural.encode("utf-8")) < 40


def rank_passages(parts: list[str], query: str, *, text: str | None = None) -> list[int]:
    """Indices of ``parts`` ordered by BM25 relevance to ``query`` within this set of
    passages (k1=1.2, b=0.75); ties (including no match at all) keep page order.

    ``text``: the page that ``parts == passages(text)`` came from, to reuse its memoised
    analysis (`analysed_passages`)."""
    terms = query_terms(query)
    if not terms or not parts:
        return list(range(len(parts)))
    docs = (analysed_passages(text) if text is not None else _Passages(parts)).counts
    n = len(docs)
    lengths = [d.total() for d in docs]
    avg = sum(lengths) / n or 1.0
    df = {t: sum(1 for d in docs if t in d) for t in terms}
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in terms}
    scores = []
    for i, d in enumerate(docs):
        length = lengths[i]
        s = 0.0
        for t in terms:
            f = d.get(t, 0)
            if f:
                s += idf[t] * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * length / avg))
        scores.append((-round(s, 9), i))
    return [i for _, i in sorted(scores)]


def snippet(text: str, query: str, max_chars: int = 240) -> str:
    """The passage of ``text`` that matches most query terms (first one on ties), cut to
    about ``max_chars`` around its first match."""
    return snippet_for_terms(text, query_terms(query), max_chars)


def snippet_for_terms(text: str, terms: list[str], max_chars: int = 240) -> str:
    """`snippet` with the query already analysed (``terms = query_terms(query)``), so a
    search analyses its query once for all its hits."""
    page = analysed_passages(text)
    parts = page.parts
    if not parts:
        return ""
    counts = [0] * len(parts)
    memo, where = page._where, page.where
    for t in set(terms):
        for i in memo[t] if t in memo else where(t):
            counts[i] += 1
    best = max(counts)
    at = counts.index(best)
    part = parts[at]
    if len(part) <= max_chars:
        return part
    start = 0
    if best > 0:
        low = page.lower(at)
        positions = [p for p in (low.find(t) for t in terms) if p >= 0]
        if positions:
            start = max(0, min(positions) - max_chars // 4)
            sp = part.rfind(" ", 0, start)
            start = sp + 1 if sp >= 0 and start > 0 else start
    end = start + max_chars
    if end < len(part):
        sp = part.rfind(" ", start, end)
        end = sp if sp > start else end
    return ("..." if start else "") + part[start:end].rstrip() + ("..." if end < len(part) else "")

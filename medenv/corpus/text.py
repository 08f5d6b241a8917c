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
import struct
from array import array
from functools import lru_cache
from itertools import accumulate, repeat
from operator import add

import msgspec

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


class _Passages(msgspec.Struct, gc=False):
    r"""A page's passages, analysed once for snippets and `browse` (see `analysed_passages`).

    ``joined`` is the passages joined by ``"\n"`` and ``low`` the same of their lower-cased
    texts (what snippets scan); passage ``i`` of ``low`` starts at ``starts[i]`` (``n + 1``
    offsets packed as native uint32, the last one ``len(low) + 1``), and in ``joined`` at
    ``ostarts[i]`` (None: the same offsets, as always when lower-casing keeps every
    passage's length). A passage never holds a ``"\n"`` (`passages` splits lines), so
    ``joined.split("\n")`` gives them back.

    Nothing here is seen by the cyclic garbage collector: the Struct is untracked
    (``gc=False``; it holds no reference cycle), its fields are strings, bytes and a dict
    of bytes (a page of more than 256 passages memoises tuples instead, which the
    collector tracks; none in the default corpus). The memo of ~16k pages therefore never
    adds to a collection's work: with a list, a dict and tuples per page, the young
    collections that ran while the memo filled took 3-8 ms each, and once it was full
    evictions (which lower the collector's allocation count) let ~120k memo objects pile
    up for one 70-115 ms collection."""

    joined: str
    low: str
    n: int
    starts: bytes
    ostarts: bytes | None
    memo: dict = {}  # term -> indices of the passages holding it (`where`)
    lengths: bytes | None = None  # packed uint32 token counts (`token_counts`)

    @classmethod
    def of(cls, parts: list[str]) -> _Passages:
        """The analysis of ``parts`` (none of which holds a ``"\n"``)."""
        joined = "\n".join(parts)
        if joined.isascii():  # ASCII lower-casing maps each character to one: same offsets
            return cls(joined, joined.lower(), len(parts), _pack_offsets(parts), None, {})
        lows = [p.lower() for p in parts]
        same = all(len(a) == len(b) for a, b in zip(lows, parts, strict=True))
        return cls(
            joined, "\n".join(lows), len(parts), _pack_offsets(lows),
            None if same else _pack_offsets(parts), {},
        )  # fmt: skip

    @property
    def parts(self) -> list[str]:
        """The passages (a new list)."""
        return self.joined.split("\n") if self.n else []

    def part(self, i: int) -> str:
        """Passage ``i``."""
        start, end = _PAIR.unpack_from(self.starts if self.ostarts is None else self.ostarts, 4 * i)
        return self.joined[start : end - 1]

    def lower(self, i: int) -> str:
        """Passage ``i`` lower-cased (as `str.lower` gives it)."""
        start, end = _PAIR.unpack_from(self.starts, 4 * i)
        return self.low[start : end - 1]

    def where(self, term: str) -> bytes | tuple[int, ...]:
        r"""Indices (ascending) of the passages that have ``term`` among their `tokens`
        (memoised per term), found with `str.find` instead of tokenising.

        Exact by construction of `tokens`: a word is a maximal run of `str.isalnum`
        characters (the same set as `_WORD`'s ``[^\W_]``); its term is the word itself, or
        the word less a final ``s`` when `_fold` drops it, and a word of 40+ UTF-8 bytes has
        none. A term never folds further (``_fold(t) == t``), so the words whose term is
        ``t`` are ``t`` and, when `_plural_folds` (``t``), ``t + "s"``: an occurrence of
        ``t`` with no word character before it and none after it (or one ``s`` and then
        none). Passages are joined by ``"\n"`` (not alphanumeric) in ``low``, so a word of
        ``low`` never spans two passages, and a passage's index is the count of ``"\n"``
        before it."""
        found = self.memo.get(term)
        if found is None:  # `_is_word`'s rule, skipping to the next passage after a hit
            low, out, n, size = self.low, [], len(term), len(self.low)
            i = counted = 0  # ``i``: the passage holding position ``counted``
            pos = low.find(term)
            while pos >= 0:
                if _is_word(low, pos, n, size, term):
                    i += low.count("\n", counted, pos)
                    out.append(i)
                    counted = low.find("\n", pos + n)
                    if counted < 0:
                        break
                    pos = low.find(term, counted)
                else:
                    pos = low.find(term, pos + 1)
            found = self.memo[term] = bytes(out) if self.n <= 256 else tuple(out)
        return found

    def frequencies(self, term: str) -> dict[int, int]:
        """``{passage index: how many of its tokens are term}`` for the passages holding
        ``term`` (the same word matching as `where`)."""
        out: dict[int, int] = {}
        low, i, counted = self.low, 0, 0
        for pos in _word_starts(low, term):
            i += low.count("\n", counted, pos)
            counted = pos
            out[i] = out.get(i, 0) + 1
        return out

    def token_counts(self) -> memoryview:
        """How many `tokens` each passage has (computed on first use)."""
        if self.lengths is None:
            self.lengths = array("I", [len(tokens(p)) for p in self.parts]).tobytes()
        return memoryview(self.lengths).cast("I")


_PAIR = struct.Struct("=II")


def _pack_offsets(texts: list[str]) -> bytes:
    """Where each of ``texts`` starts once they are joined by one separator, and the joined
    length plus one, as native uint32."""
    return array("I", accumulate(map(add, map(len, texts), repeat(1)), initial=0)).tobytes()


def _is_word(low: str, pos: int, n: int, size: int, term: str) -> bool:
    """Whether the occurrence of ``term`` (length ``n``) at ``pos`` of ``low`` (length
    ``size``) is a word whose term is ``term``: no word character before it and none after
    it, or one ``s`` and then none when `_plural_folds` (``term``) (see `_Passages.where`)."""
    if pos and low[pos - 1].isalnum():
        return False
    after = pos + n
    return (
        after == size
        or not low[after].isalnum()
        or (
            low[after] == "s"
            and (after + 1 == size or not low[after + 1].isalnum())
            and _plural_folds(term)
        )
    )


def _word_starts(low: str, term: str):
    """Positions in ``low`` of the words whose term is ``term`` (`_is_word`)."""
    n, size = len(term), len(low)
    pos = low.find(term)
    while pos >= 0:
        if _is_word(low, pos, n, size, term):
            yield pos
            pos = low.find(term, pos + n)
        else:
            pos = low.find(term, pos + 1)


@lru_cache(maxsize=PASSAGE_CACHE_SIZE)
def analysed_passages(text: str) -> _Passages:
    """`passages` of ``text`` with their lower-cased text, memoised for the last
    `PASSAGE_CACHE_SIZE` page texts (keyed by the text itself: a page's text object lives
    as long as its corpus, so its hash is computed once). Read-only: callers must not
    mutate it."""
    return _Passages.of(passages(text))


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
    if text is not None:
        page = analysed_passages(text)
    else:  # a "\n" separates words as a space does: the same terms at the same places
        page = _Passages.of([p.replace("\n", " ") for p in parts])
    lengths = page.token_counts()
    n = len(lengths)
    avg = sum(lengths) / n or 1.0
    freqs = [page.frequencies(t) for t in terms]
    weights = []
    for fr in freqs:
        df = len(fr)
        weights.append((math.log(1 + (n - df + 0.5) / (df + 0.5)), fr))
    scores = []
    for i in range(n):
        length = lengths[i]
        s = 0.0
        for idf, fr in weights:
            f = fr.get(i, 0)
            if f:
                s += idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * length / avg))
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
    n = page.n
    if not n:
        return ""
    counts = [0] * n
    memo, where = page.memo, page.where
    for t in set(terms):
        for i in memo[t] if t in memo else where(t):
            counts[i] += 1
    best = max(counts)
    at = counts.index(best)
    part = page.part(at)
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

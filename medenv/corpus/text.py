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
from collections import Counter

_WORD = re.compile(r"[^\W_]+")

# Words that carry no meaning in a query; dropped from queries (not from the index).
STOPWORDS = frozenset(
    "a an and are as at be by for from has have how in is it its of on or that the this to "
    "was what which who whom with does do did can".split()
)


def _fold(token: str) -> str:
    if len(token) > 4 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokens(text: str) -> list[str]:
    """The search terms of ``text``, in order (duplicates kept)."""
    return [_fold(t) for t in _WORD.findall(text.lower()) if len(t.encode("utf-8")) < 40]


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


def rank_passages(parts: list[str], query: str) -> list[int]:
    """Indices of ``parts`` ordered by BM25 relevance to ``query`` within this set of
    passages (k1=1.2, b=0.75); ties (including no match at all) keep page order."""
    terms = query_terms(query)
    if not terms or not parts:
        return list(range(len(parts)))
    docs = [Counter(tokens(p)) for p in parts]
    n = len(docs)
    avg = sum(sum(d.values()) for d in docs) / n or 1.0
    df = {t: sum(1 for d in docs if t in d) for t in terms}
    scores = []
    for i, d in enumerate(docs):
        length = sum(d.values())
        s = 0.0
        for t in terms:
            f = d.get(t, 0)
            if f:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * length / avg))
        scores.append((-round(s, 9), i))
    return [i for _, i in sorted(scores)]


def snippet(text: str, query: str, max_chars: int = 240) -> str:
    """The passage of ``text`` that matches most query terms (first one on ties), cut to
    about ``max_chars`` around its first match."""
    parts = passages(text)
    if not parts:
        return ""
    terms = set(query_terms(query))
    best, best_i = -1, 0
    for i, p in enumerate(parts):
        hit = len(terms.intersection(tokens(p)))
        if hit > best:
            best, best_i = hit, i
    part = parts[best_i]
    if len(part) <= max_chars:
        return part
    start = 0
    if best > 0:
        low = part.lower()
        positions = [low.find(t) for t in terms if low.find(t) >= 0]
        if positions:
            start = max(0, min(positions) - max_chars // 4)
            sp = part.rfind(" ", 0, start)
            start = sp + 1 if sp >= 0 and start > 0 else start
    end = start + max_chars
    if end < len(part):
        sp = part.rfind(" ", start, end)
        end = sp if sp > start else end
    return ("..." if start else "") + part[start:end].rstrip() + ("..." if end < len(part) else "")

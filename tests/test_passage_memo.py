"""The per-page passage analysis (`medenv.corpus.text._Passages`, issue 19's step tail)
gives what tokenising every passage gives, on real pages of the default corpus (its
longest and its non-ASCII ones among them) and on made-up edge pages, and stays out of
the cyclic garbage collector's sight (what keeps its ~16k memoised pages from making
young collections of several milliseconds, or one of ~100 ms once it evicts)."""

from __future__ import annotations

import gc
import math
import random
from collections import Counter

import pytest

from medenv.corpus import text as T
from tests.test_search import _reference_tokens

GENERIC = ["gene", "abnormality", "autosomal recessive inheritance", "the of", "seizures"]
EDGE_PAGES = [
    "",
    "İstanbul İİ \u212a İx\nΣΟΦΟΣ σοφός ΌΣΟΣ\nİnherited İnheritance: gene",  # lower() lengthens
    "\n".join(f"line {i} gene{'s' * (i % 3)} x{i}" for i in range(300)),  # > 256 passages
    "Seizures_status; bus BUSES αβ-Synucleins ÄÖs\n" + "x" * 39 + "s x" * 40 + " 日本語",
]


@pytest.fixture(scope="module")
def pages():
    """Real default-corpus pages: the 15 longest and the 15 with most passages of each
    collection, 40 non-ASCII ones and 60 at random; then the edge pages."""
    from medenv.world import load_world

    world = load_world(progress=False)
    rng = random.Random(3)
    out: dict[str, str] = {}
    for collection in ("medical", "web"):
        docs = world.index(collection).docs
        for d in sorted(docs, key=lambda d: -len(d.text))[:15]:
            out[d.id] = d.text
        for d in sorted(docs, key=lambda d: -d.text.count("\n"))[:15]:
            out[d.id] = d.text
        odd = [d for d in docs if not d.text.isascii()]
        for d in rng.sample(odd, min(20, len(odd))) + rng.sample(docs, 30):
            out[d.id] = d.text
    for i, text in enumerate(EDGE_PAGES):
        out[f"edge{i}"] = text
    return out


def _queries(text: str, rng: random.Random) -> list[str]:
    words = _reference_tokens(text)
    picked = rng.sample(words, min(6, len(words)))
    return GENERIC + picked + [w + "s" for w in picked[:3]] + [" ".join(picked[:4])]


def _reference_rank(parts: list[str], query: str) -> list[int]:
    """BM25 as first written: one `Counter` of `_reference_tokens` per passage."""
    terms = T.query_terms(query)
    if not terms or not parts:
        return list(range(len(parts)))
    docs = [Counter(_reference_tokens(p)) for p in parts]
    n = len(docs)
    lengths = [d.total() for d in docs]
    avg = sum(lengths) / n or 1.0
    df = {t: sum(1 for d in docs if t in d) for t in terms}
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in terms}
    scores = []
    for i, d in enumerate(docs):
        s = 0.0
        for t in terms:
            f = d.get(t, 0)
            if f:
                s += idf[t] * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * lengths[i] / avg))
        scores.append((-round(s, 9), i))
    return [i for _, i in sorted(scores)]


def test_passage_analysis_matches_tokenising_each_passage(pages):
    """Passages, their lower-cased texts, the passages holding each query term (memoised
    or not), each term's count per passage, token counts, BM25 order and snippets equal
    the plain definitions, page by page."""
    rng = random.Random(11)
    T.analysed_passages.cache_clear()
    wide = 0
    for doc_id, text in pages.items():
        parts = T.passages(text)
        page = T.analysed_passages(text)
        assert page.parts == parts and page.n == len(parts), doc_id
        assert [page.part(i) for i in range(page.n)] == parts
        assert [page.lower(i) for i in range(page.n)] == [p.lower() for p in parts]
        toks = [_reference_tokens(p) for p in parts]
        assert list(page.token_counts()) == [len(t) for t in toks]
        wide += page.n > 256
        for q in _queries(text, rng):
            for t in T.query_terms(q):
                holding = [i for i, tk in enumerate(toks) if t in tk]
                assert list(page.where(t)) == holding, (doc_id, t)
                assert list(page.where(t)) == holding  # memoised
                counts = {i: Counter(tk)[t] for i, tk in enumerate(toks) if t in tk}
                assert page.frequencies(t) == counts, (doc_id, t)
            ranked = _reference_rank(parts, q)
            assert T.rank_passages(parts, q, text=text) == ranked, (doc_id, q)
            assert T.rank_passages(list(parts), q) == ranked
            for size in (240, 40):
                snip = T.snippet(text, q, size)
                T.analysed_passages.cache_clear()
                assert T.snippet(text, q, size) == snip  # from a fresh analysis
    assert wide >= 1
    assert T.analysed_passages(EDGE_PAGES[1]).ostarts is not None  # lengths differ


def test_rank_passages_of_parts_holding_newlines():
    """Parts not from `passages` may hold a line break; it separates words as a space."""
    parts = ["gene a\ngene", "b gene\nc", "nothing here", "gene"]
    assert T.rank_passages(parts, "gene c") == _reference_rank(parts, "gene c")


def test_the_memoised_analysis_is_invisible_to_the_garbage_collector(pages):
    """A memoised page (ASCII or not, up to 256 passages) and its term memo are untracked,
    so filling or evicting the memo never adds to a collection's work."""
    T.analysed_passages.cache_clear()
    for doc_id, text in pages.items():
        page = T.analysed_passages(text)
        for t in T.query_terms("gene abnormality inheritance " + text[:200]):
            page.where(t)
        page.token_counts()
        if page.n <= 256:
            assert not gc.is_tracked(page) and not gc.is_tracked(page.memo), doc_id
            assert not any(gc.is_tracked(v) for v in page.memo.values()), doc_id

"""Search-index contract: both backends, the same small real slice of the HPO graph."""

from __future__ import annotations

import pytest

from medenv.corpus.build import build_corpus
from medenv.corpus.document import Document
from medenv.corpus.index import open_index
from medenv.kg.graph import KnowledgeGraph

SEEDS = ("OMIM:619340", "HP:0001250", "NCBIGene:4905", "HP:0000006")


def make_slice(kg: KnowledgeGraph, seeds=SEEDS, per_seed: int = 40) -> KnowledgeGraph:
    """A real subgraph: the seeds, up to ``per_seed`` neighbours each (by id), all edges
    among them."""
    keep: set[str] = set(seeds)
    for s in seeds:
        keep.update(sorted(kg.neighbors(s))[:per_seed])
    small = KnowledgeGraph("hpo-slice", kg.version, kg.relations.values())
    for node_id in sorted(keep):
        small.add_node(kg.node(node_id))
    for node_id in sorted(keep):
        for e in kg.out_edges(node_id):
            if e.target in keep:
                small.add_edge(e.source, e.target, e.relation, **e.attrs)
    return small


@pytest.fixture(scope="session")
def slice_kg(kg):
    return make_slice(kg)


@pytest.fixture(scope="session")
def slice_corpus(slice_kg):
    return build_corpus(slice_kg, seed=0)


@pytest.fixture(scope="session", params=["tantivy", "whoosh"])
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def all_indexes(slice_corpus):
    """Per backend: the medical and the web index of the slice."""
    return {
        b: {c: open_index(slice_corpus.collection(c), b) for c in ("medical", "web")}
        for b in ("tantivy", "whoosh")
    }


@pytest.fixture(scope="session")
def indexes(all_indexes):
    """Per backend: the medical index."""
    return {b: ix["medical"] for b, ix in all_indexes.items()}


def test_slice_is_real_and_small(slice_kg, slice_corpus):
    assert 50 < slice_kg.num_nodes < 300
    assert len(slice_corpus.medical) == slice_kg.num_nodes
    assert len(slice_corpus.web) > len(slice_corpus.medical)


@pytest.mark.parametrize("collection", ["medical", "web"])
def test_exact_title_query_finds_that_page_first(all_indexes, backend, slice_corpus, collection):
    index = all_indexes[backend][collection]
    docs = slice_corpus.collection(collection)
    titles: dict[str, int] = {}
    for d in docs:
        titles[d.title.casefold()] = titles.get(d.title.casefold(), 0) + 1
    checked = 0
    for d in docs[::2]:
        if titles[d.title.casefold()] > 1:
            continue
        hits = index.search(d.title, top_k=3)
        assert hits[0].doc_id == d.id, (backend, d.title, hits[:2])
        assert hits[0].title == d.title and hits[0].url == d.url
        checked += 1
    assert checked > 25


@pytest.mark.parametrize("collection", ["medical", "web"])
def test_backends_agree_on_exact_title_top_hit(all_indexes, slice_corpus, collection):
    for d in slice_corpus.collection(collection):
        tops = {
            b: ix[collection].search(d.title, top_k=1)[0].doc_id for b, ix in all_indexes.items()
        }
        assert tops["tantivy"] == tops["whoosh"], (d.title, tops)


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced quote',
        "title:Seizure AND (text:gene OR -x) NOT y^2 z~1 a* ?b [1 TO 5] {x} \\ / !",
        "Séizure ñ 日本語 ⚕️ 🧬 ß İ",
        "AND OR NOT",
        "    ",
        "",
        "-" * 300,
        "x" * 5000,
        "'; DROP TABLE docs; --",
        "\x00\x01\t\n",
    ],
)
def test_any_query_text_never_raises(indexes, backend, query):
    hits = indexes[backend].search(query, top_k=5)
    assert len(hits) <= 5


def test_blank_or_symbol_only_query_returns_nothing(indexes, backend):
    assert indexes[backend].search("?!() ** --", 5) == []


def test_ties_are_ordered_by_doc_id(tmp_path, backend):
    ids = ["d:07", "d:03", "d:11", "d:01", "d:05", "d:09"]
    docs = [
        Document(id=i, title="Same page", text="alpha beta gamma", url=f"u/{i}", collection="web")
        for i in ids
    ]
    docs.append(Document(id="d:00", title="Other", text="delta", url="u/0", collection="web"))
    index = open_index(docs, backend, tmp_path / backend)
    hits = index.search("beta", top_k=4)
    assert [h.doc_id for h in hits] == ["d:01", "d:03", "d:05", "d:07"]
    assert len({h.score for h in hits}) == 1
    assert [h.doc_id for h in index.search("beta", top_k=10)] == sorted(ids)


def test_title_outranks_body_mention(indexes, backend, slice_corpus):
    hits = indexes[backend].search("Seizure", top_k=5)
    assert hits[0].doc_id == "med:HP:0001250"


def test_snippet_is_the_matching_passage(indexes, backend, slice_corpus):
    page = slice_corpus.get("med:OMIM:619340")
    hits = indexes[backend].search("Developmental and epileptic encephalopathy 96 gene", 10)
    hit = next(h for h in hits if h.doc_id == page.id)
    assert "gene" in hit.snippet and "NSF" in hit.snippet
    assert hit.snippet in page.text or hit.snippet.strip(".") in page.text


def test_top_k_is_respected(indexes, backend):
    for k in (1, 3, 7):
        assert len(indexes[backend].search("syndrome", top_k=k)) == k


def test_index_is_persistent_and_rebuilt_only_on_change(tmp_path, backend, slice_corpus):
    docs = slice_corpus.medical[:40]
    path = tmp_path / "ix"
    first = open_index(docs, backend, path)
    stamp = (path / "READY").stat().st_mtime_ns
    again = open_index(list(reversed(docs)), backend, path)
    assert (path / "READY").stat().st_mtime_ns == stamp
    assert [h.doc_id for h in again.search(docs[5].title)] == [
        h.doc_id for h in first.search(docs[5].title)
    ]
    changed = docs[:-1]
    open_index(changed, backend, path)
    assert (path / "READY").stat().st_mtime_ns != stamp
    assert docs[-1].id not in {
        h.doc_id for h in open_index(changed, backend, path).search(docs[-1].title, 20)
    }


def test_default_index_lives_under_medenv_home_and_is_reused(
    tmp_path, monkeypatch, backend, slice_corpus
):
    from medenv.corpus.index import INDEX_VERSION, docs_fingerprint

    monkeypatch.setenv("MEDENV_HOME", str(tmp_path))
    docs = slice_corpus.medical[:20]
    index = open_index(docs, backend)
    assert index.path.parent == tmp_path / "index" / backend
    ready = index.path / "READY"
    assert (
        index.stamp == ready.read_text() == f"{INDEX_VERSION}|{backend}|{docs_fingerprint(docs)}|20"
    )
    built = ready.stat().st_mtime_ns
    again = open_index(list(reversed(docs)), backend)  # same pages: opened, not rebuilt
    assert again.path == index.path and again.stamp == index.stamp
    assert ready.stat().st_mtime_ns == built
    other = open_index(docs[:-1], backend)  # changed pages: a new index beside it
    assert other.path != index.path and other.stamp != index.stamp


def test_unknown_backend_is_a_clear_error(slice_corpus):
    from medenv.errors import MedenvError

    with pytest.raises(MedenvError, match="unknown search backend 'lucene'"):
        open_index(slice_corpus.medical, "lucene")


def _reference_tokens(text: str) -> list[str]:
    """The tokenizer's contract written out plainly (no memo)."""
    import re

    out = []
    for word in re.findall(r"[^\W_]+", text.lower()):
        if len(word.encode("utf-8")) >= 40:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        out.append(word)
    return out


def _reference_snippet_part(text: str, query: str) -> str:
    from medenv.corpus import text as T

    parts, terms = T.passages(text), set(T.query_terms(query))
    hits = [len(terms.intersection(_reference_tokens(p))) for p in parts]
    return parts[hits.index(max(hits))] if parts else ""


def test_memoised_analysis_matches_the_plain_definitions(slice_corpus, monkeypatch):
    """Term memo, per-page passage memo and once-per-search query analysis change no result
    (also when the memos are cleared or evicted mid-way)."""
    from medenv.corpus import text as T

    docs = sorted(slice_corpus.medical + slice_corpus.web, key=lambda d: d.id)[::7]
    odd = "Seizures, status bus; αβ-Synucleins ÄÖs " + "x" * 45 + " " + "é" * 20 + " a_b 日本語"
    monkeypatch.setattr(T, "_TERMS_MAX", 50)  # force the term memo to clear repeatedly
    queries = ["gene", "mode of inheritance", "Seizures status", "the of", "αβ synuclein"]
    for d in docs:
        for text in (d.text, odd):
            assert T.tokens(text) == _reference_tokens(text)
        parts = T.passages(d.text)
        assert T.analysed_passages(d.text).parts == parts
        for q in queries:
            assert T.rank_passages(parts, q, text=d.text) == T.rank_passages(list(parts), q)
            snip = T.snippet(d.text, q, max_chars=10_000)
            assert snip == _reference_snippet_part(d.text, q)
            assert T.snippet_for_terms(d.text, T.query_terms(q)) == T.snippet(d.text, q)
    before = [T.snippet(d.text, "gene disease") for d in docs]
    T.analysed_passages.cache_clear()
    assert [T.snippet(d.text, "gene disease") for d in docs] == before
    assert T.analysed_passages.cache_info().maxsize == T.PASSAGE_CACHE_SIZE  # bounded


def _reference_snippet(text: str, query: str, max_chars: int = 240) -> str:
    """The snippet as first specified: tokenise every passage (`_reference_tokens`), take
    the first passage sharing most terms with the query, cut around its first match."""
    from medenv.corpus import text as T

    parts = T.passages(text)
    if not parts:
        return ""
    terms = list(dict.fromkeys(_reference_tokens(query)))
    stop = set(T.STOPWORDS)
    terms = [t for t in terms if t not in stop] or terms
    hits = [len(set(terms) & set(_reference_tokens(p))) for p in parts]
    best = max(hits)
    part = parts[hits.index(best)]
    if len(part) <= max_chars:
        return part
    start = 0
    found = [p for p in (part.lower().find(t) for t in terms) if p >= 0] if best else []
    if found:
        start = max(0, min(found) - max_chars // 4)
        space = part.rfind(" ", 0, start)
        start = space + 1 if space >= 0 and start > 0 else start
    end = start + max_chars
    if end < len(part):
        space = part.rfind(" ", start, end)
        end = space if space > start else end
    cut = part[start:end].rstrip()
    return ("..." if start else "") + cut + ("..." if end < len(part) else "")


def test_snippets_match_tokenising_every_passage_on_many_real_queries(slice_kg, slice_corpus):
    """Snippets find terms with `str.find` instead of tokenising passages: on every page of
    the slice and ~400 real queries (entity names, their words singular and plural, random
    word triples, Unicode and underscore edge cases) the snippet equals the first
    specification's, including the cut, with the passage memo cleared half-way."""
    import random

    from medenv.corpus import text as T

    rng = random.Random(7)
    names = sorted(n.name for n in slice_kg.nodes())
    words = sorted({w for name in names for w in _reference_tokens(name)})
    queries = rng.sample(names, min(120, len(names)))
    queries += [" ".join(rng.sample(words, 3)) for _ in range(120)]
    some = rng.sample(words, min(60, len(words)))
    queries += [w + "s" for w in some] + [w[:-1] for w in some]
    queries += ["seizures", "status", "bus", "αβ-synucleins", "a_b", "x" * 39 + "s", "the of"]
    docs = sorted(slice_corpus.medical + slice_corpus.web, key=lambda d: d.id)
    odd = Document(
        id="odd", title="odd", url="u", collection="web",
        text="Seizures_status; bus BUSES αβ-Synucleins ÄÖs\n" + "x" * 39 + "s x" * 40 + " 日本語",
    )  # fmt: skip
    checked = 0
    for n, q in enumerate(queries):
        if n == len(queries) // 2:
            T.analysed_passages.cache_clear()
        for d in [*rng.sample(docs, 25), odd]:
            for size in (240, 60):
                assert T.snippet(d.text, q, size) == _reference_snippet(d.text, q, size), (d.id, q)
                checked += 1
    assert checked > 15_000


def test_search_ranks_only_the_contenders_of_the_top_k():
    """`_contenders` keeps every hit that can be among the top k by (score rounded to 5
    places, doc id): the top k of the full ordering, computed here over all hits, are the
    top k of the contenders, on hit lists with many near-ties at the cut."""
    import random

    from medenv.corpus.index import _contenders

    rng = random.Random(5)
    for _ in range(2000):
        n = rng.randrange(0, 25)
        base = [rng.choice((1.0, 2.5, 3.000001, 3.0000049, 3.0, 7.25)) for _ in range(n)]
        raw = [(s + rng.choice((0.0, 1e-7, 4e-6)), pos) for pos, s in enumerate(base)]
        rng.shuffle(raw)
        k = rng.randrange(1, 8)
        ids = {pos: f"doc-{rng.randrange(100):02d}-{pos}" for pos in range(n)}

        def top(hits, ids=ids, k=k):
            return sorted((-round(s, 5), ids[p], p) for s, p in hits)[:k]

        kept = _contenders(list(raw), k)
        assert top(kept) == top(raw)
        assert len(kept) <= len(raw)

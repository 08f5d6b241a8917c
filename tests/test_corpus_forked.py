"""The corpus and its indexes built in two processes (`medenv.corpus.forked`) are the serial
build's, and a failure in the forked half surfaces as one error (`medenv.forking.beside`).

The reference is the serial path that existed before: `build_corpus` renders every page in
one loop and `open_index` builds each index from the pages alone; the forked build splits
pages and index files over two processes. On a real slice of the HPO graph (with
external pages in both collections) the two must give the same pages (compared as encoded
bytes), fingerprint, index stamps and ranked search results (id, score, snippet) for
queries read off the pages themselves. Also: a graph built cold is returned holding the
compact form the cache stores (`KnowledgeGraph.hold_compact`), as a graph read back is, and
`Adjacency` (read from that form) groups every entity's neighbours as the networkx view does.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os

import msgspec
import pytest

from medenv.corpus.build import build_corpus, corpus_file, read_cached
from medenv.corpus.external import ExternalSource
from medenv.corpus.facts import Adjacency
from medenv.corpus.forked import indexed_corpus
from medenv.corpus.index import open_index
from medenv.errors import MedenvError
from medenv.forking import beside, can_fork_child
from tests.test_search import make_slice

pytestmark = pytest.mark.skipif(not can_fork_child(), reason="needs fork (Linux)")


@pytest.fixture(scope="module")
def slice_kg(kg):
    return make_slice(kg)


@pytest.fixture(scope="module")
def external(tmp_path_factory):
    folder = tmp_path_factory.mktemp("external")
    sources = []
    for collection in ("medical", "web"):
        path = folder / f"{collection}.jsonl"
        rows = [
            {"id": f"{collection}-{i}", "title": f"Case report {i}", "text": f"Seizures {i}."}
            for i in range(3)
        ]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        sources.append(ExternalSource(str(path), collection))
    return tuple(sources)


def _queries(corpus) -> list[str]:
    """Titles and text lines of every 7th page of each collection, and a few phrases."""
    out = ["seizures", "autosomal dominant inheritance gene", "forum thread"]
    for docs in (corpus.medical, corpus.web):
        for d in docs[::7]:
            out += [d.title, d.text.splitlines()[-1]]
    return out


def _results(corpus, medical, web) -> list:
    return [
        [(h.doc_id, h.score, h.snippet) for h in index.search(q, 8)]
        for q in _queries(corpus)
        for index in (medical, web)
    ]


@pytest.mark.parametrize("backend", ["tantivy", "whoosh"])
def test_forked_build_equals_the_serial_one(slice_kg, external, tmp_path, monkeypatch, backend):
    enc = msgspec.msgpack.Encoder()
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path / "serial"))
    reference = build_corpus(slice_kg, seed=3, external=external)
    ref_indexes = [
        open_index(reference.collection(n), backend, fingerprint=f"{n}-{reference.fingerprint}")
        for n in ("medical", "web")
    ]
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path / "forked"))
    corpus, medical, web, adj = indexed_corpus(
        slice_kg, 3, backend, external=external, progress=False, fork=True
    )
    assert adj is not None and adj.kg is slice_kg  # built here: the pages' adjacency
    assert enc.encode(corpus.medical) == enc.encode(reference.medical)
    assert enc.encode(corpus.web) == enc.encode(reference.web)
    assert any(d.id.startswith("ext:") for d in corpus.medical)
    assert any(d.id.startswith("ext:") for d in corpus.web)
    assert corpus.fingerprint == reference.fingerprint
    assert (medical.stamp, web.stamp) == tuple(i.stamp for i in ref_indexes)
    assert (len(medical), len(web)) == (len(reference.medical), len(reference.web))
    found = _results(corpus, medical, web)
    assert found == _results(reference, *ref_indexes)
    assert sum(map(bool, found)) > len(found) // 2  # the queries do find pages
    assert [index.search_ids(q, 8) for q in _queries(corpus) for index in (medical, web)] == [
        [doc_id for doc_id, _, _ in hits] for hits in found
    ]
    # nothing half-built is left beside the indexes; the corpus is cached as built
    index_dir = tmp_path / "forked" / "index" / backend
    assert sorted(p.name for p in index_dir.iterdir()) == sorted(
        p.name for p in (medical.path, web.path)
    )
    assert all((p / "READY").is_file() for p in (medical.path, web.path))
    cached = read_cached(corpus_file(slice_kg, 3, external))
    assert cached is not None and cached.fingerprint == corpus.fingerprint
    # a second call reads the caches (no adjacency: nothing was rendered)
    again = indexed_corpus(slice_kg, 3, backend, external=external, progress=False, fork=True)
    assert again[3] is None and enc.encode(again[0].web) == enc.encode(reference.web)
    assert again[1].path == medical.path and again[1].stamp == medical.stamp


def test_serial_build_is_the_same_too(slice_kg, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path))
    corpus, medical, web, _ = indexed_corpus(slice_kg, 0, "tantivy", progress=False, fork=False)
    assert corpus.fingerprint == build_corpus(slice_kg, seed=0).fingerprint
    assert medical.stamp.endswith(f"|medical-{corpus.fingerprint}|{len(corpus.medical)}")


# -- beside: the fork helper ---------------------------------------------------------------
def _boom() -> bytes:
    raise ValueError("no such page")


def test_an_error_in_the_child_is_one_error_in_the_parent():
    with pytest.raises(MedenvError, match=r"building X failed in its worker.*ValueError: no such"):
        beside(_boom, lambda: 1, "building X")
    assert not mp.active_children()


def test_a_child_that_dies_is_an_error_not_a_hang():
    with pytest.raises(MedenvError, match=r"building Y failed: .*died.*exit code 7"):
        beside(lambda: os._exit(7), lambda: 1, "building Y")
    assert not mp.active_children()


def test_the_parents_error_stops_the_child():
    def parent() -> int:
        raise KeyError("parent half")

    def child() -> bytes:
        import time

        time.sleep(60)
        return b""

    with pytest.raises(KeyError, match="parent half"):
        beside(child, parent, "building Z")
    assert not mp.active_children()


def test_both_halves_answer():
    got = beside(lambda: bytes(range(5)) * 100_000, lambda: os.getpid(), "a job")
    assert got == (bytes(range(5)) * 100_000, os.getpid())


# -- a graph built cold holds its compact form, as one read from the cache does ---------
def test_a_cold_built_graph_is_the_cached_one(shared_data, tmp_path, monkeypatch):
    import pickle

    from medenv.kg.cache import cache_file, load_kg

    monkeypatch.setenv("MEDENV_HOME", str(tmp_path))
    folder = shared_data / "hetionet-slice"
    built = load_kg("hetionet", folder, progress=False)
    assert built._graph is None  # the compact form only: made once, by the build
    with cache_file("hetionet", folder).open("rb") as fh:
        read = pickle.load(fh)
    assert read._graph is None and read.compact_form() == built.compact_form()
    assert sorted(built._by_name) == sorted(read._by_name)
    assert read.num_edges == built.num_edges > 0


def _networkx_groups(kg, entity: str) -> dict:
    """The reference: an entity's neighbours by (relation, inverse) read off networkx."""
    out: dict = {}
    for _, target, key in kg.graph.out_edges(entity, keys=True):
        out.setdefault((key, False), set()).add(target)
    for source, _, key in kg.graph.in_edges(entity, keys=True):
        out.setdefault((key, True), set()).add(source)
    return {k: sorted(v) for k, v in sorted(out.items())}


@pytest.mark.parametrize("graph", ["hpo-slice", "hetionet-slice"])
def test_adjacency_groups_as_networkx_does(graph, slice_kg, shared_data):
    from medenv.kg.cache import load_kg

    if graph == "hpo-slice":
        kg = slice_kg
    else:  # a graph read from the cache (the session's): compact, no networkx view
        kg = load_kg("hetionet", shared_data / "hetionet-slice", progress=False)
    adj = Adjacency(kg)
    assert kg._graph is None or graph == "hpo-slice"  # Adjacency built no networkx view
    ids = sorted(n.id for n in kg.nodes())
    got = {e: adj.groups(e) for e in ids}
    assert adj.degree == dict(kg.graph.degree())
    want = {e: _networkx_groups(kg, e) for e in ids}
    assert got == want
    assert all(list(got[e]) == list(want[e]) for e in ids)  # the groups' order too
    assert sum(len(v) for g in got.values() for v in g.values()) == 2 * kg.num_edges

"""The corpus and its two search indexes, built in two processes (a cold start's world).

`indexed_corpus(kg, seed, backend)` returns what `medenv.world.load_world` needs of a
corpus: the corpus (from ``$MEDENV_HOME/corpus/`` or built and stored there, as
`medenv.corpus.build.cached_corpus`), its medical index and its web index (from
``$MEDENV_HOME/index/``, built when missing, as `medenv.corpus.index.open_index`).

When the corpus must be built and a child process can be forked
(`medenv.forking.can_fork_child`), the job is cut in two halves of about equal cost that
run at once (`medenv.forking.beside`): a forked child renders the medical pages and
writes their index files; this process renders the web pages and writes theirs. Both
halves render from one `Adjacency` built before the fork, with the same pure functions
as `build_corpus`, and write the index files of the same pages in the same order, so the
result is the serial one: the same pages, fingerprint, index stamps and search results
(checked by tests/test_corpus_forked.py). The index folders are built under temporary
names and moved into place only once the corpus fingerprint (over both collections) is
known. A failure in either half raises one error here (`beside`) and leaves no index or
corpus file behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import msgspec

from medenv.corpus.build import (
    Corpus,
    collection_pages,
    corpus_file,
    corpus_of,
    entity_ids,
    read_cached,
    write_cached,
)
from medenv.corpus.document import Document
from medenv.corpus.external import read_sources
from medenv.corpus.facts import Adjacency
from medenv.corpus.index import SearchIndex, build_files, check_backend, open_index
from medenv.forking import beside, can_fork_child
from medenv.kg.graph import KnowledgeGraph
from medenv.paths import medenv_home

Built = tuple[Corpus, SearchIndex, SearchIndex]


def indexed_corpus(
    kg: KnowledgeGraph,
    seed: int = 0,
    backend: str = "tantivy",
    external: Sequence = (),
    progress: bool = True,
    fork: bool | None = None,
) -> tuple[Corpus, SearchIndex, SearchIndex, Adjacency | None]:
    """``(corpus, medical index, web index, adjacency)`` of ``kg`` through the caches (see
    the module docstring). ``adjacency`` is the one the pages were rendered from when they
    were built here (None when the corpus came from its cache). ``fork``: split a build
    over two processes (None: where `can_fork_child`; False: serially, in this one)."""
    check_backend(backend)  # before a fork, not in both halves
    file = corpus_file(kg, seed, external)
    corpus = read_cached(file)
    adj = None
    if corpus is not None:
        medical, web = (_open(corpus, name, backend, progress) for name in ("medical", "web"))
    else:
        adj = Adjacency(kg)
        fork = can_fork_child() if fork is None else fork
        build = _build_forked if fork else _build_serial
        corpus, medical, web = build(adj, seed, backend, read_sources(external), progress)
        write_cached(file, corpus)
    return corpus, medical, web, adj


def _open(corpus: Corpus, name: str, backend: str, progress: bool, built=None) -> SearchIndex:
    """`medenv.world.World.from_corpus`'s index of collection ``name``."""
    return open_index(
        corpus.collection(name),
        backend,
        fingerprint=f"{name}-{corpus.fingerprint}",
        progress=progress,
        built=built,
    )


def _build_serial(adj: Adjacency, seed: int, backend: str, extra, progress: bool) -> Built:
    corpus = corpus_of(adj, seed, extra, progress)
    return (
        corpus,
        _open(corpus, "medical", backend, progress),
        _open(corpus, "web", backend, progress),
    )


def _build_forked(
    adj: Adjacency, seed: int, backend: str, extra: list[Document], progress: bool
) -> Built:
    ids = entity_ids(adj.kg)
    base = medenv_home() / "index" / backend
    folders = {n: base / f".build-{n}-{os.getpid()}" for n in ("medical", "web")}
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)

    def medical_half() -> bytes:
        docs = collection_pages(adj, ids, "medical", seed, extra)
        build_files(docs, backend, folders["medical"])
        return msgspec.msgpack.encode(docs)

    def web_half() -> list[Document]:
        docs = collection_pages(adj, ids, "web", seed, extra, progress)
        build_files(docs, backend, folders["web"], progress=progress)
        return docs

    try:
        encoded, web = beside(medical_half, web_half, "building the medical pages and index")
        medical = msgspec.msgpack.decode(encoded, type=list[Document])
        corpus = Corpus(medical, web, seed=seed)
        indexes = [_open(corpus, n, backend, progress, folders[n]) for n in ("medical", "web")]
    finally:
        for folder in folders.values():  # moved into place by now, unless something failed
            shutil.rmtree(folder, ignore_errors=True)
    return corpus, indexes[0], indexes[1]

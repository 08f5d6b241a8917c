"""`SearchIndex`: BM25 search over one collection, with two backends (tantivy, whoosh).

Contract (both backends, checked by the same tests):
- Ranking is BM25 over two fields, ``title`` (boost `TITLE_BOOST`) and ``text``, plus a
  bonus field holding the whole normalised title, so a query equal to a page's title puts
  that page first.
- Queries are tokenised by `medenv.corpus.text.tokens` and turned into term queries;
  they are never parsed as query syntax, so quotes, operators, Unicode and punctuation
  cannot raise. A query with no terms returns no hits.
- Results are ordered by score (rounded to 5 significant decimals), ties by doc id.
- Snippets are the page passage matching most query terms (`medenv.corpus.text.snippet`;
  each page's passages are analysed once and memoised, see `analysed_passages`).
- An index is persistent on disk in ``path`` (default
  ``$MEDENV_HOME/index/<backend>/<fingerprint>``) and rebuilt only when the documents'
  fingerprint differs from the one recorded there. ``SearchIndex.stamp`` is that record
  (``INDEX_VERSION|backend|fingerprint|pages``): it identifies the index's content.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path

import msgspec

from medenv.corpus.document import Document, SearchHit
from medenv.corpus.text import analyzed, query_terms, snippet_for_terms
from medenv.errors import MedenvError
from medenv.paths import medenv_home

BACKENDS = ("tantivy", "whoosh")
TITLE_BOOST = 2.0
EXACT_TITLE_BOOST = 10.0
INDEX_VERSION = "2"
_EXTRA = 16  # hits fetched beyond top_k so ties at the cut are ordered by id


def docs_fingerprint(docs: Sequence[Document]) -> str:
    """sha256 over the pages in id order (the order given does not matter)."""
    h = hashlib.sha256(INDEX_VERSION.encode())
    enc = msgspec.msgpack.Encoder()
    for d in sorted(docs, key=lambda d: d.id):
        h.update(enc.encode(d))
    return h.hexdigest()


class SearchIndex:
    """Search over ``docs`` (kept in memory for snippets); subclasses implement `_raw`."""

    backend = ""

    def __init__(self, docs: Sequence[Document], path: Path) -> None:
        self.docs = sorted(docs, key=lambda d: d.id)
        self.path = path
        self._by_id = {d.id: d for d in self.docs}
        self.stamp = ""  # set by `open_index`: what the index was built from

    def __len__(self) -> int:
        return len(self.docs)

    def _raw(self, terms: list[str], exact: str, limit: int) -> list[tuple[float, int]]:
        """``(score, position in self.docs)`` of the best ``limit`` matches."""
        raise NotImplementedError

    def _ranked(self, terms: list[str], top_k: int) -> list[tuple[float, str, int]]:
        """``(-score, doc id, position)`` of the ``top_k`` best pages, best first."""
        raw = _contenders(self._raw(terms, " ".join(terms), top_k + _EXTRA), top_k)
        docs = self.docs
        return sorted([(-round(score, 5), docs[pos].id, pos) for score, pos in raw])[:top_k]

    def search(self, query: str, top_k: int = 5) -> list[SearchHit]:
        """The ``top_k`` best pages for ``query`` (fewer when fewer match)."""
        terms = query_terms(query)
        if not terms or top_k < 1:
            return []
        docs = self.docs
        return [
            SearchHit(
                doc_id=d.id,
                title=d.title,
                url=d.url,
                snippet=snippet_for_terms(d.text, terms),
                score=-neg,
            )
            for neg, _id, pos in self._ranked(terms, top_k)
            for d in (docs[pos],)
        ]

    def search_ids(self, query: str, top_k: int = 5) -> list[str]:
        """The ids of `search`'s hits, in its order, without making their snippets (what
        the answerability and search-shortcut checks read: cheaper)."""
        terms = query_terms(query)
        if not terms or top_k < 1:
            return []
        return [doc_id for _neg, doc_id, _pos in self._ranked(terms, top_k)]

    def close(self) -> None:  # noqa: B027 - optional for backends
        pass


def _contenders(raw: list[tuple[float, int]], top_k: int) -> list[tuple[float, int]]:
    """The hits that can be among the ``top_k`` best by (score rounded to 5 places, then
    doc id): the best-scoring hits down to the ``top_k``-th one's rounded score and every
    hit that ties it, so only those are rounded and ordered by id (rounding keeps order)."""
    if len(raw) <= top_k:
        return raw
    raw = sorted(raw, key=itemgetter(0), reverse=True)
    cut = round(raw[top_k - 1][0], 5)
    n = top_k
    while n < len(raw) and round(raw[n][0], 5) >= cut:
        n += 1
    return raw[:n]


def default_index_path(backend: str, fingerprint: str) -> Path:
    return medenv_home() / "index" / backend / fingerprint[:24]


def index_fields(doc: Document) -> tuple[str, str, str]:
    """(title terms, text terms, exact title) as stored by every backend."""
    title = analyzed(doc.title)
    return title, analyzed(doc.text), " ".join(query_terms(doc.title))


def check_backend(backend: str) -> None:
    """`MedenvError` (one line) unless ``backend`` is one of `BACKENDS`."""
    if backend not in BACKENDS:
        raise MedenvError(
            f"unknown search backend {backend!r}; choose one of {', '.join(BACKENDS)}"
        )


def build_files(docs: Sequence[Document], backend: str, folder: Path, progress: bool = False):
    """Write the index files of ``docs`` into the new folder ``folder`` (no READY stamp:
    `open_index` with ``built=folder`` moves them into place)."""
    folder.mkdir(parents=True)
    _module(backend).build(sorted(docs, key=lambda d: d.id), folder, progress=progress)


def open_index(
    docs: Sequence[Document],
    backend: str = "tantivy",
    path: str | Path | None = None,
    *,
    fingerprint: str | None = None,
    progress: bool = False,
    built: Path | None = None,
) -> SearchIndex:
    """Open the index of ``docs`` at ``path``, building it first when missing or stale.
    ``built``: a folder where `build_files` already wrote the index of these ``docs``
    (e.g. in another process); it is moved into place, or deleted when the index is
    already there."""
    check_backend(backend)
    fingerprint = fingerprint or docs_fingerprint(docs)
    path = Path(path) if path else default_index_path(backend, fingerprint)
    ready = path / "READY"
    stamp = f"{INDEX_VERSION}|{backend}|{fingerprint}|{len(docs)}"
    if ready.is_file() and ready.read_text() == stamp:
        if built is not None:
            shutil.rmtree(built, ignore_errors=True)
    else:
        tmp = built or path.with_name(f"{path.name}.tmp{os.getpid()}")
        try:
            if built is None:
                shutil.rmtree(tmp, ignore_errors=True)
                build_files(docs, backend, tmp, progress=progress)
            (tmp / "READY").write_text(stamp)
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(tmp, path)
            except OSError:  # another process finished the same index first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    index = _module(backend).open(docs, path)
    index.stamp = stamp
    return index


def _module(backend: str):
    if backend == "tantivy":
        from medenv.corpus import tantivy_index

        return tantivy_index
    from medenv.corpus import whoosh_index

    return whoosh_index

"""The whoosh backend of `SearchIndex` (pure Python, via the `whoosh-reloaded` fork)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm
from whoosh import index as windex
from whoosh import query as wquery
from whoosh import scoring
from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.fields import ID, NUMERIC, TEXT, Schema

from medenv.corpus.document import Document
from medenv.corpus.index import EXACT_TITLE_BOOST, TITLE_BOOST, SearchIndex, index_fields


def _schema() -> Schema:
    return Schema(
        pos=NUMERIC(stored=True),
        title=TEXT(analyzer=SpaceSeparatedTokenizer(), phrase=False),
        text=TEXT(analyzer=SpaceSeparatedTokenizer(), phrase=False),
        exact=ID(),
    )


def build(docs: Sequence[Document], path: Path, progress: bool = False) -> None:
    """Write the index of ``docs`` (sorted by id) into the empty folder ``path``."""
    ix = windex.create_in(str(path), _schema())
    writer = ix.writer(limitmb=256, procs=1)
    for pos, doc in enumerate(tqdm(docs, desc="whoosh index", unit="doc", disable=not progress)):
        title, text, exact = index_fields(doc)
        writer.add_document(pos=pos, title=title, text=text, exact=exact)
    writer.commit(optimize=True)


class WhooshIndex(SearchIndex):
    backend = "whoosh"

    def __init__(self, docs: Sequence[Document], path: Path) -> None:
        super().__init__(docs, path)
        self._ix = windex.open_dir(str(path))
        self._searcher = self._ix.searcher(weighting=scoring.BM25F(B=0.75, K1=1.2))

    def _raw(self, terms: list[str], exact: str, limit: int) -> list[tuple[float, int]]:
        clauses = [wquery.Term("exact", exact, boost=EXACT_TITLE_BOOST)]
        for t in terms:
            clauses.append(wquery.Term("title", t, boost=TITLE_BOOST))
            clauses.append(wquery.Term("text", t))
        results = self._searcher.search(wquery.Or(clauses), limit=limit)
        return [(float(hit.score), int(hit["pos"])) for hit in results]

    def close(self) -> None:
        self._searcher.close()


def open(docs: Sequence[Document], path: Path) -> WhooshIndex:  # noqa: A001
    return WhooshIndex(docs, path)

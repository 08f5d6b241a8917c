"""The tantivy backend of `SearchIndex` (the default: fastest measured)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import tantivy
from tqdm.auto import tqdm

from medenv.corpus.document import Document
from medenv.corpus.index import EXACT_TITLE_BOOST, TITLE_BOOST, SearchIndex, index_fields


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("pos", stored=False, indexed=False, fast=True)
    sb.add_text_field("title", tokenizer_name="whitespace", index_option="freq")
    sb.add_text_field("text", tokenizer_name="whitespace", index_option="freq")
    sb.add_text_field("exact", tokenizer_name="raw", index_option="basic")
    return sb.build()


def build(docs: Sequence[Document], path: Path, progress: bool = False) -> None:
    """Write the index of ``docs`` (sorted by id) into the empty folder ``path``."""
    index = tantivy.Index(_schema(), path=str(path), reuse=False)
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    for pos, doc in enumerate(tqdm(docs, desc="tantivy index", unit="doc", disable=not progress)):
        title, text, exact = index_fields(doc)
        tdoc = tantivy.Document()
        tdoc.add_unsigned("pos", pos)
        tdoc.add_text("title", title)
        tdoc.add_text("text", text)
        tdoc.add_text("exact", exact)
        writer.add_document(tdoc)
    writer.commit()
    writer.wait_merging_threads()


class TantivyIndex(SearchIndex):
    backend = "tantivy"

    def __init__(self, docs: Sequence[Document], path: Path) -> None:
        super().__init__(docs, path)
        self._index = tantivy.Index.open(str(path))
        self._schema = self._index.schema
        self._searcher = self._index.searcher()

    def _raw(self, terms: list[str], exact: str, limit: int) -> list[tuple[float, int]]:
        q = tantivy.Query
        schema = self._schema
        should = tantivy.Occur.Should
        clauses = [(should, q.boost_query(q.term_query(schema, "exact", exact), EXACT_TITLE_BOOST))]
        for t in terms:
            clauses.append((should, q.boost_query(q.term_query(schema, "title", t), TITLE_BOOST)))
            clauses.append((should, q.term_query(schema, "text", t)))
        hits = self._searcher.search(q.boolean_query(clauses), limit, count=False).hits
        if not hits:
            return []
        positions = self._searcher.fast_field_values("pos", [a for _, a in hits])
        return [(score, int(p)) for (score, _), p in zip(hits, positions, strict=True)]


def open(docs: Sequence[Document], path: Path) -> TantivyIndex:  # noqa: A001
    return TantivyIndex(docs, path)

"""Ingest external text: any JSONL of ``{"id", "title", "text", "url"?}`` as pages.

Each line becomes a `Document` with id ``ext:<id>`` in the chosen collection; a missing
url becomes ``https://ext.medenv.org/<collection>/<id>``. A bad line raises one
`DataError` naming the file and line; duplicate ids are errors, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

import msgspec

from medenv.corpus.document import Document
from medenv.errors import DataError
from medenv.jsonl import read_jsonl

COLLECTIONS = ("medical", "web")


class ExternalRecord(msgspec.Struct, frozen=True):
    id: str | int
    title: str
    text: str
    url: str | None = None


class ExternalSource(msgspec.Struct, frozen=True):
    """A JSONL file of external pages and the collection they join."""

    path: str
    collection: str = "web"


def read_external(path: str | Path, collection: str = "web") -> list[Document]:
    """The pages of a JSONL file, in file order."""
    path = Path(path)
    if collection not in COLLECTIONS:
        raise DataError(path, f"unknown collection {collection!r}; use 'medical' or 'web'")
    docs: list[Document] = []
    seen: dict[str, int] = {}
    for line_no, obj in read_jsonl(path):
        try:
            rec = msgspec.convert(obj, ExternalRecord)
        except msgspec.ValidationError as exc:
            raise DataError(path, f"bad record: {exc}", line_no) from None
        ident = str(rec.id).strip()
        if not ident or not rec.title.strip() or not rec.text.strip():
            raise DataError(path, "id, title and text must not be empty", line_no)
        if ident in seen:
            raise DataError(path, f"duplicate id {ident!r} (first on line {seen[ident]})", line_no)
        seen[ident] = line_no
        docs.append(
            Document(
                id=f"ext:{ident}",
                title=rec.title.strip(),
                text=rec.text.strip(),
                url=rec.url or f"https://ext.medenv.org/{collection}/{quote(ident, safe='')}",
                collection=collection,
            )
        )
    return docs


def read_sources(
    sources: Iterable[ExternalSource | tuple[str, str] | str | Path],
) -> list[Document]:
    """Pages of several sources; a bare path joins the web collection."""
    docs: list[Document] = []
    for src in sources:
        if isinstance(src, ExternalSource):
            docs += read_external(src.path, src.collection)
        elif isinstance(src, tuple):
            docs += read_external(*src)
        else:
            docs += read_external(src)
    return docs

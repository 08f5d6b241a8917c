"""`Document`: one page of a collection, and `SearchHit`: one ranked search result."""

from __future__ import annotations

import msgspec


class Document(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: str
    title: str
    text: str
    url: str
    collection: str  # "medical" or "web"
    entity_id: str | None = None  # the KG entity the page is about, when rendered from the KG


class SearchHit(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    doc_id: str
    title: str
    url: str
    snippet: str
    score: float

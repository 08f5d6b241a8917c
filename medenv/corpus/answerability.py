"""Answerability: can each hop of a question be found with the tools?

For a `QAItem` whose ``hops`` walk KG edges, hop ``i`` is *answerable* when

1. some page states the hop's fact (the KG edge between ``head`` and ``tail``): a page
   about either entity whose rendered facts (recomputed by `medenv.corpus.pages.page_facts`)
   include that edge; and
2. searching for the hop's known entity (``head``) by its name, in the medical or the web
   collection, ranks one of those pages in the top `TOP_K`.

`hop_evidence(world, item)` returns, per hop, the ids of all pages stating its fact (the
gold evidence), or ``None`` when any hop is not answerable. It never raises for items
whose ids are not in the graph (they are simply unanswerable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import msgspec

from medenv.corpus.pages import page_facts
from medenv.qa import Hop, QAItem

TOP_K = 5
T = TypeVar("T")


class Report(msgspec.Struct, frozen=True):
    total: int
    answerable: int
    share: float
    failed_hops: dict[str, int] = {}  # relation -> hops that were not answerable


def _edge(hop: Hop) -> tuple[str, str, str]:
    if hop.inverse:
        return (hop.tail, hop.relation, hop.head)
    return (hop.head, hop.relation, hop.tail)


def stating_pages(world, hop: Hop) -> tuple[str, ...]:
    """Ids of the pages (medical first, then web; each by id) that state ``hop``'s fact."""
    edge = _edge(hop)
    ids: list[str] = []
    for entity in dict.fromkeys((hop.head, hop.tail)):
        for doc in world.corpus.pages_about(entity):
            if doc.id not in ids and edge in _page_facts(world, doc.id):
                ids.append(doc.id)
    return tuple(sorted(ids, key=lambda i: (not i.startswith("med:"), i)))


def _memo(world, table: str, key: str, compute: Callable[[], T]) -> T:
    """``compute()`` memoised per world in ``world.<table>`` (at most 100,000 entries):
    synthesis asks of the same pages and names again and again (hubs recur across seeds)."""
    cache = world.__dict__.setdefault(table, {})
    value = cache.get(key)
    if value is None:
        value = compute()
        if len(cache) < 100_000:
            cache[key] = value
    return value


def _page_facts(world, doc_id: str) -> set[tuple[str, str, str]]:
    """`page_facts` of one page, memoised on the world."""
    return _memo(
        world, "_page_facts", doc_id, lambda: page_facts(world.adjacency, doc_id, world.seed)
    )


def _name_hits(world, entity: str) -> set[str]:
    """The pages either search engine ranks in its top `TOP_K` for ``entity``'s name."""

    def hits() -> set[str]:
        name = world.kg.node(entity).name
        return {
            *world.medical_index.search_ids(name, TOP_K),
            *world.web_index.search_ids(name, TOP_K),
        }

    return _memo(world, "_name_hits", entity, hits)


def hop_is_answerable(world, hop: Hop, evidence: tuple[str, ...]) -> bool:
    return bool(evidence) and not _name_hits(world, hop.head).isdisjoint(evidence)


def hop_evidence(world, item: QAItem) -> tuple[tuple[str, ...], ...] | None:
    """Per hop, the pages stating its fact; ``None`` when some hop is not answerable
    (or the item has no hops, or names entities the world's graph lacks)."""
    if not item.hops:
        return None
    out = []
    for hop in item.hops:
        if hop.head not in world.kg or hop.tail not in world.kg:
            return None
        evidence = stating_pages(world, hop)
        if not hop_is_answerable(world, hop, evidence):
            return None
        out.append(evidence)
    return tuple(out)


def check(world, items: Iterable[QAItem]) -> Report:
    """How many ``items`` are answerable, and which relations failed."""
    total = ok = 0
    failed: dict[str, int] = {}
    for item in items:
        total += 1
        if hop_evidence(world, item) is not None:
            ok += 1
            continue
        for hop in item.hops:
            known = hop.head in world.kg and hop.tail in world.kg
            if not known or not hop_is_answerable(world, hop, stating_pages(world, hop)):
                failed[hop.relation] = failed.get(hop.relation, 0) + 1
    return Report(
        total=total,
        answerable=ok,
        share=ok / total if total else 0.0,
        failed_hops=dict(sorted(failed.items())),
    )


def answerable_share(world, items: Iterable[QAItem]) -> float:
    """The share (0..1) of ``items`` whose every hop is answerable."""
    return check(world, items).share

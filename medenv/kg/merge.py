"""Merge several knowledge graphs into one, with node ids namespaced by source.

``merge_graphs([hpo_kg, hetionet_kg])`` gives a graph whose node ids are
``<namespace>:<original id>`` (``hpo:HP:0001250``, ``hetionet:Compound::DB00001``), whose
``source`` is the namespaces joined by ``+`` (``hpo+hetionet``) and whose ``version`` is the
versions joined the same way (``2025-01-16+v1.0``). Node types, names, synonyms, edge
relations and attributes are kept as they are; no entities are linked across sources.
A relation name used by two graphs must read the same in both (``associated_gene`` is
shared by HPO and Hetionet), otherwise `MedenvError`.
"""

from __future__ import annotations

from collections.abc import Sequence

from medenv.errors import MedenvError
from medenv.kg.graph import KnowledgeGraph, Node

SEPARATOR = ":"


def namespaced(namespace: str, node_id: str) -> str:
    """The id of ``node_id`` from ``namespace`` in a merged graph."""
    return f"{namespace}{SEPARATOR}{node_id}"


def merge_graphs(
    graphs: Sequence[KnowledgeGraph], namespaces: Sequence[str] | None = None
) -> KnowledgeGraph:
    """One graph holding every node and edge of ``graphs``, ids prefixed by namespace.

    ``namespaces`` defaults to each graph's ``source``; they must be distinct and free of
    ``+``. The result is new: the input graphs are not changed.
    """
    if not graphs:
        raise MedenvError("merge_graphs needs at least one graph")
    names = list(namespaces) if namespaces is not None else [g.source for g in graphs]
    if len(names) != len(graphs):
        raise MedenvError(f"{len(graphs)} graphs but {len(names)} namespaces")
    if len(set(names)) != len(names):
        raise MedenvError(f"namespaces must be distinct, got {names}")
    for name in names:
        if not name or "+" in name or SEPARATOR in name:
            raise MedenvError(f"bad namespace {name!r}: non-empty, no '+' or ':'")
    merged = KnowledgeGraph("+".join(names), "+".join(g.version for g in graphs))
    for g in graphs:
        for rel in g.relations.values():
            known = merged.relations.get(rel.name)
            if known is None:
                merged.add_relation(rel)
            elif known != rel:
                raise MedenvError(
                    f"relation {rel.name!r} reads differently in two sources: {known} vs {rel}"
                )
    for ns, g in zip(names, graphs, strict=True):
        for node in g.nodes():
            merged.add_node(
                Node(namespaced(ns, node.id), node.type, node.name, node.synonyms, node.definition)
            )
        for s, t, key, data in g.graph.edges(keys=True, data=True):
            merged.add_edge(namespaced(ns, s), namespaced(ns, t), key, **data)
    return merged

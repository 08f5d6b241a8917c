"""A second, independent reading of a QA item under the ontology closure (tests only).

Written from the semantics as a clinician states them, with no medenv code beyond reading
the networkx graph: ``is_a`` is transitive (strict); an annotation relation's targets are
inherited up ``is_a`` (HPO's true-path rule); a symmetric relation holds both ways. The
closure is materialised as explicit sets of pairs with networkx's own ``descendants``
(``nx.descendants`` over child -> parent edges are a term's ancestors), not walked lazily
as `medenv.kg.semantics` does.
"""

from __future__ import annotations

import networkx as nx

TRUE_PATH = (
    "has_phenotype",
    "has_inheritance",
    "has_clinical_course",
    "has_modifier",
    "has_history",
)
# the 23 children of HP:0000118 (HPO's organ systems), written out here from the ontology:
# a constraint on one of them is a *description* ("is a neurological abnormality")
ORGAN_SYSTEMS = frozenset(
    {
        "HP:0000707", "HP:0000478", "HP:0000598", "HP:0001608", "HP:0000152", "HP:0001626",
        "HP:0002086", "HP:0045027", "HP:0025031", "HP:0000119", "HP:0000818", "HP:0001939",
        "HP:0001507", "HP:0001871", "HP:0002664", "HP:0025354", "HP:0000769", "HP:0002715",
        "HP:0001574", "HP:0033127", "HP:0040064", "HP:0001197", "HP:0025142",
    }
)  # fmt: skip
HPO_SEMANTICS = {"transitive": {"is_a"}, "symmetric": set(), "true_path": set(TRUE_PATH)}


def semantics_of(properties) -> dict:
    """The semantics a graph declares (``kg.relation_properties()``: relation -> an object
    with ``transitive``, ``symmetric``, ``inherited_along``), in this reader's form; a
    relation inherited along anything but ``is_a`` is read as asserted. HPO's declarations
    give `HPO_SEMANTICS`; Hetionet's make ``covaries``, ``interacts`` and the two
    ``resembles`` relations symmetric (read one way, a Hetionet item looked ambiguous or
    short-cut when it was not)."""
    return {
        "transitive": {r for r, p in properties.items() if p.transitive},
        "symmetric": {r for r, p in properties.items() if p.symmetric},
        "true_path": {r for r, p in properties.items() if p.inherited_along == "is_a"},
    }


class ClosedGraph:
    """Every (source, relation, target) fact that holds under the closure."""

    def __init__(self, graph: nx.MultiDiGraph, semantics: dict = HPO_SEMANTICS) -> None:
        self.graph = graph
        hierarchy = nx.DiGraph()
        hierarchy.add_nodes_from(graph.nodes)
        hierarchy.add_edges_from((s, t) for s, t, k in graph.edges(keys=True) if k == "is_a")
        self._hier = hierarchy
        self._anc: dict[str, set[str]] = {}
        self._out: dict[tuple[str, str], frozenset[str]] = {}
        self.semantics = semantics

    def ancestors(self, term: str) -> set[str]:
        if term not in self._anc:
            self._anc[term] = nx.descendants(self._hier, term)
        return self._anc[term]

    def out(self, source: str, relation: str) -> frozenset[str]:
        """Every ``t`` with ``source -relation-> t`` in the closed graph (cached)."""
        key = (source, relation)
        if key not in self._out:
            g = self.graph
            direct = {t for _, t, k in g.out_edges(source, keys=True) if k == relation}
            if relation in self.semantics["symmetric"]:
                direct |= {s for s, _, k in g.in_edges(source, keys=True) if k == relation}
            if relation == "is_a":
                result = set(self.ancestors(source))
            elif relation in self.semantics["transitive"]:
                result = {t for t in g.nodes if self.holds(source, relation, t)}
            elif relation in self.semantics["true_path"]:
                result = set(direct)
                for t in direct:
                    result |= self.ancestors(t)
            else:
                result = direct
            self._out[key] = frozenset(result)
        return self._out[key]

    def holds(self, source: str, relation: str, target: str) -> bool:
        """Does ``source -relation-> target`` hold in the closed graph?"""
        if relation == "is_a" or relation in self.semantics["true_path"]:
            return target in self.out(source, relation)
        g = self.graph
        if relation in self.semantics["transitive"]:
            if relation == "is_a":
                return target in self.ancestors(source)
            sub = nx.DiGraph((s, t) for s, t, k in g.edges(keys=True) if k == relation)
            return source in sub and target in nx.descendants(sub, source)
        if relation in self.semantics["symmetric"]:
            return g.has_edge(source, target, key=relation) or g.has_edge(
                target, source, key=relation
            )
        if relation in self.semantics["true_path"]:
            return any(
                t == target or target in self.ancestors(t)
                for _, t, k in g.out_edges(source, keys=True)
                if k == relation
            )
        return g.has_edge(source, target, key=relation)


def admitted(
    closed: ClosedGraph,
    by_name: dict[str, set[str]],
    item,
    start_level: int = 0,
    start: set[str] | None = None,
) -> set[str]:
    """The answers the item admits under the closure, checking every candidate pair with
    `ClosedGraph.holds` (a brute-force scan over the nodes of the next level's type).

    ``start_level``/``start``: read only the suffix of the chain from that level, its
    candidates being ``start`` (for effective-hop checks)."""
    return levels(closed, by_name, item, start_level, start)[-1]


def levels(
    closed: ClosedGraph,
    by_name: dict[str, set[str]],
    item,
    start_level: int = 0,
    start: set[str] | None = None,
) -> list[set[str]]:
    """Every level of `admitted`'s reading: the candidates for each chain node from
    ``start_level`` on, the last being the admitted answers."""
    g = closed.graph
    nodes_of: dict[str, list[str]] = {}
    for n, node in g.nodes(data="node"):
        nodes_of.setdefault(node.type, []).append(n)

    def kind(i: int) -> str:
        return g.nodes[item.chain[i]]["node"].type

    def named(i: str) -> set[str]:
        return by_name.get(g.nodes[i]["node"].name.casefold(), {i})

    def fact(u: str, c) -> bool:
        if u == c.entity and c.relation == "is_a" and not c.inverse and u in ORGAN_SYSTEMS:
            return True  # "is a digestive abnormality" admits the branch itself (plain reading)
        return any(
            closed.holds(e, c.relation, u) if c.inverse else closed.holds(u, c.relation, e)
            for e in named(c.entity)
        )

    def keep(cands, i: int) -> set[str]:
        cons = [c for c in item.constraints if c.node == i]
        return {u for u in cands if all(fact(u, c) for c in cons)}

    if start is None and any(c.node == 0 for c in item.constraints):
        current = keep(set(nodes_of[kind(0)]), 0)  # a described seed: any node with its facts
    elif start is None:
        current = keep({u for u in named(item.chain[0]) if g.nodes[u]["node"].type == kind(0)}, 0)
    else:
        current = set(start)
    out = [current]
    for i in range(start_level, len(item.hops)):
        hop = item.hops[i]
        pool = nodes_of[kind(i + 1)]
        if hop.inverse:  # u -rel-> v for some v in current
            reached = {u for u in pool if not current.isdisjoint(closed.out(u, hop.relation))}
        else:  # u in out(v) exactly when holds(v, rel, u): one union, not a pool scan
            reached = set().union(*(closed.out(v, hop.relation) for v in current))
            reached &= set(pool)
        current = keep(reached, i + 1)
        out.append(current)
    return out


def shortcut_levels(closed: ClosedGraph, by_name: dict[str, set[str]], item) -> list[int]:
    """Levels ``j >= 2`` whose own constraints alone pin the answer (see synth.hops)."""
    g = closed.graph
    out = []
    for j in range(2, len(item.chain)):
        cons = [c for c in item.constraints if c.node == j]
        if not cons:
            continue
        kind = g.nodes[item.chain[j]]["node"].type
        pool = [n for n, node in g.nodes(data="node") if node.type == kind]
        start = {
            u
            for u in pool
            if all(
                any(
                    closed.holds(e, c.relation, u) if c.inverse else closed.holds(u, c.relation, e)
                    for e in by_name.get(g.nodes[c.entity]["node"].name.casefold(), {c.entity})
                )
                for c in cons
            )
        }
        if admitted(closed, by_name, item, start_level=j, start=start) == {item.answer_id}:
            out.append(j)
    return out

"""The synthesis index as it was built from the networkx view (tests only): the reference
`medenv.synth.index.GraphIndex` (built from the compact form's arrays) must equal.

Synthesis walks the graph millions of times; networkx views and `Edge` structs are too
slow for that. The index keeps, per node, its neighbours by ``(relation, inverse)`` as
id-sorted tuples (iteration order never depends on ``hash()``), its degree, type and name,
and the case-insensitive name lookup that `KnowledgeGraph.find` uses (names and synonyms),
so the pipeline resolves a named entity exactly as a reader of the question would.
"""

from __future__ import annotations

from collections.abc import Iterable

from medenv.kg.graph import KnowledgeGraph, Node

Step = tuple[str, bool]  # (relation, inverse): walk the edge backwards when inverse


class NetworkxIndex:
    """Neighbour tuples, degrees, types and name lookup of one graph."""

    def __init__(self, kg: KnowledgeGraph) -> None:
        self.kg = kg
        nodes: dict[str, Node] = dict(kg.graph.nodes(data="node"))
        self.node = nodes
        self.ids: tuple[str, ...] = tuple(sorted(nodes))
        self.type: dict[str, str] = {i: n.type for i, n in nodes.items()}
        self.degree: dict[str, int] = dict(kg.graph.degree())
        adj: dict[str, dict[Step, list[str]]] = {i: {} for i in self.ids}
        for s, t, rel in kg.graph.edges(keys=True):
            adj[s].setdefault((rel, False), []).append(t)
            adj[t].setdefault((rel, True), []).append(s)
        self.adj: dict[str, dict[Step, tuple[str, ...]]] = {
            i: {k: tuple(sorted(v)) for k, v in sorted(groups.items())} for i, groups in adj.items()
        }
        self._sets: dict[tuple[str, str, bool], frozenset[str]] = {}
        by_name: dict[str, set[str]] = {}
        for n in nodes.values():
            for label in (n.name, *n.synonyms):
                by_name.setdefault(label.casefold(), set()).add(n.id)
        self.by_name: dict[str, tuple[str, ...]] = {k: tuple(sorted(v)) for k, v in by_name.items()}
        self.max_degree = max(self.degree.values(), default=1)

    def step(self, node: str, relation: str, inverse: bool) -> tuple[str, ...]:
        """Nodes reached from ``node`` over ``relation`` (backwards when ``inverse``)."""
        return self.adj[node].get((relation, inverse), ())

    def step_set(self, node: str, relation: str, inverse: bool) -> frozenset[str]:
        """`step` as a (cached) set, for membership tests."""
        key = (node, relation, inverse)
        cached = self._sets.get(key)
        if cached is None:
            cached = self._sets[key] = frozenset(self.step(node, relation, inverse))
        return cached

    def named(self, node: str) -> tuple[str, ...]:
        """Every node a reader may mean by ``node``'s name (name or synonym match)."""
        return self.by_name.get(self.node[node].name.casefold(), (node,))

    def walk(self, nodes: Iterable[str], relation: str, inverse: bool) -> set[str]:
        """All nodes reached from any of ``nodes`` over one relation."""
        out: set[str] = set()
        for n in nodes:
            out.update(self.step(n, relation, inverse))
        return out

    def type_reach(self) -> dict[tuple[str, str, bool], set[str]]:
        """The loop `medenv.synth.uniqueness.Disambiguator` ran over ``adj`` before the
        index computed it from the edge arrays."""
        reach: dict[tuple[str, str, bool], set[str]] = {}
        for node, groups in self.adj.items():
            kind = self.type[node]
            for (rel, inv), targets in groups.items():
                reach.setdefault((kind, rel, inv), set()).update(self.type[t] for t in targets)
        return reach

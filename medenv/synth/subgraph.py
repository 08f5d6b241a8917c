"""The bounded neighbourhood of a seed entity, where its chain is searched.

Breadth-first from the seed, at most ``radius`` hops, at most ``node_cap`` nodes. Nodes of
degree above ``hub_degree`` (e.g. "Autosomal recessive inheritance", "Seizure") are left
out entirely, so chains go through specific entities. Within one BFS layer, rarer neighbours (lower degree, then id) come first,
so the cap keeps the most specific part of the neighbourhood. Deterministic.
"""

from __future__ import annotations

from medenv.synth.index import GraphIndex


class Subgraph:
    """The nodes around ``seed`` (``depth[node]`` = BFS distance from the seed) and, per
    node, its steps ``(relation, inverse, neighbour)`` inside the subgraph, rarest neighbour
    first (computed on first use)."""

    def __init__(self, index: GraphIndex, seed: str, depth: dict[str, int]) -> None:
        self.index = index
        self.seed = seed
        self.depth = depth
        self._adj: dict[str, tuple[tuple[str, bool, str], ...]] = {}

    def __len__(self) -> int:
        return len(self.depth)

    def neighbours(self, node: str) -> tuple[tuple[str, bool, str], ...]:
        cached = self._adj.get(node)
        if cached is None:
            depth = self.depth
            ordered = self.index.ordered_steps(node)
            cached = self._adj[node] = tuple(s for s in ordered if s[2] in depth)
        return cached


def extract_subgraph(
    index: GraphIndex,
    seed: str,
    *,
    radius: int,
    node_cap: int,
    hub_degree: int,
    allowed: frozenset[str] | set[str] | None = None,
) -> Subgraph:
    """The subgraph around ``seed`` within the bounds (the seed itself is always in).

    ``allowed``: precomputed set of nodes that may enter (degree <= ``hub_degree`` and an
    allowed type); computed from ``hub_degree`` when None.
    """
    degree = index.degree
    if allowed is None:
        allowed = {n for n, d in degree.items() if d <= hub_degree}
    depth = {seed: 0}
    frontier = [seed]
    for d in range(1, radius + 1):
        found: set[str] = set()
        for node in frontier:
            for targets in index.adj[node].values():
                found.update(targets)
        found = {t for t in found if t in allowed and t not in depth}
        layer = sorted(found, key=lambda n: (degree[n], n))[: node_cap - len(depth)]
        for n in layer:
            depth[n] = d
        frontier = layer
        if not frontier or len(depth) >= node_cap:
            break
    return Subgraph(index, seed, depth)

"""`GraphIndex`: a read-only, fast view of a `KnowledgeGraph` for synthesis.

Synthesis walks the graph millions of times; networkx views and `Edge` structs are too
slow for that. The index keeps, per node, its neighbours by ``(relation, inverse)`` as
id-sorted tuples (iteration order never depends on ``hash()``), its degree, type and name,
and the case-insensitive name lookup that `KnowledgeGraph.find` uses (names and synonyms),
so the pipeline resolves a named entity exactly as a reader of the question would.

It is built from the graph's compact form (`KnowledgeGraph.compact_form`: edge arrays), so
synthesis never builds the networkx view: the edges are sorted once with numpy into two
CSR tables (out-edges by source, in-edges by target, each by relation name then
neighbour id), and a node's neighbour groups (``adj[node]``) are made on first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from medenv.kg.graph import KnowledgeGraph, Node

Step = tuple[str, bool]  # (relation, inverse): walk the edge backwards when inverse


class _Csr:
    """One direction's edges grouped by node then relation: node ``i``'s groups are
    ``gptr[i]:gptr[i+1]``; group ``g`` is relation rank ``grel[g]`` and the neighbour ids
    ``others[start[g]:start[g+1]]`` (sorted)."""

    def __init__(self, node, other, rel_rank, id_rank, names, n: int, r: int) -> None:
        key = (node * r + rel_rank) * n + id_rank[other]  # unique: edges are distinct
        order = np.argsort(key)
        node, rel = node[order], rel_rank[order]
        self.others = names[other[order]]  # neighbour ids (object array)
        first = np.ones(len(order), dtype=bool)  # a group's first edge
        first[1:] = (node[1:] != node[:-1]) | (rel[1:] != rel[:-1])
        starts = np.flatnonzero(first)
        self.start = np.append(starts, len(order)).tolist()
        self.grel = rel[starts].tolist()
        counts = np.bincount(node[starts], minlength=n)
        self.gptr = np.concatenate([[0], np.cumsum(counts)]).tolist()


class _Adjacency(Mapping):
    """``{node id: {(relation, inverse): neighbour ids}}`` over every node in id order,
    each value made on first use from the CSR tables."""

    def __init__(self, ids: tuple[str, ...], index: GraphIndex) -> None:
        self._ids, self._index, self._made = ids, index, {}

    def __getitem__(self, node: str) -> dict[Step, tuple[str, ...]]:
        made = self._made.get(node)
        if made is None:
            made = self._made[node] = self._index.groups(node)
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, node: object) -> bool:
        return node in self._index.node


class GraphIndex:
    """Neighbour tuples, degrees, types and name lookup of one graph."""

    def __init__(self, kg: KnowledgeGraph) -> None:
        self.kg = kg
        form = kg.compact_form()
        order = form.nodes  # insertion order
        nodes: dict[str, Node] = {n.id: n for n in order}
        self.node = nodes
        self.ids: tuple[str, ...] = tuple(sorted(nodes))
        self.type: dict[str, str] = {i: n.type for i, n in nodes.items()}
        n = len(order)
        src, dst = form.src.astype(np.int64), form.dst.astype(np.int64)
        degree = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
        self.degree: dict[str, int] = dict(zip(nodes, degree.tolist(), strict=True))
        self._names = [n.id for n in order]
        self._position = {node_id: i for i, node_id in enumerate(self._names)}
        id_rank = np.empty(n, dtype=np.int64)
        id_rank[[self._position[i] for i in self.ids]] = np.arange(n)
        rel_sorted = sorted(set(form.rel_names))
        self._rel_names = rel_sorted
        rel_rank = np.array([rel_sorted.index(r) for r in form.rel_names] + [0], np.int64)
        rank = rel_rank[form.rel]
        names = np.array(self._names + [""], dtype=object)
        r = max(len(rel_sorted), 1)
        self._out = _Csr(src, dst, rank, id_rank, names, n, r)
        self._in = _Csr(dst, src, rank, id_rank, names, n, r)
        self._edges = (src, dst, rank)
        self.adj: Mapping[str, dict[Step, tuple[str, ...]]] = _Adjacency(self.ids, self)
        by_name: dict[str, set[str]] = {}
        for node in nodes.values():
            for label in (node.name, *node.synonyms):
                by_name.setdefault(label.casefold(), set()).add(node.id)
        self.by_name: dict[str, tuple[str, ...]] = {k: tuple(sorted(v)) for k, v in by_name.items()}
        self.max_degree = max(self.degree.values(), default=1)
        self._ordered: dict[str, tuple[tuple[str, bool, str], ...]] = {}  # `ordered_steps`

    def groups(self, node: str) -> dict[Step, tuple[str, ...]]:
        """``adj[node]``: neighbour ids by ``(relation, inverse)``, keys sorted."""
        i = self._position[node]
        rels = self._rel_names
        groups: list[tuple[Step, tuple[str, ...]]] = []
        for csr, inverse in ((self._out, False), (self._in, True)):
            start, others = csr.start, csr.others
            for g in range(csr.gptr[i], csr.gptr[i + 1]):
                ids = tuple(others[start[g] : start[g + 1]].tolist())
                groups.append(((rels[csr.grel[g]], inverse), ids))
        groups.sort(key=lambda g: g[0])
        return dict(groups)

    def type_reach(self) -> dict[tuple[str, str, bool], set[str]]:
        """``{(node type, relation, inverse): types of the nodes one such step reaches}``,
        over every edge (as a loop over ``adj`` would find it, without making ``adj``)."""
        src, dst, rank = self._edges
        kinds = sorted(set(self.type.values()))
        code = {k: i for i, k in enumerate(kinds)}
        node_kind = np.array([code[self.type[i]] for i in self._names] or [0], np.int64)
        k, r = len(kinds), max(len(self._rel_names), 1)
        out: dict[tuple[str, str, bool], set[str]] = {}
        for inverse, (a, b) in ((False, (src, dst)), (True, (dst, src))):
            triples = np.unique((node_kind[a] * r + rank) * k + node_kind[b]) if len(a) else []
            for t in np.asarray(triples).tolist():
                ka, rest = divmod(t, r * k)
                rel, kb = divmod(rest, k)
                out.setdefault((kinds[ka], self._rel_names[rel], inverse), set()).add(kinds[kb])
        return out

    def ordered_steps(self, node: str) -> tuple[tuple[str, bool, str], ...]:
        """Every ``(relation, inverse, neighbour)`` of ``node`` in a chain search's walking
        order (neighbour degree, neighbour id, relation, inverse), memoised: a subgraph
        keeps those inside it in this order (the key is total, so filtering the sorted
        steps equals sorting the filtered ones)."""
        hit = self._ordered.get(node)
        if hit is None:
            degree = self.degree
            steps = [(rel, inv, t) for (rel, inv), ts in self.adj[node].items() for t in ts]
            steps.sort(key=lambda s: (degree[s[2]], s[2], s[0], s[1]))
            hit = self._ordered[node] = tuple(steps)
        return hit

    def step(self, node: str, relation: str, inverse: bool) -> tuple[str, ...]:
        """Nodes reached from ``node`` over ``relation`` (backwards when ``inverse``)."""
        return self.adj[node].get((relation, inverse), ())

    def named(self, node: str) -> tuple[str, ...]:
        """Every node a reader may mean by ``node``'s name (name or synonym match)."""
        return self.by_name.get(self.node[node].name.casefold(), (node,))

    def walk(self, nodes: Iterable[str], relation: str, inverse: bool) -> set[str]:
        """All nodes reached from any of ``nodes`` over one relation."""
        out: set[str] = set()
        for n in nodes:
            out.update(self.step(n, relation, inverse))
        return out

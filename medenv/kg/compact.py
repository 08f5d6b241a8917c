"""`CompactGraph`: a `KnowledgeGraph`'s nodes and edges as a few flat arrays, for pickling.

A 4M-edge `networkx.MultiDiGraph` pickles as ~8M small dicts, and unpickling it takes
seconds per million edges. The compact form holds:

- ``node_bytes``: the `Node` structs in insertion order, msgpack-encoded (decoded on
  first use: ``nodes``, ``by_id``); nodes whose networkx data holds more than ``node`` keep
  those extra attributes in ``node_extra``;
- ``succ``: one ``(source, target, relation)`` triple of indexes per edge (``array``
  ``"i"``, 3 ints an edge) in the adjacency's iteration order (sources in node order, then
  targets, then relations in insertion order), with the non-empty edge attribute dicts in
  ``edge_attrs`` (edge position -> dict);
- ``pred``: each distinct ``(target, source)`` pair in the order of the predecessor
  lists, so `to_networkx` restores ``in_edges`` order too.

`to_networkx` rebuilds the exact graph (same nodes, edges, attributes and every iteration
order), sharing each key dict between ``_succ`` and ``_pred`` as networkx does.
"""

from __future__ import annotations

from array import array
from functools import cached_property
from typing import Any

import msgspec


class CompactGraph:
    """See the module docstring."""

    def __init__(
        self,
        node_type: type,
        node_bytes: bytes,
        node_extra: dict[int, dict],
        relations: list[str],
        succ: array,
        edge_attrs: dict[int, dict],
        pred: array,
        graph_attrs: dict[str, Any],
    ) -> None:
        self.node_type, self.node_bytes, self.node_extra = node_type, node_bytes, node_extra
        self.relations, self.succ, self.edge_attrs = relations, succ, edge_attrs
        self.pred, self.graph_attrs = pred, graph_attrs

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("nodes", None)  # cached decodes
        state.pop("by_id", None)
        return state

    @classmethod
    def of(cls, g) -> CompactGraph:
        """The compact form of a `KnowledgeGraph`'s ``MultiDiGraph``."""
        ids = list(g._node)
        index = {n: i for i, n in enumerate(ids)}
        nodes, extra = [], {}
        for i, data in enumerate(g._node.values()):
            nodes.append(data["node"])
            if len(data) > 1:
                extra[i] = {k: v for k, v in data.items() if k != "node"}
        relations: dict[str, int] = {}
        succ, attrs = array("i"), {}
        for u, nbrs in g._succ.items():
            ui = index[u]
            for v, keys in nbrs.items():
                vi = index[v]
                for rel, data in keys.items():
                    if data:
                        attrs[len(succ) // 3] = dict(data)
                    succ.extend((ui, vi, relations.setdefault(rel, len(relations))))
        pred = array("i")
        for v, nbrs in g._pred.items():
            vi = index[v]
            for u in nbrs:
                pred.extend((vi, index[u]))
        node_type = type(nodes[0]) if nodes else dict
        return cls(
            node_type, msgspec.msgpack.encode(nodes), extra, list(relations), succ, attrs, pred,
            dict(g.graph),
        )  # fmt: skip

    @cached_property
    def nodes(self) -> list:
        return msgspec.msgpack.decode(self.node_bytes, type=list[self.node_type])

    @cached_property
    def by_id(self) -> dict:
        return {n.id: n for n in self.nodes}

    @property
    def num_edges(self) -> int:
        return len(self.succ) // 3

    def to_networkx(self):
        """The `networkx.MultiDiGraph` this was made from (see the module docstring)."""
        import networkx as nx

        nodes = self.nodes
        ids = [n.id for n in nodes]
        g = nx.MultiDiGraph()
        g.graph.update(self.graph_attrs)
        node_data = {n.id: {"node": n} for n in nodes}
        for i, extra in self.node_extra.items():
            node_data[ids[i]].update(extra)
        succ: dict[str, dict] = {n: {} for n in ids}
        pred: dict[str, dict] = {n: {} for n in ids}
        flat = self.succ.tolist()
        us = [ids[i] for i in flat[0::3]]
        vs = [ids[i] for i in flat[1::3]]
        rs = [self.relations[i] for i in flat[2::3]]
        for u, v, r in zip(us, vs, rs, strict=True):
            out = succ[u]
            keys = out.get(v)
            if keys is None:
                keys = out[v] = {}
            keys[r] = {}
        for e, data in self.edge_attrs.items():
            succ[us[e]][vs[e]][rs[e]] = dict(data)
        flat = self.pred.tolist()
        for j in range(0, len(flat), 2):
            v, u = ids[flat[j]], ids[flat[j + 1]]
            pred[v][u] = succ[u][v]
        g._node.update(node_data)
        g._succ.update(succ)  # g._adj is g._succ
        g._pred.update(pred)
        return g

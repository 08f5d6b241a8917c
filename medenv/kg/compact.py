"""`CompactGraph`: a `KnowledgeGraph`'s networkx graph as a few flat values and arrays.

Unpickling a 4M-edge `networkx.MultiDiGraph` takes seconds per million edges, and many
users of a graph never walk its edges (the env's reset, node lookups, the search tools);
synthesis walks them through `medenv.synth.index.GraphIndex`, which reads the arrays. The
compact form holds:

- ``node_bytes``: the `Node` structs in insertion order, msgpack-encoded (decoded on first
  use: ``nodes``, ``by_id``); nodes whose networkx data holds more than ``node`` keep those
  extra attributes in ``node_extra`` (by node position);
- the edges in the graph's successor order (node by node in insertion order; per node its
  targets in ``_succ`` order; per target its keys in order): ``src`` and ``dst`` (node
  positions, int32) and ``rel`` (positions in ``rel_names``, int32); ``attrs``: the
  attributes of the edges that have any, by edge position;
- ``pred``: the edge positions in predecessor order (node by node; per node its sources in
  ``_pred`` order; per source the keys), so `to_networkx` rebuilds ``_pred``'s order too;
- the graph-level attributes.

The form is canonical: one graph has one compact form, however it was built (`of` from a
networkx graph, or a bulk loader writing the arrays directly), so two forms compare equal
(``==``) exactly when the graphs hold the same nodes, edges, attributes and orders.
`to_networkx` rebuilds the exact graph (one key dict shared by ``_succ[u][v]`` and
``_pred[v][u]``, as networkx has it).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import msgspec
import numpy as np

_CACHED = ("nodes", "by_id", "ids", "position")


class CompactGraph:
    """See the module docstring."""

    def __init__(
        self,
        node_type: type,
        node_bytes: bytes,
        node_extra: dict[int, dict],
        src: np.ndarray,
        dst: np.ndarray,
        rel: np.ndarray,
        rel_names: list[str],
        attrs: dict[int, dict],
        pred: np.ndarray,
        graph_attrs: dict[str, Any],
    ) -> None:
        self.node_type, self.node_bytes, self.node_extra = node_type, node_bytes, node_extra
        self.src = np.ascontiguousarray(src, dtype=np.int32)
        self.dst = np.ascontiguousarray(dst, dtype=np.int32)
        self.rel = np.ascontiguousarray(rel, dtype=np.int32)
        self.rel_names, self.attrs = list(rel_names), attrs
        self.pred = np.ascontiguousarray(pred, dtype=np.int32)
        self.graph_attrs = graph_attrs

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in _CACHED:  # cached decodes
            state.pop(name, None)
        return state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactGraph):
            return NotImplemented
        return (
            self.nodes == other.nodes
            and self.node_extra == other.node_extra
            and self.graph_attrs == other.graph_attrs
            and np.array_equal(self.src, other.src)
            and np.array_equal(self.dst, other.dst)
            and np.array_equal(self.relations(), other.relations())
            and self.attrs == other.attrs
            and np.array_equal(self.pred, other.pred)
        )

    def relations(self) -> np.ndarray:
        """Each edge's relation name (an object array)."""
        return (
            np.array(self.rel_names, dtype=object)[self.rel]
            if len(self.rel)
            else np.empty(0, object)
        )

    @property
    def num_edges(self) -> int:
        return len(self.src)

    @classmethod
    def of(cls, g) -> CompactGraph:
        """The compact form of a `KnowledgeGraph`'s ``MultiDiGraph``."""
        nodes, extra = [], {}
        position: dict[str, int] = {}
        for i, (node_id, data) in enumerate(g._node.items()):
            nodes.append(data["node"])
            position[node_id] = i
            if len(data) > 1:
                extra[i] = {k: v for k, v in data.items() if k != "node"}
        src: list[int] = []
        dst: list[int] = []
        keys: list[str] = []
        attrs: dict[int, dict] = {}
        first: dict[tuple[int, int], int] = {}  # (u, v) -> position of its first edge
        for u, nbrs in g._succ.items():
            ui = position[u]
            for v, kd in nbrs.items():
                vi = position[v]
                first[(ui, vi)] = len(src)
                for key, data in kd.items():
                    if data:
                        attrs[len(src)] = dict(data)
                    src.append(ui)
                    dst.append(vi)
                    keys.append(key)
        pred: list[int] = []
        for v, nbrs in g._pred.items():
            vi = position[v]
            for u, kd in nbrs.items():
                start = first[(position[u], vi)]
                pred.extend(range(start, start + len(kd)))
        rel_names = list(dict.fromkeys(keys))
        code = {name: i for i, name in enumerate(rel_names)}
        node_type = type(nodes[0]) if nodes else dict
        return cls(
            node_type,
            msgspec.msgpack.encode(nodes),
            extra,
            np.array(src, dtype=np.int32),
            np.array(dst, dtype=np.int32),
            np.array([code[k] for k in keys], dtype=np.int32),
            rel_names,
            attrs,
            np.array(pred, dtype=np.int32),
            dict(g.graph),
        )

    @cached_property
    def nodes(self) -> list:
        return msgspec.msgpack.decode(self.node_bytes, type=list[self.node_type])

    @cached_property
    def by_id(self) -> dict:
        return {n.id: n for n in self.nodes}

    @cached_property
    def ids(self) -> list[str]:
        """Node ids in insertion order (a node's position is its index here)."""
        return [n.id for n in self.nodes]

    @cached_property
    def position(self) -> dict[str, int]:
        return {node_id: i for i, node_id in enumerate(self.ids)}

    def to_networkx(self):
        """The `networkx.MultiDiGraph` this was made from (see the module docstring)."""
        import networkx as nx

        g = nx.MultiDiGraph()
        g.graph.update(self.graph_attrs)
        ids = self.ids
        node_data = {n.id: {"node": n} for n in self.nodes}
        for i, extra in self.node_extra.items():
            node_data[ids[i]].update(extra)
        succ: dict[str, dict] = {i: {} for i in ids}
        pred: dict[str, dict] = {i: {} for i in ids}
        names = np.array(ids, dtype=object)
        us, vs = names[self.src].tolist(), names[self.dst].tolist()
        ks = self.relations().tolist()
        for u, v, k in zip(us, vs, ks, strict=True):
            out = succ[u]
            kd = out.get(v)
            if kd is None:
                kd = out[v] = {}
            kd[k] = {}
        for i, data in self.attrs.items():
            succ[us[i]][vs[i]][ks[i]] = dict(data)
        if len(self.pred):
            order = self.pred
            pu, pv = self.src[order], self.dst[order]
            new = np.ones(len(order), dtype=bool)  # the first edge of each (u, v) pair
            new[1:] = (pu[1:] != pu[:-1]) | (pv[1:] != pv[:-1])
            for u, v in zip(names[pu[new]].tolist(), names[pv[new]].tolist(), strict=True):
                pred[v][u] = succ[u][v]
        g._node.update(node_data)
        g._succ.update(succ)  # g._adj is g._succ
        g._pred.update(pred)
        return g

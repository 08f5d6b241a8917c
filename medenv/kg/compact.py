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

import gc
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
        enabled = gc.isenabled()
        gc.disable()  # a tuple per pair: the cyclic GC would only slow this down
        try:
            return cls._of(g)
        finally:
            if enabled:
                gc.enable()

    @classmethod
    def _of(cls, g) -> CompactGraph:
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
        g._node.update(node_data)
        enabled = gc.isenabled()
        gc.disable()  # millions of small dicts: the cyclic GC would only slow this down
        try:
            kds, first = self._key_dicts()  # fresh: graphs made from one form share nothing
            g._succ.update(self._adjacency(self.src, self.dst, None, kds, first))  # is _adj
            g._pred.update(self._adjacency(self.dst, self.src, self.pred, kds, first))
        finally:
            if enabled:
                gc.enable()
        return g

    def _adjacency(self, node, other, order, kds: list[dict], first: np.ndarray) -> dict:
        """``_succ`` (``order`` None: edges in successor order) or ``_pred`` (``order``:
        ``pred``) as networkx has it, sharing one key dict per pair between the two
        (`_key_dicts`); per node one ``dict(zip(...))``, no Python loop per edge."""
        pair = np.cumsum(first) - 1  # each edge's pair
        if order is not None:
            order = order[first[order]]  # the first edge of each pair, in pred order
            kd_of = np.empty(len(kds), dtype=object)
            kd_of[:] = kds
            kd_list = kd_of[pair[order]].tolist()
        else:
            order = np.flatnonzero(first)
            kd_list = kds
        names = np.array(self.ids + [""], dtype=object)
        heads = node[order]
        others = names[other[order]].tolist()
        ends = np.cumsum(np.bincount(heads, minlength=len(self.ids))).tolist()
        out, lo = {}, 0
        for node_id, hi in zip(self.ids, ends, strict=True):
            out[node_id] = dict(zip(others[lo:hi], kd_list[lo:hi], strict=True))
            lo = hi
        return out

    def _key_dicts(self) -> tuple[list[dict], np.ndarray]:
        """One ``{relation: attributes}`` dict per (source, target) pair, in successor
        order, and the mask of each pair's first edge (a pair's edges are contiguous)."""
        first = np.ones(len(self.src), dtype=bool)
        first[1:] = (self.src[1:] != self.src[:-1]) | (self.dst[1:] != self.dst[:-1])
        ks = self.relations().tolist()
        starts = np.flatnonzero(first).tolist()
        kds = [{ks[i]: {}} for i in starts]
        pair = np.cumsum(first) - 1
        for i in np.flatnonzero(~first).tolist():  # a pair's second and later relations
            kds[pair[i]][ks[i]] = {}
        for i, data in self.attrs.items():
            kds[pair[i]][ks[i]] = dict(data)
        return kds, first

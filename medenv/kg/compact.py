"""`CompactGraph`: a `KnowledgeGraph`'s networkx graph as a few flat values, for pickling.

Unpickling a 4M-edge `networkx.MultiDiGraph` with the rest of a graph takes seconds per
million edges, and many users of a graph never walk its edges (the env's reset, node
lookups, the search tools). The compact form holds:

- ``node_bytes``: the `Node` structs in insertion order, msgpack-encoded (decoded on first
  use: ``nodes``, ``by_id``); nodes whose networkx data holds more than ``node`` keep those
  extra attributes in ``node_extra``;
- ``adjacency``: the graph's ``(_succ, _pred)`` dicts pickled into one ``bytes`` value
  (pickle keeps each key dict shared between ``_succ[u][v]`` and ``_pred[v][u]``, as
  networkx has it), unpickled only by `to_networkx`;
- ``num_edges`` and the graph-level attributes.

So loading it reads bytes and decodes the nodes; `to_networkx` rebuilds the exact graph
(same nodes, edges, attributes and every iteration order) at unpickling speed.
"""

from __future__ import annotations

import gc
import pickle
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
        adjacency: bytes,
        num_edges: int,
        graph_attrs: dict[str, Any],
    ) -> None:
        self.node_type, self.node_bytes, self.node_extra = node_type, node_bytes, node_extra
        self.adjacency, self.num_edges, self.graph_attrs = adjacency, num_edges, graph_attrs

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("nodes", None)  # cached decodes
        state.pop("by_id", None)
        return state

    @classmethod
    def of(cls, g) -> CompactGraph:
        """The compact form of a `KnowledgeGraph`'s ``MultiDiGraph``."""
        nodes, extra = [], {}
        for i, data in enumerate(g._node.values()):
            nodes.append(data["node"])
            if len(data) > 1:
                extra[i] = {k: v for k, v in data.items() if k != "node"}
        edges = sum(len(keys) for nbrs in g._succ.values() for keys in nbrs.values())
        adjacency = pickle.dumps((g._succ, g._pred), protocol=5)
        node_type = type(nodes[0]) if nodes else dict
        return cls(node_type, msgspec.msgpack.encode(nodes), extra, adjacency, edges, dict(g.graph))

    @cached_property
    def nodes(self) -> list:
        return msgspec.msgpack.decode(self.node_bytes, type=list[self.node_type])

    @cached_property
    def by_id(self) -> dict:
        return {n.id: n for n in self.nodes}

    def to_networkx(self):
        """The `networkx.MultiDiGraph` this was made from (see the module docstring)."""
        import networkx as nx

        g = nx.MultiDiGraph()
        g.graph.update(self.graph_attrs)
        node_data = {n.id: {"node": n} for n in self.nodes}
        ids = list(node_data)
        for i, extra in self.node_extra.items():
            node_data[ids[i]].update(extra)
        enabled = gc.isenabled()
        gc.disable()  # millions of small dicts: the cyclic GC only slows unpickling down
        try:
            succ, pred = pickle.loads(self.adjacency)
        finally:
            if enabled:
                gc.enable()
        g._node.update(node_data)
        g._succ.update(succ)  # g._adj is g._succ
        g._pred.update(pred)
        return g

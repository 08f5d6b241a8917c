"""`KnowledgeGraph`: typed nodes and typed, directed edges over a `networkx.MultiDiGraph`.

Contract:
- A node is a `Node` (id, type, name, synonyms, definition). Node ids are unique strings
  (e.g. ``HP:0001250``, ``OMIM:619340``, ``NCBIGene:10``).
- An edge is ``(source, target, relation)`` plus optional attributes (e.g. ``frequency``).
  The multigraph key of an edge is its relation, so two nodes may be linked by several
  relations but never twice by the same one.
- Every relation has a verbalisation in both directions (`Relation.forward`,
  `Relation.inverse`), used to write questions and corpus pages.
- Name lookup is case-insensitive over names and synonyms.
- ``Node.xrefs`` are the node's identifiers as canonical CURIEs (`medenv.kg.ids`): its own
  id's and its cross-references'; merging aligns nodes of two sources that share one.
- Pickling (the KG cache, worker processes) stores a compact form (`medenv.kg.compact`):
  the nodes and the edges as integer arrays. An unpickled graph answers node lookups,
  ``num_nodes`` and ``num_edges`` from it and builds the `networkx` view on the first use
  of ``graph`` (or of any edge method), with the same nodes, edges and iteration orders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

import msgspec
import numpy as np

from medenv.errors import MedenvError, is_utf8_text
from medenv.kg import compact
from medenv.kg.semantics import Closure, RelationProperties, default_properties, satisfying


class Node(msgspec.Struct, frozen=True):
    """A typed entity of the graph."""

    id: str
    type: str
    name: str
    synonyms: tuple[str, ...] = ()
    definition: str | None = None
    xrefs: tuple[str, ...] = ()


def check_node_text(node: Node) -> None:
    """`MedenvError` naming ``node`` and the field when its id, type, name or a synonym is
    not a string, holds a NUL or a lone surrogate (no UTF-8 file, question set or event
    log can hold one)."""
    fields = (("id", node.id), ("type", node.type), ("name", node.name))
    for field, text in (*fields, *(("synonym", s) for s in node.synonyms)):
        if not isinstance(text, str):
            raise MedenvError(f"node {node.id!r}: its {field} must be text, got {text!r}")
        if "\x00" in text or not is_utf8_text(text):
            what = "a NUL" if "\x00" in text else "a lone surrogate, which UTF-8 cannot store"
            raise MedenvError(f"node {node.id!r}: its {field} {text!r} holds {what}")


class Edge(msgspec.Struct, frozen=True):
    """A typed, directed edge ``source -[relation]-> target``."""

    source: str
    target: str
    relation: str
    attrs: dict[str, str] = {}


class Relation(msgspec.Struct, frozen=True):
    """How a relation reads in words, in both directions.

    ``forward`` reads ``<source> {forward} <target>``, ``inverse`` reads
    ``<target> {inverse} <source>``.
    """

    name: str
    forward: str
    inverse: str


class KnowledgeGraph:
    """A typed medical knowledge graph.

    ``source`` names where it came from (``hpo``, ``hetionet``, ``edgelist`` or a ``+``
    joined list for merged graphs) and ``version`` the release of that data.
    """

    def __init__(self, source: str, version: str, relations: Iterable[Relation] = ()) -> None:
        import networkx as nx  # here, not at the top: 0.5 s of every start-up (issue 19)

        self.source = source
        self.version = version
        self._graph = nx.MultiDiGraph()
        self._compact: compact.CompactGraph | None = None
        self.relations: dict[str, Relation] = {r.name: r for r in relations}
        self._by_name: dict[str, list[str]] = {}

    @property
    def graph(self):
        """The `networkx.MultiDiGraph` (built from the compact form on first use)."""
        if self._graph is None:
            self._graph = self._compact.to_networkx()
            self._compact = None
        return self._graph

    @classmethod
    def of_compact(
        cls, source: str, version: str, relations: Iterable[Relation], form: compact.CompactGraph
    ) -> KnowledgeGraph:
        """A graph held in its compact form (bulk loaders write the arrays directly; the
        networkx view is built on first use, as for an unpickled graph)."""
        kg = cls(source, version, relations)
        kg._graph, kg._compact = None, form
        for node in form.nodes:
            for label in (node.name, *node.synonyms):
                ids = kg._by_name.setdefault(label.casefold(), [])
                if node.id not in ids[-1:]:
                    ids.append(node.id)
        return kg

    def compact_form(self) -> compact.CompactGraph:
        """The graph's compact form: the one held, or one made from the networkx view."""
        if self._graph is None:
            return self._compact
        return compact.CompactGraph.of(self._graph)

    def hold_compact(self) -> KnowledgeGraph:
        """Keep the compact form only, as a graph read from the cache does: the networkx
        view is dropped (rebuilt on first use) and the form is made once, here, instead of
        again by each reader (pickling, `medenv.synth.index.GraphIndex`). Returns self."""
        if self._graph is not None:
            self._compact = compact.CompactGraph.of(self._graph)
            self._graph = None
        return self

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if state["_graph"] is not None:
            state["_compact"] = compact.CompactGraph.of(state["_graph"])
        state["_graph"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        if "graph" in state:  # pickled before the compact form
            state["_graph"] = state.pop("graph")
        state.setdefault("_compact", None)
        self.__dict__.update(state)

    # -- building ---------------------------------------------------------------------
    def add_relation(self, relation: Relation) -> None:
        self.relations[relation.name] = relation

    def add_node(self, node: Node) -> None:
        """Add (or replace) a node and index its name and synonyms; `MedenvError` naming the
        node when its id, type, name or a synonym is not text UTF-8 can store (synthesis
        failed deep inside with a UnicodeEncodeError on a lone surrogate)."""
        check_node_text(node)
        if node.id in self.graph:
            self._unindex(self.graph.nodes[node.id]["node"])
        self.graph.add_node(node.id, node=node)
        for label in (node.name, *node.synonyms):
            ids = self._by_name.setdefault(label.casefold(), [])
            if node.id not in ids:
                ids.append(node.id)

    def _unindex(self, node: Node) -> None:
        for label in (node.name, *node.synonyms):
            ids = self._by_name.get(label.casefold())
            if ids and node.id in ids:
                ids.remove(node.id)
                if not ids:  # no empty entry left behind (a renamed node's old label)
                    del self._by_name[label.casefold()]

    def add_edge(self, source: str, target: str, relation: str, **attrs: str) -> None:
        """Add ``source -[relation]-> target``; both nodes and the relation must exist."""
        if relation not in self.relations:
            raise KeyError(f"unknown relation {relation!r}: add_relation() it first")
        for node_id in (source, target):
            if node_id not in self.graph:
                raise KeyError(f"unknown node {node_id!r}")
        if attrs:
            self.graph.add_edge(source, target, key=relation, **attrs)
        else:
            self.graph.add_edge(source, target, key=relation)

    def add_edge_once(self, source: str, target: str, relation: str, attrs: dict) -> bool:
        """`add_edge` for bulk loaders: adds ``source -[relation]-> target`` with ``attrs``
        unless that edge exists (returns whether it was added). Writes the multigraph's
        adjacency as `networkx.MultiDiGraph.add_edge` does (one key dict shared by
        ``_succ[source][target]`` and ``_pred[target][source]``), several times faster."""
        if relation not in self.relations:
            raise KeyError(f"unknown relation {relation!r}: add_relation() it first")
        succ, pred = self.graph._succ, self.graph._pred
        for node_id in (source, target):
            if node_id not in succ:
                raise KeyError(f"unknown node {node_id!r}")
        keys = succ[source].get(target)
        if keys is None:
            keys = succ[source][target] = pred[target][source] = {}
        elif relation in keys:
            return False
        keys[relation] = dict(attrs)
        return True

    def edge_adder(self):
        """A function ``add(source, target, relation, attrs_or_None)`` for bulk loaders
        that have already added both nodes and the relation: `add_edge_once` without
        those checks (writing the adjacency as networkx does)."""
        succ, pred = self.graph._succ, self.graph._pred

        def add(source: str, target: str, relation: str, attrs: dict | None) -> None:
            out = succ[source]
            keys = out.get(target)
            if keys is None:
                keys = out[target] = pred[target][source] = {}
            elif relation in keys:
                return
            keys[relation] = {} if attrs is None else dict(attrs)

        return add

    # -- lookup -----------------------------------------------------------------------
    def __contains__(self, node_id: object) -> bool:
        if self._graph is None:
            return node_id in self._compact.by_id
        return node_id in self._graph._node

    def __len__(self) -> int:
        return self.num_nodes

    @property
    def num_nodes(self) -> int:
        if self._graph is None:
            return len(self._compact.nodes)
        return len(self._graph._node)

    @property
    def num_edges(self) -> int:
        """``graph.number_of_edges()``, counted from the adjacency directly (networkx's
        degree views take ~20x longer: it is read at every start-up, by the corpus cache)."""
        if self._graph is None:
            return self._compact.num_edges
        return sum(len(keys) for nbrs in self._graph._succ.values() for keys in nbrs.values())

    def node(self, node_id: str) -> Node:
        """The node with this id; `KeyError` if absent."""
        node = self.get(node_id)
        if node is None:
            raise KeyError(f"no node with id {node_id!r}")
        return node

    def get(self, node_id: str) -> Node | None:
        if self._graph is None:
            return self._compact.by_id.get(node_id)
        data = self._graph._node.get(node_id)
        return None if data is None else data["node"]

    def find(self, name: str) -> list[Node]:
        """Nodes whose name or a synonym equals ``name`` (case-insensitive), in id order."""
        return [self.node(i) for i in sorted(self._by_name.get(name.casefold(), ()))]

    def nodes(self, type: str | None = None) -> Iterator[Node]:
        """All nodes (of one type when given), in insertion order."""
        if self._graph is None:
            every: Iterable[Node] = self._compact.nodes
        else:
            every = (data["node"] for data in self._graph._node.values())
        for node in every:
            if type is None or node.type == type:
                yield node

    def edges(self, relation: str | None = None) -> Iterator[Edge]:
        for s, t, key, data in self.graph.edges(keys=True, data=True):
            if relation is None or key == relation:
                yield Edge(s, t, key, dict(data))

    def out_edges(self, node_id: str, relation: str | None = None) -> list[Edge]:
        """Edges leaving ``node_id``, in insertion order."""
        return [
            Edge(s, t, key, dict(data))
            for s, t, key, data in self.graph.out_edges(node_id, keys=True, data=True)
            if relation is None or key == relation
        ]

    def in_edges(self, node_id: str, relation: str | None = None) -> list[Edge]:
        """Edges entering ``node_id``, in insertion order."""
        return [
            Edge(s, t, key, dict(data))
            for s, t, key, data in self.graph.in_edges(node_id, keys=True, data=True)
            if relation is None or key == relation
        ]

    def successors(self, node_id: str, relation: str | None = None) -> list[str]:
        return list(dict.fromkeys(e.target for e in self.out_edges(node_id, relation)))

    def predecessors(self, node_id: str, relation: str | None = None) -> list[str]:
        return list(dict.fromkeys(e.source for e in self.in_edges(node_id, relation)))

    def neighbors(self, node_id: str) -> list[str]:
        """Nodes linked to ``node_id`` in either direction, without duplicates."""
        return list(
            dict.fromkeys([*self.graph.successors(node_id), *self.graph.predecessors(node_id)])
        )

    def degree(self, node_id: str) -> int:
        """Number of edges touching ``node_id`` (both directions)."""
        return self.graph.degree(node_id)

    def verbalise(self, relation: str, inverse: bool = False) -> str:
        """The words for ``relation`` read forward (source to target) or inverse."""
        rel = self.relations[relation]
        return rel.inverse if inverse else rel.forward

    # -- ontology semantics (see medenv.kg.semantics) ------------------------------------
    def relation_properties(self) -> dict[str, RelationProperties]:
        """Each relation's declared properties: the source's defaults, then overrides."""
        out = default_properties(self.source)
        out.update(getattr(self, "_properties", {}))
        return {k: v for k, v in out.items() if k in self.relations}

    def set_relation_properties(self, relation: str, properties: RelationProperties) -> None:
        """Declare (or override) how ``relation`` is closed; the relation must exist."""
        if relation not in self.relations:
            raise KeyError(f"unknown relation {relation!r}")
        if not hasattr(self, "_properties"):
            self._properties: dict[str, RelationProperties] = {}
        self._properties[relation] = properties

    def closure(self) -> Closure:
        """A fresh memoised closure over the current edges and relation properties."""
        return Closure(self.successors, self.predecessors, self.relation_properties())

    def related(self, node_id: str, relation: str, inverse: bool = False) -> set[str]:
        """Nodes ``v`` with ``node -relation-> v`` under the ontology closure (``v
        -relation-> node`` when ``inverse``): transitive, symmetric and inherited edges
        included."""
        return set(self.closure().related(node_id, relation, inverse))

    def satisfying(
        self,
        start: Iterable[str],
        steps: Iterable[tuple[str, bool]],
        types: Iterable[str | None] = (),
        facts: dict[int, list[tuple[str, bool, Iterable[str]]]] | None = None,
    ) -> set[str]:
        """The entities that satisfy a chain query under the closure.

        From the nodes ``start``, walk ``steps`` (``(relation, inverse)`` per hop); level
        ``i`` keeps nodes of ``types[i]`` (None: any) that satisfy every fact in
        ``facts[i]``: ``(relation, inverse, entities)`` holds for ``u`` when ``u
        -relation-> e`` (``e -relation-> u`` when ``inverse``) for some ``e`` in
        ``entities``, under the closure. Returns the last level's set.
        """
        cl = self.closure()
        kinds = list(types)
        facts = facts or {}

        def level(i: int):
            def keep(nodes: set[str]) -> set[str]:
                kind = kinds[i] if i < len(kinds) else None
                out = {u for u in nodes if kind is None or self.node(u).type == kind}
                for rel, inv, ents in facts.get(i, ()):
                    holders: set[str] = set()
                    for e in ents:
                        holders |= cl.related(e, rel, not inv)
                    out &= holders
                return out

            return keep

        steps = list(steps)
        return satisfying(cl, start, steps, [level(i) for i in range(len(steps) + 1)])[-1]

    # -- summary ----------------------------------------------------------------------
    def stats(self) -> dict:
        """Counts of nodes by type and edges by relation."""
        node_types = Counter(n.type for n in self.nodes())
        if self._graph is None:  # counted from the edge arrays: no networkx view built
            form = self._compact
            counts = np.bincount(form.rel, minlength=len(form.rel_names)).tolist()
            relations = Counter()
            for name, count in zip(form.rel_names, counts, strict=True):
                relations[name] += count
            relations = +relations  # drop names with no edge
        else:
            relations = Counter(key for _, _, key in self.graph.edges(keys=True))
        return {
            "source": self.source,
            "version": self.version,
            "nodes": self.num_nodes,
            "edges": self.num_edges,
            "node_types": dict(sorted(node_types.items())),
            "relations": dict(sorted(relations.items())),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KnowledgeGraph):
            return NotImplemented
        return (
            self.source == other.source
            and self.version == other.version
            and self.relations == other.relations
            and dict(self.graph.nodes(data="node")) == dict(other.graph.nodes(data="node"))
            # {source: {target: {relation: attrs}}}: plain dicts, compared order-free
            and self.graph._adj == other.graph._adj
        )

    def __repr__(self) -> str:
        return (
            f"KnowledgeGraph(source={self.source!r}, version={self.version!r}, "
            f"nodes={self.num_nodes}, edges={self.num_edges})"
        )

"""Ontology semantics of relations, and the closure a reader applies when reading a graph.

A knowledge graph stores asserted edges; a clinician reads more into them. Each source
declares, per relation, `RelationProperties`:

- ``transitive``: ``a -r-> b -r-> c`` implies ``a -r-> c`` ("a kind of" is transitive).
- ``symmetric``: ``a -r-> b`` implies ``b -r-> a`` ("resembles", "interacts with").
- ``inherited_along``: the name of a transitive hierarchy relation ``h`` along which the
  *targets* of ``r`` propagate upwards: ``a -r-> t`` and ``t -h->+ t'`` imply
  ``a -r-> t'``. This is HPO's true-path rule: a disease annotated with a term is also
  annotated with every ancestor of that term.

`related(kg, node, relation, inverse)` is one step under the closure: the nodes ``v`` with
``node -r-> v`` (or, when ``inverse``, ``v -r-> node``) in the closed graph. The closure of
``is_a`` is strict (a term is not "a kind of" itself). `SOURCE_PROPERTIES` holds the
declarations of the built-in loaders; a merged graph (``hpo+hetionet``) gets the union;
`KnowledgeGraph.set_relation_properties` overrides or adds (e.g. for ``edgelist`` graphs,
from a user lexicon file).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec


class RelationProperties(msgspec.Struct, frozen=True):
    """How one relation is read beyond its asserted edges (see module docstring)."""

    transitive: bool = False
    symmetric: bool = False
    inherited_along: str | None = None


_TRUE_PATH = RelationProperties(inherited_along="is_a")
SOURCE_PROPERTIES: dict[str, dict[str, RelationProperties]] = {
    "hpo": {
        "is_a": RelationProperties(transitive=True),
        "has_phenotype": _TRUE_PATH,
        "has_inheritance": _TRUE_PATH,
        "has_clinical_course": _TRUE_PATH,
        "has_modifier": _TRUE_PATH,
        "has_history": _TRUE_PATH,
    },
    "hetionet": {
        "disease_resembles_disease": RelationProperties(symmetric=True),
        "compound_resembles_compound": RelationProperties(symmetric=True),
        "covaries": RelationProperties(symmetric=True),
        "interacts": RelationProperties(symmetric=True),
    },
    "edgelist": {},
}


def default_properties(source: str) -> dict[str, RelationProperties]:
    """The declared properties of a (possibly ``+``-merged) source's relations."""
    out: dict[str, RelationProperties] = {}
    for part in source.split("+"):
        out.update(SOURCE_PROPERTIES.get(part.strip(), {}))
    return out


class _Cycle(Exception):
    """A transitive relation loops back (`Closure._memo_reach` then walks instead)."""


class Closure:
    """Memoised closure steps over one graph's asserted edges.

    ``successors(node, rel)`` / ``predecessors(node, rel)`` give asserted neighbours; the
    properties decide how they are closed. Results are frozensets, cached per
    ``(node, relation, inverse)``.
    """

    def __init__(
        self,
        successors,
        predecessors,
        properties: Mapping[str, RelationProperties],
    ) -> None:
        self._succ = successors
        self._pred = predecessors
        self.properties = dict(properties)
        self._cache: dict[tuple[str, str, bool], frozenset[str]] = {}
        self._reached: dict[tuple[str, str, bool], frozenset[str]] = {}  # `_transitive`

    def _reach(self, starts: Iterable[str], relation: str, inverse: bool, strict: bool) -> set[str]:
        """Nodes reached over one or more (``strict``) or zero or more steps."""
        step = self._pred if inverse else self._succ
        props = self.properties.get(relation)
        sym = props is not None and props.symmetric
        frontier = list(starts)
        seen: set[str] = set() if strict else set(frontier)
        while frontier:
            nxt = []
            for n in frontier:
                targets = list(step(n, relation))
                if sym:
                    targets += list((self._succ if inverse else self._pred)(n, relation))
                for t in targets:
                    if t not in seen:
                        seen.add(t)
                        nxt.append(t)
            frontier = nxt
        return seen

    def related(self, node: str, relation: str, inverse: bool = False) -> frozenset[str]:
        """Nodes ``v`` with ``node -relation-> v`` under the closure (``v -relation->
        node`` when ``inverse``)."""
        key = (node, relation, inverse)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        props = self.properties.get(relation, RelationProperties())
        if props.transitive:
            out = self._transitive(node, relation, inverse)
        else:
            out = set(self._pred(node, relation) if inverse else self._succ(node, relation))
            if props.symmetric:
                out.update(self._succ(node, relation) if inverse else self._pred(node, relation))
        h = props.inherited_along
        if h is not None:
            if inverse:  # holders of any descendant-or-self of node
                out = set(self._pred(node, relation))
                for d in self._transitive(node, h, True):
                    out.update(self._pred(d, relation))
            else:  # every ancestor-or-self of the asserted targets
                up = set(out)
                for t in out:
                    up |= self._transitive(t, h, False)
                out = up
        result = frozenset(out)
        self._cache[key] = result
        return result

    def _transitive(self, node: str, relation: str, inverse: bool) -> frozenset[str]:
        """Nodes reached over one or more steps (`_reach` with ``strict``), memoised per
        node: a node's set is the union of its neighbours' sets, each computed once, not
        a fresh walk. A symmetric relation, a cycle or a chain too deep to recurse are
        walked instead."""
        hit = self._reached.get((node, relation, inverse))
        if hit is not None:
            return hit
        props = self.properties.get(relation)
        if props is None or not props.symmetric:
            try:
                return self._memo_reach(node, relation, inverse, set())
            except (_Cycle, RecursionError):
                pass
        return frozenset(self._reach([node], relation, inverse, strict=True))

    def _memo_reach(self, node: str, relation: str, inverse: bool, active: set[str]):
        key = (node, relation, inverse)
        hit = self._reached.get(key)
        if hit is not None:
            return hit
        if node in active:
            raise _Cycle
        active.add(node)
        out: set[str] = set()
        for t in self._pred(node, relation) if inverse else self._succ(node, relation):
            out.add(t)
            out |= self._memo_reach(t, relation, inverse, active)
        active.discard(node)
        result = self._reached[key] = frozenset(out)
        return result

    def related_set(self, nodes: Iterable[str], relation: str, inverse: bool = False) -> set[str]:
        """The union of `related` over ``nodes``, walking shared ancestors once."""
        props = self.properties.get(relation, RelationProperties())
        step = self._pred if inverse else self._succ
        other = self._succ if inverse else self._pred
        if props.transitive:
            first: set[str] = set()
            for n in nodes:
                first.update(step(n, relation))
                if props.symmetric:
                    first.update(other(n, relation))
            return self._reach(first, relation, inverse, strict=False)
        h = props.inherited_along
        if h is not None and inverse:
            out: set[str] = set()
            for d in self._reach(nodes, h, True, strict=False):
                out.update(self._pred(d, relation))
            return out
        out = set()
        for n in nodes:
            out.update(step(n, relation))
            if props.symmetric:
                out.update(other(n, relation))
        if h is not None:
            out = self._reach(out, h, False, strict=False)
        return out


def satisfying(
    closure: Closure,
    start: Iterable[str],
    steps: Iterable[tuple[str, bool]],
    keep: Iterable = (),
) -> list[set[str]]:
    """Candidate sets of a path query under the closure.

    ``start``: the nodes the first entity may be; ``steps``: ``(relation, inverse)`` per
    hop; ``keep``: per level ``0..n``, a filter ``set -> set`` (type and constraint checks)
    or None. Returns ``[S0, ..., Sn]``.
    """
    filters = list(keep)

    def filtered(i: int, nodes: set[str]) -> set[str]:
        f = filters[i] if i < len(filters) else None
        return f(nodes) if f is not None else nodes

    sets = [filtered(0, set(start))]
    for i, (rel, inv) in enumerate(steps, start=1):
        sets.append(filtered(i, closure.related_set(sets[-1], rel, inv)))
    return sets

"""Uniqueness: a question's chain, read as a path query, must admit exactly its answer.

What a question states: the seed by name and type; for every hop, "a <type> that
<relation> <the previous entity>"; for some entities, extra facts about named entities
(`Constraint`). Reading it as a query over the KG:

    S0     = nodes of the seed's type that the seed's name (or a synonym) names
    S(i+1) = nodes of chain[i+1]'s type reached from any node of S(i) over hop i
             (edges walked backwards when the hop is inverse), that satisfy every
             constraint on node i+1; a constraint is satisfied by ``u`` when ``u`` has the
             stated relation with any node the constraint entity's name names.

The item is unambiguous iff ``S(n) == {answer}``. `resolve_chain` computes ``S(n)`` with
the public `KnowledgeGraph` API only (tests use it to re-verify every item, independently
of the pipeline); `disambiguate` is the pipeline's fast version on a `GraphIndex` that also
adds constraints until the query is unique.

Adding constraints (greedy, deterministic): while ``S(n) != {answer}``, take the earliest
node ``i >= 1`` with ``|S(i)| > 1`` that has a fact (an edge to an entity outside the chain
whose name does not give away a chain entity) true for ``chain[i]`` but false for some
other member of ``S(i)``; add the fact that leaves the fewest members (ties: entity id,
relation). At most ``per_node`` facts per node and ``max_constraints`` per item; if that
is not enough the item is dropped as ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from medenv.kg.graph import KnowledgeGraph
from medenv.synth.index import GraphIndex
from medenv.synth.qa import Constraint, Hop, QAItem


def _named(kg: KnowledgeGraph, node_id: str) -> list[str]:
    return [n.id for n in kg.find(kg.node(node_id).name)] or [node_id]


def _satisfies(kg: KnowledgeGraph, constraint: Constraint) -> set[str]:
    """Nodes that have the constraint's fact with any node its entity's name names."""
    out: set[str] = set()
    for e in _named(kg, constraint.entity):
        if constraint.inverse:  # entity -[relation]-> u
            out.update(kg.successors(e, constraint.relation))
        else:  # u -[relation]-> entity
            out.update(kg.predecessors(e, constraint.relation))
    return out


def resolve_chain(
    kg: KnowledgeGraph,
    item: QAItem | None = None,
    *,
    chain: Sequence[str] | None = None,
    hops: Sequence[Hop] | None = None,
    constraints: Sequence[Constraint] = (),
) -> set[str]:
    """The answers the question's statements admit in ``kg`` (see module docstring).

    Pass a `QAItem`, or ``chain``/``hops``/``constraints`` directly.
    """
    if item is not None:
        chain, hops, constraints = item.chain, item.hops, item.constraints
    if not chain or hops is None or len(hops) != len(chain) - 1:
        raise ValueError("resolve_chain needs a chain of n+1 ids and n hops")
    by_node: dict[int, list[Constraint]] = {}
    for c in constraints:
        by_node.setdefault(c.node, []).append(c)

    def keep(nodes: set[str], i: int) -> set[str]:
        kind = kg.node(chain[i]).type
        nodes = {u for u in nodes if kg.node(u).type == kind}
        for c in by_node.get(i, ()):
            nodes &= _satisfies(kg, c)
        return nodes

    current = keep(set(_named(kg, chain[0])), 0)
    for i, hop in enumerate(hops):
        nxt: set[str] = set()
        for v in current:
            if hop.inverse:
                nxt.update(kg.predecessors(v, hop.relation))
            else:
                nxt.update(kg.successors(v, hop.relation))
        current = keep(nxt, i + 1)
    return current


class Disambiguator:
    """The pipeline's fast path query (`candidate_sets`) and constraint search.

    Same semantics as `resolve_chain`, on a `GraphIndex`. ``cap``: while *choosing* where
    to add a constraint, propagation stops at a level with more than ``cap`` candidates
    (that level is ambiguous anyway); acceptance always uses the full, exact sets.
    """

    def __init__(self, index: GraphIndex, cap: int = 400) -> None:
        self.index = index
        self.cap = cap
        # (source type, relation, inverse) -> the one type it always reaches, if any
        reach: dict[tuple[str, str, bool], set[str]] = {}
        for node, groups in index.adj.items():
            kind = index.type[node]
            for (rel, inv), targets in groups.items():
                reach.setdefault((kind, rel, inv), set()).update(index.type[t] for t in targets)
        self._reach = {k: next(iter(v)) for k, v in reach.items() if len(v) == 1}

    def satisfies(self, c: Constraint) -> set[str]:
        out: set[str] = set()
        for e in self.index.named(c.entity):
            out.update(self.index.step(e, c.relation, not c.inverse))
        return out

    def _level(
        self, prev: set[str], src_kind: str, kind: str, rel: str, inv: bool, cons: list[Constraint]
    ) -> set[str]:
        ix = self.index
        if cons:
            sats = sorted((self.satisfies(c) for c in cons), key=len)
            walk_cost = sum(len(ix.step(v, rel, inv)) for v in prev)
            back_cost = sum(len(ix.step(u, rel, not inv)) for u in sats[0])
            if back_cost < walk_cost:
                out = {
                    u
                    for u in sats[0]
                    if ix.type[u] == kind
                    and all(u in s for s in sats[1:])
                    and not prev.isdisjoint(ix.step(u, rel, not inv))
                }
                return out
        out = ix.walk(prev, rel, inv)
        if self._reach.get((src_kind, rel, inv)) != kind:
            out = {u for u in out if ix.type[u] == kind}
        for c in cons:
            out &= self.satisfies(c)
        return out

    def candidate_sets(
        self,
        chain: Sequence[str],
        steps: Sequence[tuple[str, bool]],
        constraints: Sequence[Constraint],
        *,
        prefix: list[set[str]] | None = None,
        cap: int | None = None,
    ) -> list[set[str]]:
        """``[S0, ..., Sn]`` of the module docstring (reusing ``prefix`` levels; stopping
        after the first level larger than ``cap`` when one is given)."""
        ix = self.index
        by_node: dict[int, list[Constraint]] = {}
        for c in constraints:
            by_node.setdefault(c.node, []).append(c)
        sets = list(prefix) if prefix else []
        if not sets:
            first = {u for u in ix.named(chain[0]) if ix.type[u] == ix.type[chain[0]]}
            for c in by_node.get(0, ()):
                first &= self.satisfies(c)
            sets.append(first)
        for i in range(len(sets), len(chain)):
            if cap is not None and len(sets[-1]) > cap:
                break
            rel, inv = steps[i - 1]
            sets.append(
                self._level(
                    sets[-1], ix.type[chain[i - 1]], ix.type[chain[i]], rel, inv, by_node.get(i, [])
                )
            )
        return sets

    def _best_fact(
        self,
        node: str,
        members: set[str],
        chain: Sequence[str],
        usable: Callable[[str], bool],
        taken: set[tuple[str, str, bool]],
    ) -> Constraint | None:
        ix = self.index
        on_chain = set(chain)
        scored: list[tuple[int, str, str, bool]] = []
        for (rel, inv), others in ix.adj[node].items():
            for e in others:
                if e in on_chain or (e, rel, inv) in taken:
                    continue
                # the fact about u: KG edge u -rel-> e (inv False) or e -rel-> u (inv True)
                holders = ix.step(e, rel, not inv)
                if len(ix.named(e)) > 1:
                    c = Constraint(node=-1, relation=rel, entity=e, inverse=inv)
                    left = len(members & self.satisfies(c))
                elif len(holders) <= len(members):
                    left = sum(1 for u in holders if u in members)
                else:
                    left = sum(1 for u in members if e in ix.step_set(u, rel, inv))
                if left < len(members):
                    scored.append((left, e, rel, inv))
        scored.sort()
        for _, e, rel, inv in scored:
            if usable(e):
                return Constraint(node=-1, relation=rel, entity=e, inverse=inv)
        return None

    def disambiguate(
        self,
        chain: Sequence[str],
        steps: Sequence[tuple[str, bool]],
        *,
        max_constraints: int,
        per_node: int = 2,
        usable: Callable[[str], bool] = lambda e: True,
    ) -> tuple[Constraint, ...] | None:
        """Constraints that make the chain's query unique, or None (ambiguous)."""
        constraints: list[Constraint] = []
        answer = chain[-1]
        sets: list[set[str]] = []
        while True:
            sets = self.candidate_sets(chain, steps, constraints, prefix=sets, cap=self.cap)
            if len(sets) == len(chain) and sets[-1] == {answer}:
                return tuple(constraints)
            if len(constraints) >= max_constraints:
                return None
            for i in range(1, len(sets)):
                if len(sets[i]) <= 1 or sum(c.node == i for c in constraints) >= per_node:
                    continue
                taken = {(c.entity, c.relation, c.inverse) for c in constraints if c.node == i}
                found = self._best_fact(chain[i], sets[i], chain, usable, taken)
                if found is not None:
                    constraints.append(
                        Constraint(
                            node=i,
                            relation=found.relation,
                            entity=found.entity,
                            inverse=found.inverse,
                        )
                    )
                    sets = sets[:i]  # levels before i are unchanged
                    break
            else:
                return None

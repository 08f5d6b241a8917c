"""What the KG says about an item's chain: the oracle's trusted side (never written out).

`Fact`: one thing the question states about an unknown chain node: it is related to the
``anchor`` entity (the previous node, or a constraint entity the question names) through
``relation``. `ChainFacts(kg, item)` gives each node's facts given the entity chosen for
the previous node, and which entities fit all of them (the KG's truth, used by the oracle
only to know when the candidates the observations allow are down to one).

A link to the previous node is read in the literal graph (the pages list those edges); a
constraint (``closed``) is read under the ontology closure (`medenv.kg.semantics`), as
synthesis verified it: "a clinical feature which is a neurological abnormality" holds for
every descendant of the organ-system branch, "a subtype of X" for every descendant of X.
"""

from __future__ import annotations

import msgspec


class Fact(msgspec.Struct, frozen=True):
    """``anchor -relation-> node`` when ``anchor_is_source``, else ``node -relation-> anchor``;
    ``closed``: under the ontology closure (a question's constraint), else literal."""

    anchor: str
    relation: str
    anchor_is_source: bool
    closed: bool = False


def related(kg, fact: Fact, closure=None) -> set[str]:
    """The entities ``fact`` allows (KG truth); a ``closed`` fact through ``closure`` (a
    `medenv.kg.semantics.Closure` of ``kg``; a fresh one when None)."""
    if fact.closed:
        cl = closure if closure is not None else kg.closure()
        return set(cl.related(fact.anchor, fact.relation, not fact.anchor_is_source))
    if fact.anchor_is_source:
        return set(kg.successors(fact.anchor, fact.relation))
    return set(kg.predecessors(fact.anchor, fact.relation))


class ChainFacts:
    """The facts of ``item``'s chain nodes over ``kg``; ``cache`` (shared across items)
    memoises `related`."""

    def __init__(self, kg, item, cache: dict[Fact, set[str]] | None = None, closure=None) -> None:
        self.kg = kg
        self.item = item
        self.cache = {} if cache is None else cache
        self.closure = closure if closure is not None else kg.closure()

    def rel(self, fact: Fact) -> set[str]:
        out = self.cache.get(fact)
        if out is None:
            out = self.cache[fact] = related(self.kg, fact, self.closure)
        return out

    def facts(self, node: int, head: str) -> list[Fact]:
        """Node ``node``'s facts: the link from ``head``, then the question's constraints."""
        hop = self.item.hops[node - 1]
        out = [Fact(head, hop.relation, not hop.inverse)]
        for c in self.item.constraints:
            if c.node == node and c.entity in self.kg:
                out.append(Fact(c.entity, c.relation, c.inverse, closed=True))
        return out

    def kind(self, node: int) -> str:
        return self.kg.node(self.item.chain[node]).type

    def fits(self, node: int, head: str, entity: str) -> bool:
        """``entity`` has the node's type and meets every fact of the node."""
        return self.kg.node(entity).type == self.kind(node) and all(
            entity in self.rel(f) for f in self.facts(node, head)
        )

    def fit_set(self, node: int, head: str) -> set[str]:
        """Every entity that fits node ``node`` after ``head``."""
        facts = self.facts(node, head)
        out = set(self.rel(facts[0]))
        for f in facts[1:]:
            out &= self.rel(f)
        kind = self.kind(node)
        return {e for e in out if self.kg.node(e).type == kind}

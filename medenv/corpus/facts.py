"""Which KG facts a page states: the selection rules behind every rendered page.

A `Fact` is one KG edge seen from the page's entity: ``entity --relation--> other`` when
``inverse`` is False, ``other --relation--> entity`` when True. Selection is a pure
function of the graph, the page and the seed, so `answerability` can recompute which facts
any page states without storing them.

- Medical pages list every relation group (relation + direction), each capped at
  `MEDICAL_CAP` neighbours; when capped, the rarest neighbours (lowest degree, then id)
  are kept, so facts about specific entities stay findable.
- Web pages state a seeded random subset of the entity's facts (`WEB_FACTS` per style).
"""

from __future__ import annotations

import hashlib
import random

import msgspec

from medenv.kg.graph import KnowledgeGraph
from medenv.synth.index import GraphIndex

MEDICAL_CAP = 30
WEB_FACTS = {"summary": 3, "forum": 4, "encyclopedia": 8, "compare": 3}


class Fact(msgspec.Struct, frozen=True, order=True):
    relation: str
    inverse: bool
    other: str

    def edge(self, entity: str) -> tuple[str, str, str]:
        """The KG edge ``(source, relation, target)`` this fact states."""
        if self.inverse:
            return (self.other, self.relation, entity)
        return (entity, self.relation, self.other)


def rng_for(seed: int, *parts: str) -> random.Random:
    """A random generator that depends only on ``seed`` and ``parts`` (not on ``hash()``)."""
    digest = hashlib.sha256("|".join((str(seed), *parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Adjacency:
    """Per-entity facts of a graph, grouped by (relation, inverse), neighbours by id.

    Read from the graph's compact form through `medenv.synth.index.GraphIndex` (edge
    arrays sorted once), never from the networkx view, which is then not built for it
    (a cold start's world build skips it: `medenv.corpus.forked`)."""

    def __init__(self, kg: KnowledgeGraph) -> None:
        self.kg = kg
        self._index = GraphIndex(kg)
        self.degree: dict[str, int] = self._index.degree  # in + out edges, as networkx's
        self._groups: dict[str, dict[tuple[str, bool], list[str]]] = {}

    def groups(self, entity: str) -> dict[tuple[str, bool], list[str]]:
        """``{(relation, inverse): sorted neighbour ids}`` in (relation, inverse) order."""
        cached = self._groups.get(entity)
        if cached is not None:
            return cached
        result = {k: list(v) for k, v in self._index.groups(entity).items()}
        if len(self._groups) < 200_000:
            self._groups[entity] = result
        return result

    def all_facts(self, entity: str) -> list[Fact]:
        return [Fact(r, inv, o) for (r, inv), others in self.groups(entity).items() for o in others]

    def rare_first(self, ids: list[str]) -> list[str]:
        return sorted(ids, key=lambda i: (self.degree.get(i, 0), i))


def medical_facts(adj: Adjacency, entity: str) -> dict[tuple[str, bool], tuple[list[str], int]]:
    """Per group: the listed neighbours (rarest first, capped) and the group's full size."""
    chosen = {}
    for key, others in adj.groups(entity).items():
        listed = others if len(others) <= MEDICAL_CAP else adj.rare_first(others)[:MEDICAL_CAP]
        chosen[key] = (sorted(listed, key=lambda i: adj.kg.node(i).name.casefold()), len(others))
    return chosen


def web_facts(adj: Adjacency, entity: str, style: str, seed: int) -> list[Fact]:
    """The facts a web page of ``style`` about ``entity`` states, in page order."""
    facts = adj.all_facts(entity)
    k = WEB_FACTS[style]
    if len(facts) > k:
        facts = rng_for(seed, "facts", entity, style).sample(facts, k)
    return sorted(facts)


def similar_entity(adj: Adjacency, entity: str, seed: int) -> str | None:
    """A deterministic entity that is easy to confuse with ``entity``: a sibling under a
    shared parent (``is_a``), else another entity sharing its rarest neighbour."""
    groups = adj.groups(entity)
    candidates: list[str] = []
    for parent in groups.get(("is_a", False), []):
        candidates += [c for c in adj.groups(parent).get(("is_a", True), []) if c != entity]
    if not candidates:
        neighbours = adj.rare_first([o for others in groups.values() for o in others])
        for n in neighbours[:3]:
            node_type = adj.kg.node(entity).type
            candidates += [
                o
                for others in adj.groups(n).values()
                for o in others
                if o != entity and adj.kg.node(o).type == node_type
            ]
            if candidates:
                break
    if not candidates:
        return None
    candidates = sorted(set(candidates))
    return rng_for(seed, "similar", entity).choice(candidates)

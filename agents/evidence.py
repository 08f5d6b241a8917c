"""What an episode's observations have shown so far: the oracle's reading of its tools.

`Evidence` keeps, from the question and every observation in order, the *units* of
`medenv.grounding` (a search result with its passage, a browsed passage with its page
title) as sets of KG entity ids, the first position and surface form of every entity
shown, the entities inspected (a page browsed, a result titled with them) and the url of
each entity's page seen in a result list.

``shown(e, fact)`` (a `medenv.agents.chain_facts.Fact`) is true when one unit names both ``e`` and the anchor and
the KG confirms the relation: the observations state the fact about ``e``. The same units
are what `medenv.grounding` checks claims against, so what the oracle may claim is exactly
what the check accepts.
"""

from __future__ import annotations

from medenv.agents.chain_facts import Fact, related

from medenv.grounding.labels import LabelIndex
from medenv.grounding.units import observation_units


class Evidence:
    """The observations of one episode, read into units of entity ids (module docstring)."""

    def __init__(self, index: LabelIndex, world, question: str) -> None:
        self.index = index
        self.world = world
        self.units: list[frozenset[str]] = []
        self.order: dict[str, int] = {}
        self.label: dict[str, str] = {}
        self.inspected: set[str] = set()
        self.pages: dict[str, str] = {}  # entity id -> url of its page (medical first)
        self.texts: list[str] = []
        self._add_unit(question)

    def _add_unit(self, text: str) -> frozenset[str]:
        ids: set[str] = set()
        for m in self.index.mentions(text):
            ids |= m.ids
            for i in sorted(m.ids):  # a set: its order would follow PYTHONHASHSEED
                if i not in self.order:
                    self.order[i] = len(self.order)
                    self.label[i] = m.label
        unit = frozenset(ids)
        self.units.append(unit)
        return unit

    def add(self, observation: str) -> None:
        self.texts.append(observation)
        units, titles = observation_units(observation)
        for u in units:
            self._add_unit(u)
        for t in titles:
            for m in self.index.mentions(t):
                self.inspected |= m.ids
        for line in observation.splitlines():
            for word in line.split():
                if word.startswith("http"):
                    doc = self.world.corpus.get(word)
                    if doc is not None and doc.entity_id:
                        known = self.pages.get(doc.entity_id, "")
                        if not known.startswith("https://medref"):
                            self.pages[doc.entity_id] = word

    def visible(self, entity: str) -> bool:
        return entity in self.order

    def shown(self, entity: str, fact: Fact, kg, closure=None) -> bool:
        """The observations state ``fact`` about ``entity`` (see module docstring)."""
        if not any(entity in u and fact.anchor in u for u in self.units):
            return False
        return entity in related(kg, fact, closure)

    def co_shown(self, a: str, b: str) -> bool:
        return any(a in u and b in u for u in self.units)

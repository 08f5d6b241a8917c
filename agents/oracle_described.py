"""The oracle's reading of *described* entities (obfuscation levels 1-2, `medenv.synth.describe`).

A described constraint states a property in plain words ("is a neurological abnormality",
"follows autosomal recessive inheritance") instead of naming an entity; the medical page
of every phenotype and disease states those properties (its organ systems,
`medenv.corpus.organ`, its inheritance and course). Two things follow for the oracle
(`agents.oracle.OracleAgent`, which mixes this class in):

- **confirm** (`_confirm`): a chain node with described properties is settled by reading
  candidate pages: the next visible candidate that fits the node's facts (KG truth, the
  masked guidance) and has not been read yet is looked up (its name searched when no
  result gave its url) and its page browsed for the properties
  (`CONFIRM_GOAL`), so the evidence shows the properties with it;
- **a described seed** (`_described_start`): when the question names no seed, the chain
  is entered at node 1 through its named clue: search that clue, read its page, and for
  each node-1 candidate shown with it (in observation order), read the candidate's page
  for the seed-type entities it lists; a listed one that has every described property
  of the seed (its page is read to confirm them) is the seed, and the chain goes on from
  the candidate. A candidate that leads nowhere is set aside and the next one tried.

Everything said is grounded: only entities the observations showed are named, and a
property is claimed only when a unit showed it with the entity.
"""

from __future__ import annotations

from collections.abc import Generator

from medenv.agents.chain_facts import Fact

from medenv.synth.describe import BRANCH_WORDS

CONFIRM_GOAL = "organ systems of its features, inheritance and clinical course"


class DescribedEntities:
    """Mixin of `OracleAgent` (see module docstring); uses its ``item``, ``kg``, ``cf``,
    ``ev``, ``_act``, ``_say``, ``_name``, ``_named``, ``_phrase`` and ``_walk``."""

    def _described(self, fact: Fact) -> bool:
        """``fact`` is a constraint the question words as a description (not quoted)."""
        return fact.closed and f'"{self.kg.node(fact.anchor).name}"' not in self.item.question

    def _confirm(self, node: int, head: str | None, candidates: list[str]) -> Generator:
        """Read the page of the first of ``candidates`` not read yet (searching its name
        first when no result gave its url); False when none is left to read."""
        for e in candidates:
            if e in self.ev.inspected or e in self._confirmed:
                continue
            self._confirmed.add(e)
            name = self._name(e)
            if self.ev.pages.get(e) is None:
                think = self._say(
                    f'I will look "{name}" up to check the described properties.',
                    f'To test "{name}" against the description, I search for it.',
                )
                yield from self._act(self._flush(think), "medical_search", {"query": name})
            url = self.ev.pages.get(e)
            if url is None:
                continue
            think = self._say(
                f'Reading the page of "{name}" for the properties the question describes.',
                f'Does "{name}" have the described properties? Reading its page.',
            )
            yield from self._act(self._flush(think), "browse", {"url": url, "goal": CONFIRM_GOAL})
            return True
        return False

    def _words(self, facts: list[Fact]) -> str:
        """The plain words of described ``facts`` as the question has them (an organ
        system's adjective, an inheritance or course term in lower case): no KG label
        beyond what the question wrote."""
        out = []
        for f in facts:
            if not self._described(f):
                continue
            anchor = f.anchor[f.anchor.find("HP:") :] if "HP:" in f.anchor else f.anchor
            word = BRANCH_WORDS.get(anchor) or self.kg.node(f.anchor).name.lower()
            if word.lower() in self.item.question.lower():
                out.append(word)
        return " ".join(out)

    def _shown_properties(self, entity: str, facts: list[Fact]) -> list[Fact]:
        """The described facts that a unit showed with ``entity`` and the KG confirms."""
        return [
            f
            for f in facts
            if self._described(f)
            and self.ev.co_shown(entity, f.anchor)
            and entity in self.cf.rel(f)
        ]

    def _properties_text(self, entity: str, facts: list[Fact]) -> str:
        shown = self._shown_properties(entity, facts)
        if not shown:
            return ""
        names = " and ".join(f'"{self._name(f.anchor)}"' for f in shown)
        return self._say(
            f' The page of "{self._name(entity)}" lists {names}, as described.',
            f' "{self._name(entity)}" is listed with {names}, which matches the description.',
        )

    # -- a described seed ------------------------------------------------------------------
    def _seed_facts(self) -> list[Fact]:
        return [
            Fact(c.entity, c.relation, c.inverse, closed=True)
            for c in self.item.constraints
            if c.node == 0 and c.entity in self.kg
        ]

    def _seed_fits(self) -> set[str]:
        """Seed-type entities with every described property of the seed (KG truth)."""
        kind = self.cf.kind(0)
        out: set[str] | None = None
        for f in self._seed_facts():
            out = set(self.cf.rel(f)) if out is None else out & self.cf.rel(f)
        return {e for e in (out or set()) if self.kg.node(e).type == kind}

    def _seeds_of(self, x: str) -> set[str]:
        """Entities linked to node-1 candidate ``x`` by the first hop (literal graph)."""
        hop = self.item.hops[0]
        return self.cf.rel(Fact(x, hop.relation, hop.inverse))

    def _described_start(self) -> Generator:
        """Resolve a described seed through node 1's named clue (module docstring); the
        final entity, or None when no grounded start was found."""
        clues = [
            f
            for f in self.cf.facts(1, self.item.chain[0])[1:]
            if not self._described(f) and self._named(f.anchor)
        ]
        if not clues:
            return None
        lead = clues[0]
        seeds_ok = self._seed_fits()
        kind1 = self.cf.kind(1)
        node1 = {
            x
            for x in self.cf.rel(lead)
            if self.kg.node(x).type == kind1
            and all(x in self.cf.rel(f) for f in clues[1:])
            and self._seeds_of(x) & seeds_ok
        }
        lead_name = self._named(lead.anchor)
        self.pending = self._say(
            "The question describes its starting entity in plain words. "
            f'The one name it gives is "{lead_name}", so I will enter the chain there.',
            f'No starting entity is named, only described. I will start from "{lead_name}", '
            "the one name the question gives.",
        )
        query = f"{lead_name} {self._phrase(lead)}"
        yield from self._act(
            self._flush("Searching for it with the question's words."),
            "medical_search",
            {"query": query, "top_k": 10},
        )
        url = self.ev.pages.get(lead.anchor)
        if url is not None:
            yield from self._act(
                self._flush(f'Reading the page of "{lead_name}".'),
                "browse",
                {"url": url, "goal": f"{self._phrase(lead)} {lead_name}"},
            )
        tried: set[str] = set()
        while True:
            shown = sorted(
                (x for x in node1 if self.ev.co_shown(x, lead.anchor) and x not in tried),
                key=lambda e: self.ev.order[e],
            )
            if not shown:
                return None
            x = shown[0]
            tried.add(x)
            seed = yield from self._seed_for(x, seeds_ok)
            if seed is None:
                self.pending = f'I set "{self._name(x)}" aside and try the next candidate.'
                continue
            self.path = [x]  # the question does not say later entities differ from the seed
            self.pending = self._say(
                f'"{self._name(x)}" is listed with "{lead_name}" and with "{self._name(seed)}".',
                f'The results link "{self._name(x)}" to "{lead_name}" and to "{self._name(seed)}".',
            ) + self._properties_text(seed, self._seed_facts())
            if len(self.item.chain) == 2:
                return x
            final = yield from self._walk(2, x)
            if final is not None:
                return final
            self.rejected.add(x)
            self.pending = (self.pending + " " if self.pending else "") + (
                f'I set "{self._name(x)}" aside and go back to the other candidates.'
            )

    def _seed_for(self, x: str, seeds_ok: set[str]) -> Generator:
        """A seed shown with node-1 candidate ``x`` that has the seed's described
        properties, its page read to confirm them; None when ``x``'s page shows none."""
        if x not in self._confirmed:  # its page not read yet
            self._confirmed.add(x)
            hop = self.item.hops[0]
            goal = self.kg.verbalise(hop.relation, not hop.inverse)
            if self.ev.pages.get(x) is None:
                yield from self._act(
                    self._flush(f'I will look "{self._name(x)}" up.'),
                    "medical_search",
                    {"query": self._name(x)},
                )
            url = self.ev.pages.get(x)
            if url is None:
                return None
            yield from self._act(
                self._flush(f'Reading the page of "{self._name(x)}" for what it is linked to.'),
                "browse",
                {"url": url, "goal": goal},
            )
        facts = self._seed_facts()
        linked = self._seeds_of(x) & seeds_ok
        if not any(self.ev.co_shown(s, x) for s in linked):  # the page lists others first
            query = f"{self._name(x)} {self._noun(0)} {self._words(facts)}".strip()
            yield from self._act(
                self._flush(
                    f'Its page does not show it; searching "{self._name(x)}" with the '
                    "described properties."
                ),
                "medical_search",
                {"query": query, "top_k": 10},
            )
        seeds = sorted(
            (s for s in linked if self.ev.co_shown(s, x)), key=lambda e: self.ev.order[e]
        )
        for s in seeds[:2]:
            if len(self._shown_properties(s, facts)) < len(facts):
                yield from self._confirm(0, None, [s])
            if len(self._shown_properties(s, facts)) == len(facts):
                return s
        return seeds[0] if seeds else None

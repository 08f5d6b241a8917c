"""The oracle's evidence gathering (`agents.oracle.OracleAgent` mixes this class in).

Per unknown chain node, label-free actions in a fixed order (`Gathering._plan`): a search
built from the question's terms (the most constraining named entity first, then the
relation in the words the reference pages use, then the other named entities, joined by
`CLUE_JOIN`); the pages
of those named entities; for a node with described properties, candidate pages read for
them (`agents.oracle_described`); the other entities' searches, the web, more results.
`Gathering._gather` runs them until the evidence decides the node (`Choosing._choose`).
"""

from __future__ import annotations

from collections.abc import Generator

from medenv.agents.chain_facts import Fact

from medenv.english import article

CLUE_JOIN = " and "
"""Between the named clues of one search query. A stopword, so the search terms (and the
results) are those of the clues alone; without it two clues written side by side can
spell another entity's name ("Myopathy" + "congenital onset" reads as the disease
"Myopathy, congenital"), which the groundedness check then counts as a mention the agent
never saw (`medenv.grounding`, rule 1)."""


class Gathering:
    """Mixin of `OracleAgent`: planning and running a node's evidence actions."""

    def _resolved(self, node: int, head: str, facts: list[Fact], tried: set[str]) -> bool:
        return self._choose(node, head, facts, tried, dry=True) is not None

    def _plan(self, node: int, head: str, facts: list[Fact]) -> list[tuple[str, dict]]:
        """Label-free actions for a node, in order (module docstring, step 1)."""
        named = [f for f in facts if self._named(f.anchor)]
        named.sort(key=lambda f: (len(self.cf.rel(f)), f.anchor != head))
        first, second = (
            ("web_search", "medical_search")
            if self.rng.random() < self.web_first
            else ("medical_search", "web_search")
        )
        out: list[tuple[str, dict]] = []
        lead = named[0]
        others = CLUE_JOIN.join(self._named(f.anchor) for f in named[1:])
        out.append(
            (
                first,
                {
                    "query": f"{self._named(lead.anchor)} {self._phrase(lead)} {others}".strip(),
                    **({"top_k": self.FIRST_TOP_K} if self.FIRST_TOP_K != 5 else {}),
                },
            )
        )
        for f in named:
            out.append(("browse", {"entity": f.anchor, "fact": f}))
        if any(self._described(f) for f in facts):  # read candidate pages for the properties
            out += [("confirm", {"k": k}) for k in range(3)]
        for f in named[1:]:
            rest = CLUE_JOIN.join(self._named(g.anchor) for g in named if g is not f)
            out.append((first, {"query": f"{self._named(f.anchor)} {self._phrase(f)} {rest}"}))
        out.append(
            (second, {"query": f"{self._named(lead.anchor)} {self._phrase(lead)} {others}".strip()})
        )
        out.append((first, {"query": f"{self._named(head)} {self._phrase(facts[0])}", "top_k": 10}))
        return out

    def _next_clues(self, node: int) -> list[Fact]:
        """The named constraints of the next node (facts whose anchor the question names)."""
        if node >= len(self.item.chain) - 1:
            return []
        return [
            Fact(c.entity, c.relation, c.inverse, closed=True)
            for c in self.item.constraints
            if c.node == node + 1 and c.entity in self.kg and self._named(c.entity)
        ]

    def _leads(self, node: int, entity: str) -> bool:
        """The observations show ``entity`` linked to a next-node candidate that is itself
        shown with one of the next node's named clues."""
        clues = self._next_clues(node)
        if not clues:
            return False
        nxt = self.cf.fit_set(node + 1, entity)
        return any(
            self.ev.co_shown(entity, e2)
            and any(self.ev.shown(e2, g, self.kg, self.closure) for g in clues)
            for e2 in nxt
            if self.ev.visible(e2)
        )

    def _gather(self, node, head, facts, tried, more: bool = False) -> Generator[str, str, bool]:
        """Run planned actions until the node is resolved; False when none is left."""
        if not more:
            self._done_actions = set()
        intro_done = more
        for tool, args in self._plan(node, head, facts):
            if self._resolved(node, head, facts, tried):
                return True
            key = (tool, repr(sorted(args.items(), key=lambda kv: kv[0])))
            if key in self._done_actions:
                continue
            if tool == "confirm":
                self._done_actions.add(key)
                excluded = set(self.path) | tried | self.rejected
                rivals = (self.cf.fit_set(node, head) & self.ev.order.keys()) - excluded
                ordered = sorted(rivals, key=lambda e: self.ev.order[e])
                if not intro_done:
                    self.pending = self._lead("", node, head, False).strip()
                intro_done = True
                yield from self._confirm(node, head, ordered)
                continue
            if tool == "browse":
                url = self.ev.pages.get(args["entity"])
                if url is None:
                    continue
                self._done_actions.add(key)
                fact = args["fact"]
                name = self._named(args["entity"])
                goal = f"{self._phrase(fact)} {name}"
                think = self._say(
                    f'I will read the page of "{name}" for the {self._noun(node)} it names.',
                    f'The page of "{name}" should list it; reading it.',
                    f'Opening "{name}" to see what it lists.',
                )
                yield from self._act(
                    self._lead(think, node, head, intro_done), "browse", {"url": url, "goal": goal}
                )
            else:
                first_search = not any(k[0] != "browse" for k in self._done_actions)
                self._done_actions.add(key)
                think = (
                    self._say(
                        "Searching with the words the question uses.",
                        "I will search for it with the question's own words.",
                        "Let me search for that.",
                    )
                    if not intro_done
                    else self._say(
                        "That was not enough to tell; another search.",
                        "Still not settled. Trying a different query.",
                    )
                )
                obs = yield from self._act(self._lead(think, node, head, intro_done), tool, args)
                if first_search and head == self.item.chain[node - 1]:
                    target = self.item.chain[node]
                    self.search_hits.append(any(target in m.ids for m in self.index.mentions(obs)))
            intro_done = True
        return self._resolved(node, head, facts, tried)

    def _lead(self, think: str, node: int, head: str, intro_done: bool) -> str:
        """Prefix the node's introduction (and pending sentences) to a think."""
        parts = [self.pending] if self.pending else []
        self.pending = ""
        if not intro_done:
            parts.append(
                self._say(
                    f'Next I need the {self._noun(node)} linked to "{self._name(head)}".',
                    f'Now find the {self._noun(node)} that goes with "{self._name(head)}".',
                    f"The next link is {article(noun := self._noun(node))} {noun} of "
                    f'"{self._name(head)}".',
                )
            )
            clues = [
                self._named(c.entity)
                for c in self.item.constraints
                if c.node == node and self._named(c.entity)
            ]
            if clues:
                parts.append(
                    self._say(
                        f'The question says it relates to "{clues[0]}".',
                        f'The clue for it is "{clues[0]}".',
                        f'It should also match "{clues[0]}".',
                    )
                )
        parts.append(think)
        return " ".join(parts)

"""Uniqueness: a question's chain, read as a path query, must admit exactly its answer.

What a question states: the seed by name and type; for every hop, "a <type> that
<relation> <the previous entity>"; for some entities, extra facts about named entities
(`Constraint`). Reading it as a query over the KG *as a clinician reads it* (the ontology
closure of `medenv.kg.semantics`: "a kind of" is transitive, a disease annotated with a
term has every ancestor of the term, symmetric relations hold both ways):

    S0     = nodes of the seed's type that the seed's name (or a synonym) names; or, when
             the question *describes* its seed (constraints on node 0, plain-worded facts,
             `medenv.synth.describe`), every node of the seed's type with those facts
    S(i+1) = nodes of chain[i+1]'s type related under the closure to any node of S(i) by
             hop i (backwards when the hop is inverse), that satisfy every constraint on
             node i+1; a constraint is satisfied by ``u`` when ``u`` has the stated
             relation, under the closure, with any node the constraint entity's name names
             (and an ``is_a`` fact with an organ-system branch by the branch itself too:
             `medenv.synth.describe.admits_itself`, `PathQuery.satisfies`).

The item is unambiguous iff ``S(n) == {answer}``. `resolve_chain` (`medenv.synth.resolve`) computes ``S(n)`` with
the public `KnowledgeGraph` API (``closure=False``: the literal graph, a second, weaker
check); `disambiguate` is the pipeline's fast version on a `GraphIndex` that also adds
constraints until the query is unique.

Adding constraints (greedy, deterministic): while ``S(n) != {answer}``, take the earliest
node ``i >= 1`` with ``|S(i)| > 1`` that has a fact (an edge to an entity outside the chain
whose name does not give away a chain entity) true for ``chain[i]`` but false for some
other member of ``S(i)``; add the fact that leaves the fewest members (ties: entity id,
relation; "leaves" as `PathQuery.satisfies` reads the fact), skipping a fact that would
pin the answer down on its own from node ``i >= 2`` (a shortcut past the chain, see
`medenv.synth.hops`). At most ``per_node`` facts per node
and ``max_constraints`` per item; if that is not enough the item is dropped as ambiguous.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice

from medenv.synth.qa import Constraint
from medenv.synth.query import PathQuery
from medenv.synth.reach import type_reach
from medenv.synth.resolve import resolve_chain

__all__ = ["Disambiguator", "PathQuery", "resolve_chain", "type_reach"]


class Disambiguator(PathQuery):
    """The constraint search (`disambiguate`) on top of the fast path query (`PathQuery`,
    `medenv.synth.query`)."""

    def _fully_described(self, chain, steps, described) -> bool:
        """Does the chain admit its answer alone when every node ``i >= 1`` carries all
        its descriptions? (Levels memoised by chain prefix: the chains of one seed share
        prefixes.)"""
        ix = self.index
        self._same_seed(chain[0])
        memo = self._described_levels
        if len(memo) > 50_000:
            memo.clear()
        key: tuple = (chain[0],)
        level = memo.get(key)
        if level is None:
            level = memo[key] = {u for u in ix.named(chain[0]) if ix.type[u] == ix.type[chain[0]]}

        def facts(i: int) -> list[Constraint]:
            return [
                Constraint(node=i, relation=c.relation, entity=c.entity, inverse=c.inverse)
                for c in described(chain[i])
                if c.entity not in chain[: i + 1]
            ]

        last = len(chain) - 1
        for i in range(1, last):  # the middle levels
            key = (*key, steps[i - 1], chain[i])
            hit = memo.get(key)
            if hit is None:
                rel, inv = steps[i - 1]
                hit = memo[key] = self._level(
                    level, ix.type[chain[i - 1]], ix.type[chain[i]], rel, inv, facts(i)
                )
            level = hit
        # only "is it the answer alone" is asked of the last level (keyed apart: an answer,
        # not a level)
        key = (*key, steps[-1], chain[-1], "only")
        if key not in memo:
            rel, inv = steps[-1]
            memo[key] = self._only(level, ix.type[chain[-1]], rel, inv, facts(last), chain[-1])
        return memo[key]

    def _shortcut(self, chain, steps, constraints, node: int) -> bool:
        """Would ``node``'s constraints pin the answer on their own (a quick check with
        a cap of 2,000 candidates a level; `effective_hops` checks exactly)."""
        if node < 2:
            return False
        return self.pins(node, chain, steps, constraints, cap=2000)

    def _best_facts(
        self,
        node: str,
        members: set[str],
        chain: Sequence[str],
        usable: Callable[[str], bool],
        taken: set[tuple[str, str, bool]],
        named: bool,
        described: Callable[[str], Iterable[Constraint]] | None,
    ) -> Iterator[Constraint]:
        """Facts true of ``node`` that exclude some of ``members``, best first (lazily
        checked for ``usable``): its graph neighbours when ``named``, and the facts
        ``described(node)`` gives (`medenv.synth.describe`)."""
        ix = self.index
        on_chain = set(chain)
        scored: list[tuple[int, str, str, bool]] = []
        pool: list[tuple[str, bool, str]] = []
        if named:
            pool = [(rel, inv, e) for (rel, inv), others in ix.adj[node].items() for e in others]
        if described is not None:
            pool += [(c.relation, c.inverse, c.entity) for c in described(node)]
        size, satisfies = len(members), self.satisfies
        for rel, inv, e in pool:
            if e in on_chain or (e, rel, inv) in taken:
                continue
            fact = Constraint(node=-1, relation=rel, entity=e, inverse=inv)
            left = len(members & satisfies(fact))  # read as the question's reader reads it
            if left < size:
                scored.append((left, e, rel, inv, fact))
        scored.sort(key=lambda s: s[:4])
        return (fact for *_, fact in scored if usable(fact.entity))

    def disambiguate(
        self,
        chain: Sequence[str],
        steps: Sequence[tuple[str, bool]],
        *,
        max_constraints: int,
        per_node: int = 2,
        usable: Callable[[str], bool] = lambda e: True,
        tries: int = 4,
        named: bool = True,
        described: Callable[[str], Iterable[Constraint]] | None = None,
        start: Sequence[Constraint] = (),
    ) -> tuple[Constraint, ...] | None:
        """Constraints that make the chain's query unique, or None (ambiguous). Facts are
        drawn from the graph's edges when ``named`` and from ``described`` (plain-worded
        descriptions, `medenv.synth.describe`) when given.

        Descriptions only (``named`` False): when even every description of every node
        at once leaves another answer, no subset of them can do better (constraints only
        narrow the sets), so the chain is ambiguous without a search. ``start``:
        constraints the search begins with (kept; they count towards ``max_constraints``
        and ``per_node``)."""
        constraints: list[Constraint] = list(start)
        answer = chain[-1]
        if not named and described is not None and not start:
            if not self._fully_described(chain, steps, described):
                return None
        sets: list[set[str]] = []
        n = len(chain) - 1
        ix = self.index
        while True:  # levels 0..n-1 as sets; the answer level only when it must be read
            sets = self.candidate_sets(
                chain[:-1], steps[:-1], constraints, prefix=sets[:n], cap=self.cap
            )
            full = len(sets) == n and len(sets[-1]) <= self.cap
            if full:
                key = (tuple(chain), tuple(steps), tuple(constraints), "only")
                if key not in self._levels:
                    last = [c for c in constraints if c.node == n]
                    self._levels[key] = self._only(
                        sets[-1], ix.type[chain[-1]], *steps[-1], last, answer
                    )
                if self._levels[key]:
                    return tuple(constraints)
            if len(constraints) >= max_constraints:
                return None
            for i in range(1, n + 1 if full else len(sets)):
                if i == n and len(sets) == n:  # built now: no earlier level took a fact
                    sets = self.candidate_sets(chain, steps, constraints, prefix=sets)
                if len(sets[i]) <= 1 or sum(c.node == i for c in constraints) >= per_node:
                    continue
                taken = {(c.entity, c.relation, c.inverse) for c in constraints if c.node == i}
                facts = self._best_facts(chain[i], sets[i], chain, usable, taken, named, described)
                chosen = self._first_safe(chain, steps, constraints, i, facts, tries)
                if chosen is not None:
                    constraints.append(chosen)
                    sets = sets[:i]  # levels before i are unchanged
                    break
            else:
                return None

    def _first_safe(
        self,
        chain: Sequence[str],
        steps: Sequence[tuple[str, bool]],
        constraints: Sequence[Constraint],
        node: int,
        facts: Iterable,
        tries: int,
    ) -> Constraint | None:
        """The first of ``facts`` (at most ``tries`` of them) that, as a constraint on
        ``node`` added to ``constraints``, is not a shortcut; None when none is."""
        for found in islice(facts, tries):
            c = Constraint(
                node=node, relation=found.relation, entity=found.entity, inverse=found.inverse
            )
            if not self._shortcut(chain, steps, [*constraints, c], node):
                return c
        return None

    def narrow(
        self,
        chain: Sequence[str],
        steps: Sequence[tuple[str, bool]],
        constraints: Sequence[Constraint],
        *,
        limit: int,
        max_constraints: int,
        per_node: int = 3,
        usable: Callable[[str], bool] = lambda e: True,
        tries: int = 4,
        named: bool = True,
        described: Callable[[str], Iterable[Constraint]] | None = None,
    ) -> tuple[Constraint, ...] | None:
        """``constraints`` plus facts (the same greedy choice as `disambiguate`: the fact
        of the node that leaves the fewest, never a shortcut) until every *middle* level
        ``S(i)``, ``1 <= i < n``, has at most ``limit`` candidates, or None when the
        limits on constraints are reached first. The answerability property of a question
        (`medenv.synth.config.SynthConfig.max_candidates`): a reader who follows the chain
        from its seed never holds more than ``limit`` live candidates for one node.
        ``constraints`` must already make the question unique (more only narrow it)."""
        out = list(constraints)
        while True:
            sets = self.candidate_sets(chain, steps, out)
            wide = self.widest(sets, limit)
            if wide is None:
                return tuple(out)
            if len(out) >= max_constraints or sum(c.node == wide for c in out) >= per_node:
                return None
            taken = {(c.entity, c.relation, c.inverse) for c in out if c.node == wide}
            facts = self._best_facts(chain[wide], sets[wide], chain, usable, taken, named, described)
            chosen = self._first_safe(chain, steps, out, wide, facts, tries)
            if chosen is None:
                return None
            out.append(chosen)

    @staticmethod
    def widest(sets: Sequence[set[str]], limit: int) -> int | None:
        """The first middle level ``i`` (``1 <= i < n``) of ``sets`` (`candidate_sets`)
        with more than ``limit`` candidates; None when there is none."""
        return next((i for i in range(1, len(sets) - 1) if len(sets[i]) > limit), None)

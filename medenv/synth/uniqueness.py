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
             relation, under the closure, with any node the constraint entity's name names.

The item is unambiguous iff ``S(n) == {answer}``. `resolve_chain` (`medenv.synth.resolve`) computes ``S(n)`` with
the public `KnowledgeGraph` API (``closure=False``: the literal graph, a second, weaker
check); `disambiguate` is the pipeline's fast version on a `GraphIndex` that also adds
constraints until the query is unique.

Adding constraints (greedy, deterministic): while ``S(n) != {answer}``, take the earliest
node ``i >= 1`` with ``|S(i)| > 1`` that has a fact (an edge to an entity outside the chain
whose name does not give away a chain entity) true for ``chain[i]`` but false for some
other member of ``S(i)``; add the fact that leaves the fewest members (ties: entity id,
relation), skipping a fact that would pin the answer down on its own from node ``i >= 2``
(a shortcut past the chain, see `medenv.synth.hops`). At most ``per_node`` facts per node
and ``max_constraints`` per item; if that is not enough the item is dropped as ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice

from medenv.kg.semantics import Closure
from medenv.synth.index import GraphIndex
from medenv.synth.qa import Constraint
from medenv.synth.reach import type_reach
from medenv.synth.resolve import resolve_chain

__all__ = ["Disambiguator", "resolve_chain", "type_reach"]


class Disambiguator:
    """The pipeline's fast path query (`candidate_sets`) and constraint search.

    Same semantics as `resolve_chain` (under the closure), on a `GraphIndex`. ``cap``:
    while *choosing* where to add a constraint, propagation stops at a level with more
    than ``cap`` candidates (that level is ambiguous anyway); acceptance always uses the
    full, exact sets.
    """

    def __init__(self, index: GraphIndex, cap: int = 100) -> None:
        self.index = index
        self.cap = cap
        self._sat: dict[tuple[str, str, bool], frozenset[str]] = {}
        self._described_levels: dict[tuple, set[str]] = {}
        self._levels: dict[tuple, set[str]] = {}  # candidate_sets levels by query prefix
        self._pins: dict[tuple, bool] = {}  # `pins` answers by suffix query
        self._memo_seed: str | None = None  # the memos hold one seed's chains (`_same_seed`)
        self.closure = Closure(
            lambda n, r: index.step(n, r, False),
            lambda n, r: index.step(n, r, True),
            index.kg.relation_properties(),
        )
        self._reach = type_reach(index, self.closure)
        by_type: dict[str, set[str]] = {}
        for node, kind in index.type.items():
            by_type.setdefault(kind, set()).add(node)
        self._of_type = {k: frozenset(v) for k, v in by_type.items()}

    def _same_seed(self, seed: str) -> None:
        """Empty the per-query memos when the queries move on to another seed: the
        chains of one seed share prefixes, those of two seeds almost never, and the
        levels are large sets (memory grew by GBs over a 2,000-item run without this)."""
        if seed != self._memo_seed:
            self._memo_seed = seed
            self._levels.clear()
            self._pins.clear()
            self._described_levels.clear()

    def related(self, node: str, relation: str, inverse: bool) -> frozenset[str]:
        return self.closure.related(node, relation, inverse)

    def satisfies(self, c: Constraint) -> frozenset[str]:
        key = (c.entity, c.relation, c.inverse)
        hit = self._sat.get(key)
        if hit is None:
            named = self.index.named(c.entity)
            if len(named) == 1:
                hit = self.closure.related(named[0], c.relation, not c.inverse)
            else:
                out: set[str] = set()
                for e in named:
                    out.update(self.closure.related(e, c.relation, not c.inverse))
                hit = frozenset(out)
            self._sat[key] = hit
        return hit

    def _level(
        self,
        prev: set[str],
        src_kind: str,
        kind: str,
        rel: str,
        inv: bool,
        cons,
        limit: int | None = None,
    ) -> set[str] | None:
        """The next level of `candidate_sets`; with ``limit``, None as soon as it is
        known to have more than ``limit`` members."""
        ix = self.index
        if cons:
            sats = sorted((self.satisfies(c) for c in cons), key=len)
            both = sats[0].intersection(*sats[1:]) if len(sats) > 1 else sats[0]
            if len(both) < len(prev):  # fewer to test than to walk from
                found = {
                    u
                    for u in both
                    if ix.type[u] == kind and not prev.isdisjoint(self.related(u, rel, not inv))
                }
                return None if limit is not None and len(found) > limit else found
        out: set[str] = set()
        related = self.closure.related
        if limit is not None:  # filter as it grows, to stop early
            allowed = self._of_type[kind]
            for c in cons:
                allowed = allowed & self.satisfies(c)
            for v in prev:
                out |= allowed.intersection(related(v, rel, inv))
                if len(out) > limit:
                    return None
            return out
        for v in prev:
            out |= related(v, rel, inv)
        if self._reach.get((src_kind, rel, inv)) != kind:
            out &= self._of_type[kind]
        for c in cons:
            out &= self.satisfies(c)
        return out

    def _only(
        self, prev: set[str], src_kind: str, kind: str, rel: str, inv: bool, cons, answer: str
    ) -> bool:
        """Is `_level` (same arguments) exactly ``{answer}``? Answered without building
        the level: it stops at the first other candidate, and tests membership instead
        of collecting unions."""
        ix = self.index
        sats = sorted((self.satisfies(c) for c in cons), key=len)
        if sats and len(sats[0]) < len(prev):
            seen = False
            for u in sats[0].intersection(*sats[1:]) if len(sats) > 1 else sats[0]:
                if ix.type[u] == kind and not prev.isdisjoint(self.related(u, rel, not inv)):
                    if u != answer:
                        return False
                    seen = True
            return seen
        allowed = self._of_type[kind]
        for sat in sats:
            allowed = allowed & sat if len(sat) < len(allowed) else sat & allowed
        if answer not in allowed:
            return False
        seen = False
        related = self.closure.related
        for v in prev:
            hit = related(v, rel, inv)
            if len(hit) > 1 or answer not in hit:
                hit = allowed.intersection(hit)
                if len(hit) > 1 or (hit and answer not in hit):
                    return False
                seen = seen or bool(hit)
            else:
                seen = True
        return seen

    def candidate_sets(
        self,
        chain: Sequence[str],
        steps: Sequence[tuple[str, bool]],
        constraints: Sequence[Constraint],
        *,
        prefix: list[set[str]] | None = None,
        cap: int | None = None,
        start: int = 0,
        first: set[str] | None = None,
    ) -> list[set[str]]:
        """``[S0, ..., Sn]`` of the module docstring (reusing ``prefix`` levels; stopping
        after the first level larger than ``cap`` when one is given). With ``start`` and
        ``first``: the suffix query from level ``start`` whose candidates are ``first``."""
        ix = self.index
        by_node: dict[int, list[Constraint]] = {}
        for c in constraints:
            by_node.setdefault(c.node, []).append(c)
        sets = list(prefix) if prefix else []
        if first is not None:
            sets = [first]
        elif not sets:
            if by_node.get(0):  # a described seed (see module docstring)
                s0 = set(self._of_type[ix.type[chain[0]]])
            else:
                s0 = {u for u in ix.named(chain[0]) if ix.type[u] == ix.type[chain[0]]}
            for c in by_node.get(0, ()):
                s0 &= self.satisfies(c)
            sets.append(s0)
        memo = self._levels if first is None else None
        key: tuple = ()
        if memo is not None:
            self._same_seed(chain[0])
            if len(memo) > 50_000:
                memo.clear()
            key = (chain[0], tuple(by_node.get(0, ())))
            for i in range(1, len(sets)):
                key = (key, steps[i - 1], chain[i], tuple(by_node.get(i, ())))
        for i in range(start + len(sets), len(chain)):
            if cap is not None and len(sets[-1]) > cap:
                break
            rel, inv = steps[i - 1]
            cons = by_node.get(i, [])
            if memo is not None:
                key = (key, steps[i - 1], chain[i], tuple(cons))
                hit = memo.get(key)
                if hit is None:
                    hit = memo[key] = self._level(
                        sets[-1], ix.type[chain[i - 1]], ix.type[chain[i]], rel, inv, cons
                    )
                sets.append(hit)
                continue
            sets.append(
                self._level(sets[-1], ix.type[chain[i - 1]], ix.type[chain[i]], rel, inv, cons)
            )
        return sets

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
        last = len(chain) - 1
        for i in range(1, len(chain)):
            key = (*key, steps[i - 1], chain[i])
            if i == last:  # a last level's answer, not a level: keyed apart
                key = (*key, "only")
            hit = memo.get(key)
            if i == last and hit is not None:
                return hit
            if hit is None:
                cons = [
                    Constraint(node=i, relation=c.relation, entity=c.entity, inverse=c.inverse)
                    for c in described(chain[i])
                    if c.entity not in chain[: i + 1]
                ]
                rel, inv = steps[i - 1]
                args = (level, ix.type[chain[i - 1]], ix.type[chain[i]], rel, inv, cons)
                if i == last:  # only "is it the answer alone" is asked of the last level
                    only = memo[key] = self._only(*args, chain[-1])
                    return only
                hit = memo[key] = self._level(*args)
            level = hit
        return level == {chain[-1]}

    def pins(self, node: int, chain, steps, constraints, cap: int | None = None) -> bool:
        """Whether the suffix query from ``node`` (``chain[node]`` known only by its own
        constraints) admits exactly ``chain[-1]``; memoised, without building the last
        level (`_only`)."""
        self._same_seed(chain[0])
        cons = tuple(c for c in constraints if c.node >= node)
        key = (node, tuple(chain[node:]), tuple(steps[node:]), cons, cap)
        hit = self._pins.get(key)
        if hit is not None:
            return hit
        if len(self._pins) > 50_000:
            self._pins.clear()
        own = [c for c in cons if c.node == node]
        result = False
        if own:
            ix = self.index
            level: set[str] | None = set(self.satisfies(own[0])).intersection(
                *(self.satisfies(c) for c in own[1:])
            )
            level &= self._of_type[ix.type[chain[node]]]
            last = len(chain) - 1
            if node == last:
                result = level == {chain[-1]}
            elif cap is None or len(level) <= cap:
                for i in range(node + 1, last):  # a level over ``cap``: no shortcut
                    rel, inv = steps[i - 1]
                    mine = [c for c in cons if c.node == i]
                    level = self._level(
                        level, ix.type[chain[i - 1]], ix.type[chain[i]], rel, inv, mine, cap
                    )
                    if level is None:
                        break
                if level is not None:
                    by_last = [c for c in cons if c.node == last]
                    result = self._only(
                        level,
                        ix.type[chain[-2]],
                        ix.type[chain[-1]],
                        *steps[-1],
                        by_last,
                        chain[-1],
                    )
        self._pins[key] = result
        return result

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
        named: bool = True,
        described: Callable[[str], Iterable[Constraint]] | None = None,
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
        for rel, inv, e in pool:
            if e in on_chain or (e, rel, inv) in taken:
                continue
            c = Constraint(node=-1, relation=rel, entity=e, inverse=inv)
            left = len(members & self.satisfies(c))
            if left < len(members):
                scored.append((left, e, rel, inv))
        scored.sort()
        return (
            Constraint(node=-1, relation=rel, entity=e, inverse=inv)
            for _, e, rel, inv in scored
            if usable(e)
        )

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
    ) -> tuple[Constraint, ...] | None:
        """Constraints that make the chain's query unique, or None (ambiguous). Facts are
        drawn from the graph's edges when ``named`` and from ``described`` (plain-worded
        descriptions, `medenv.synth.describe`) when given.

        Descriptions only (``named`` False): when even every description of every node
        at once leaves another answer, no subset of them can do better (constraints only
        narrow the sets), so the chain is ambiguous without a search."""
        constraints: list[Constraint] = []
        answer = chain[-1]
        if not named and described is not None:
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
                unique = self._levels.get(key)
                if unique is None:
                    last = [c for c in constraints if c.node == n]
                    unique = self._levels[key] = self._only(
                        sets[-1], ix.type[chain[-2]], ix.type[chain[-1]], *steps[-1], last, answer
                    )
                if unique:
                    return tuple(constraints)
            if len(constraints) >= max_constraints:
                return None
            for i in range(1, n + 1 if full else len(sets)):
                if i == n and len(sets) == n:  # built now: no earlier level took a fact
                    sets = self.candidate_sets(chain, steps, constraints, prefix=sets)
                if len(sets[i]) <= 1 or sum(c.node == i for c in constraints) >= per_node:
                    continue
                taken = {(c.entity, c.relation, c.inverse) for c in constraints if c.node == i}
                chosen = None
                facts = self._best_facts(chain[i], sets[i], chain, usable, taken, named, described)
                for found in islice(facts, tries):
                    c = Constraint(
                        node=i, relation=found.relation, entity=found.entity, inverse=found.inverse
                    )
                    if not self._shortcut(chain, steps, [*constraints, c], i):
                        chosen = c
                        break
                if chosen is not None:
                    constraints.append(chosen)
                    sets = sets[:i]  # levels before i are unchanged
                    break
            else:
                return None

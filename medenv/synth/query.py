"""`PathQuery`: a question's chain read as a path query over a `GraphIndex`, fast.

The semantics are `medenv.synth.uniqueness`'s (the module docstring there): levels
``S0..Sn`` under the ontology closure (`candidate_sets`), "is the last level exactly the
answer" without building it (`_only`), and the suffix query behind effective hops
(`pins`). `medenv.synth.uniqueness.Disambiguator` adds the constraint search on top.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

from medenv.kg.semantics import Closure
from medenv.synth.describe import admits_itself
from medenv.synth.index import GraphIndex
from medenv.synth.qa import Constraint
from medenv.synth.reach import type_reach

MEMO_CAP = 20_000  # entries of a cross-seed memo before it is emptied


class PathQuery:
    """The pipeline's fast path query (`candidate_sets`), its memos and `pins`.

    Same semantics as `medenv.synth.resolve.resolve_chain` (under the closure), on a
    `GraphIndex`. ``cap``: while *choosing* where to add a constraint, propagation stops
    at a level with more than ``cap`` candidates (that level is ambiguous anyway);
    acceptance always uses the full, exact sets.
    """

    def __init__(self, index: GraphIndex, cap: int = 100) -> None:
        self.index = index
        self.cap = cap
        self._sat: dict[tuple[str, str, bool], frozenset[str]] = {}
        self._itself: dict[str, frozenset[str]] = {}  # `satisfies` of a branch's is_a fact
        self._described_levels: dict[tuple, set[str]] = {}
        self._levels: dict[tuple, set[str]] = {}  # candidate_sets levels by query prefix
        self._pins: dict[tuple, bool] = {}  # `pins` answers by suffix query
        self._both: dict[tuple, frozenset[str]] = {}  # `_meet`: constraint sets met
        self._allowed: dict[tuple, frozenset[str]] = {}  # `_of_kind_meeting`
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

    def of_type(self, kind: str) -> frozenset[str]:
        """Every node of type ``kind``."""
        return self._of_type.get(kind, frozenset())

    def satisfies(self, c: Constraint) -> frozenset[str]:
        """The nodes that meet constraint ``c`` (`sat`; with ``c``'s entity itself when
        `medenv.synth.describe.admits_itself`): how a question's reader takes ``c``."""
        out = self.sat(c.entity, c.relation, c.inverse)
        if admits_itself(c) and c.entity not in out:
            hit = self._itself.get(c.entity)  # (an is_a fact: the entity is the key)
            if hit is None:
                hit = self._itself[c.entity] = out | {c.entity}
            return hit
        return out

    def sat(self, entity: str, relation: str, inverse: bool) -> frozenset[str]:
        """The nodes with ``relation`` to (from, when ``inverse``) any node ``entity``'s
        name names, under the closure; memoised."""
        key = (entity, relation, inverse)
        if key not in self._sat:
            named = self.index.named(entity)
            if len(named) == 1:
                self._sat[key] = self.closure.related(named[0], relation, not inverse)
            else:
                out: set[str] = set()
                for e in named:
                    out.update(self.closure.related(e, relation, not inverse))
                self._sat[key] = frozenset(out)
        return self._sat[key]

    def _meet(self, cons) -> tuple[int, frozenset[str]]:
        """The size of the smallest of the constraints' `satisfies` sets and the nodes
        that meet them all (memoised across seeds: descriptions and common facts repeat;
        ``cons`` must not be empty)."""
        key = tuple((c.entity, c.relation, c.inverse) for c in cons)
        hit = self._both.get(key)
        if hit is None:
            if len(self._both) > MEMO_CAP:
                self._both.clear()
            sats = sorted((self.satisfies(c) for c in cons), key=len)
            both = sats[0].intersection(*sats[1:]) if len(sats) > 1 else sats[0]
            hit = self._both[key] = (len(sats[0]), frozenset(both))
        return hit

    def _of_kind_meeting(self, kind: str, cons) -> frozenset[str]:
        """The nodes of type ``kind`` that meet every constraint of ``cons`` (memoised)."""
        if not cons:
            return self._of_type[kind]
        key = (kind, *((c.entity, c.relation, c.inverse) for c in cons))
        hit = self._allowed.get(key)
        if hit is None:
            if len(self._allowed) > MEMO_CAP:
                self._allowed.clear()
            both = self._meet(cons)[1]
            hit = self._allowed[key] = self._of_type[kind].intersection(both)
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
        known to have more than ``limit`` members (``prev`` must have at most ``limit``:
        a level found by testing fewer nodes than ``prev`` has is then within it)."""
        if cons:
            allowed = self._of_kind_meeting(kind, cons)
            if len(allowed) < len(prev):  # fewer to test than to walk from
                related = self.closure.related
                back = not inv
                return {u for u in allowed if not prev.isdisjoint(related(u, rel, back))}
        out: set[str] = set()
        related = self.closure.related
        if limit is not None:  # filter as it grows, to stop early
            allowed = self._of_kind_meeting(kind, cons)
            for v in prev:
                out |= allowed.intersection(related(v, rel, inv))
                if len(out) > limit:
                    return None
            return out
        if cons:
            allowed = self._of_kind_meeting(kind, cons)
            for v in prev:
                out.update(allowed.intersection(related(v, rel, inv)))
            return out
        for v in prev:
            out |= related(v, rel, inv)
        if self._reach.get((src_kind, rel, inv)) != kind:
            out &= self._of_type[kind]
        return out

    def _only(self, prev: set[str], kind: str, rel: str, inv: bool, cons, answer: str) -> bool:
        """Is `_level` (same arguments but ``src_kind``) exactly ``{answer}``? Answered
        without building the level: it stops at the first other candidate, and tests
        membership instead of collecting unions."""
        if cons and self._meet(cons)[0] < len(prev):
            seen = False
            related = self.closure.related
            back = not inv
            for u in self._of_kind_meeting(kind, cons):
                if not prev.isdisjoint(related(u, rel, back)):
                    if u != answer:
                        return False
                    seen = True
            return seen
        allowed = self._of_kind_meeting(kind, cons)
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
            level: Set[str] | None = self._of_kind_meeting(ix.type[chain[node]], own)
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
                        ix.type[chain[-1]],
                        *steps[-1],
                        by_last,
                        chain[-1],
                    )
        self._pins[key] = result
        return result

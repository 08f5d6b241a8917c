"""Longest simple relation chain from a seed, found by a bounded depth-first search.

A chain is ``seed = x0 -r1-> x1 -r2-> ... -rn-> xn = answer`` where each step walks a KG
edge forwards or backwards (``inverse``). Constraints:

- simple: no entity twice (nor two entities of the same concept by name, when
  ``same_concept`` is given: `medenv.synth.namekey`, e.g. OMIM's "Feingold syndrome 1" and Orphanet's
  "Feingold syndrome type 1"; the question would read as if the chain came back to where
  it started);
- no ladder: two consecutive steps never use the same relation in the same direction
  (e.g. ``is_a`` up then ``is_a`` up again says nothing new);
- variety: a chain of 3 or more hops uses at least 2 distinct relations;
- ``min_hops <= n <= max_hops`` and ``is_answer(xn)`` (a nameable answer type);
- ``accept(nodes, steps)``, when given (e.g. enough source-boundary crossings).

Ranking: longer first; then higher mean rarity of ``x1..xn`` (rarer entities make more
specific, more unique questions); then the chain's ids (deterministic). The search expands
rarest neighbours first and stops after ``budget`` node expansions, so its cost per seed
is bounded and measured (`ChainSearch.expansions`).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping

import msgspec

from medenv.synth.subgraph import Subgraph

Step = tuple[str, bool]


class Chain(msgspec.Struct, frozen=True):
    nodes: tuple[str, ...]  # x0 (seed) .. xn (answer)
    steps: tuple[Step, ...]  # steps[i] leads from nodes[i] to nodes[i+1]

    @property
    def n_hops(self) -> int:
        return len(self.steps)


class ChainSearch(msgspec.Struct, frozen=True):
    chains: tuple[Chain, ...]  # best first
    expansions: int  # node expansions spent
    exhausted: bool  # True when the whole space was searched within the budget


def search_chains(
    sub: Subgraph,
    *,
    min_hops: int,
    max_hops: int,
    budget: int,
    rarity: Mapping[str, float] | Callable[[str], float],
    is_answer: Callable[[str], bool],
    keep: int = 4,
    same_concept: Callable[[str, str], bool] | None = None,
    accept: Callable[[tuple[str, ...], tuple[Step, ...]], bool] | None = None,
) -> ChainSearch:
    """The ``keep`` best chains from ``sub.seed`` under the module's constraints (and
    ``accept(nodes, steps)`` when given). ``same_concept(a, b)``: whether two nodes are one
    concept by name (`medenv.synth.namekey.NameKeys.same_concept`)."""
    score_of = rarity if callable(rarity) else rarity.__getitem__
    kept: list[tuple[tuple, Chain]] = []
    nodes: list[str] = [sub.seed]
    steps: list[Step] = []
    on_path = {sub.seed}
    expansions = 0
    stopped = False

    def record(total: float) -> None:
        n = len(steps)
        key = (-n, -round(total / n, 12), tuple(nodes))
        if len(kept) < keep or key < kept[-1][0]:
            bisect.insort(kept, (key, Chain(tuple(nodes), tuple(steps))), key=lambda kc: kc[0])
            del kept[keep:]

    def dfs(total: float) -> None:
        nonlocal expansions, stopped
        if expansions >= budget:
            stopped = True
            return
        expansions += 1
        last = steps[-1] if steps else None
        for rel, inv, nxt in sub.neighbours(nodes[-1]):
            if nxt in on_path or (rel, inv) == last:
                continue
            if same_concept is not None and any(same_concept(nxt, n) for n in nodes):
                continue
            nodes.append(nxt)
            steps.append((rel, inv))
            on_path.add(nxt)
            sub_total = total + score_of(nxt)
            n = len(steps)
            if (
                n >= min_hops
                and (len(kept) < keep or n >= -kept[-1][0][0])
                and is_answer(nxt)
                and (n < 3 or len({r for r, _ in steps}) >= 2)
                and (accept is None or accept(tuple(nodes), tuple(steps)))
            ):
                record(sub_total)
            if n < max_hops:
                dfs(sub_total)
            nodes.pop()
            steps.pop()
            on_path.discard(nxt)
            if stopped:
                return

    dfs(0.0)
    return ChainSearch(
        chains=tuple(c for _, c in kept), expansions=expansions, exhausted=not stopped
    )


"""Effective hops: the fewest sequential lookups that pin a question's answer down.

A question names its seed and its constraint entities; a reader may start from any of
them. One *lookup* reads what one named entity (or one pinned entity) is related to; the
constraints on one chain node are looked up in parallel (one level). Starting points:

- the seed: the whole chain, ``n`` lookups (``n`` = nominal hops);
- chain node ``j >= 1`` known only by its own constraints: one lookup for its
  constraints, then the ``n - j`` hops of the suffix (with the later nodes' constraints
  as filters) - if that suffix query, under the ontology closure, already admits only
  the answer, the chain before ``j`` is never needed.

``effective_hops = min(n, min over such j of 1 + n - j)``. ``j = n`` (cost 1) is the
answer fixed by its own constraints. An item with ``effective_hops < n_hops`` has a
shortcut; the pipeline refuses it (drop reason ``shortcut``).
"""

from __future__ import annotations

from collections.abc import Sequence

from medenv.synth.qa import Constraint
from medenv.synth.uniqueness import Disambiguator


def effective_hops(
    disamb: Disambiguator,
    chain: Sequence[str],
    steps: Sequence[tuple[str, bool]],
    constraints: Sequence[Constraint],
) -> int:
    """The fewest lookups that pin ``chain[-1]`` down (see module docstring)."""
    n = len(steps)
    for j in range(n, 1, -1):  # cheapest start first: cost 1 + n - j grows as j falls
        if disamb.pins(j, chain, steps, constraints):
            return 1 + n - j
    return n

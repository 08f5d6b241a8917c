"""Rarity of entities and the choice of seed entities from the rare tail.

Rarity of a node ``v`` with degree ``d(v)`` (annotations + ontology links, both directions):

    rarity(v) = 1 - log(1 + d(v)) / log(1 + d_max)

so it is 1 for an isolated node, 0 for the best-connected node of the graph, and falls
slowly (logarithmically) with the number of annotations. For HPO, a phenotype annotated to
a single disease scores ~0.91, a gene with one disease ~0.91, a typical disease ~0.6.

Seeds are the eligible nodes (a seed type, degree >= 1, not a hub). The rare tail is the
``rare_fraction`` of them with the highest rarity (ties by id). Each seed is drawn from the
tail with probability ``rare_share``, else from the rest, with `random.Random(seed)`; when
one pool runs dry the other is used, so every eligible node is eventually tried once.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from medenv.synth.index import GraphIndex


def rarity(index: GraphIndex, node: str) -> float:
    """The rarity score of ``node`` in [0, 1] (formula in the module docstring)."""
    return 1.0 - math.log1p(index.degree[node]) / math.log1p(max(index.max_degree, 1))


def eligible_seeds(index: GraphIndex, seed_types: tuple[str, ...], hub_degree: int) -> list[str]:
    """Nodes that may start a chain, rarest first (ties by id)."""
    types = set(seed_types)
    nodes = [i for i in index.ids if index.type[i] in types and 1 <= index.degree[i] <= hub_degree]
    return sorted(nodes, key=lambda i: (index.degree[i], i))


def seed_order(
    index: GraphIndex,
    *,
    seed: int,
    seed_types: tuple[str, ...],
    hub_degree: int,
    rare_share: float,
    rare_fraction: float,
) -> Iterator[tuple[str, bool]]:
    """Every eligible node once, as ``(node, from_rare_tail)``, in a seeded order."""
    nodes = eligible_seeds(index, seed_types, hub_degree)
    cut = math.ceil(len(nodes) * rare_fraction)
    rng = random.Random(seed)
    rare, common = nodes[:cut], nodes[cut:]
    rng.shuffle(rare)
    rng.shuffle(common)
    rare.reverse()  # pop() from the end = the shuffled order
    common.reverse()
    while rare or common:
        take_rare = bool(rare) and (not common or rng.random() < rare_share)
        yield (rare.pop(), True) if take_rare else (common.pop(), False)

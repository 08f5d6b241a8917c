"""Labels derived from a chain: id, split, difficulty and the optimal number of tool calls.

- ``id``: ``q`` + 12 hex digits of SHA-256 over the chain (ids and steps): stable across
  runs and independent of the item's position in the set.
- ``split``: the same digest mapped to [0, 1) and cut by the split shares
  (train / validation / test), so an item keeps its split when the set is regenerated,
  grown or filtered.
- ``difficulty = n_hops + rarity(seed)``: hops dominate; among equal hops, rarer seeds
  (fewer pages mention them) are harder.
- ``optimal_calls = n_hops + 1``: an ideal agent needs one search (or browse) per hop, each
  reading the page that states that hop (constraints are stated on the same pages), and
  one final ``answer`` call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

SPLITS = ("train", "validation", "test")


def chain_digest(chain: Sequence[str], steps: Sequence[tuple[str, bool]]) -> str:
    text = "|".join(chain) + "#" + "|".join(f"{r}:{int(inv)}" for r, inv in steps)
    return hashlib.sha256(text.encode()).hexdigest()


def item_id(digest: str) -> str:
    return f"q{digest[:12]}"


def split_of(digest: str, shares: Sequence[float] = (0.8, 0.1, 0.1)) -> str:
    u = int(digest[-16:], 16) / 16**16
    if u < shares[0]:
        return SPLITS[0]
    if u < shares[0] + shares[1]:
        return SPLITS[1]
    return SPLITS[2]


def difficulty(n_hops: int, seed_rarity: float) -> float:
    return round(n_hops + seed_rarity, 4)


def optimal_calls(n_hops: int) -> int:
    return n_hops + 1

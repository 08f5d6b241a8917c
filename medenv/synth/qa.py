"""`QAItem`: one synthesized multi-hop question with its gold chain and labels.

The agent sees only ``question``. Everything else (answer, aliases, chain, evidence) is
for rewards, guidance and evaluation, and never appears in an observation or env info.
"""

from __future__ import annotations

import msgspec


class Hop(msgspec.Struct, frozen=True):
    """One step of the gold chain: ``head`` reaches ``tail`` through ``relation``.

    ``inverse`` is True when the chain walks the KG edge backwards, i.e. the KG edge is
    ``tail -[relation]-> head``.
    """

    head: str
    relation: str
    tail: str
    inverse: bool = False


class QAItem(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    question: str
    answer: str
    answer_id: str
    aliases: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()  # entity ids from the seed to the answer
    hops: tuple[Hop, ...] = ()
    n_hops: int = 0
    specialty: str = "general"
    difficulty: float = 0.0
    rarity: float = 0.0
    optimal_calls: int = 1
    evidence: tuple[tuple[str, ...], ...] = ()  # per hop: ids of pages that state the fact
    split: str = "train"
    kg_source: str = ""
    kg_version: str = ""

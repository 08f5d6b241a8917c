"""`QAItem`: one multi-hop question with its gold chain and labels (ground floor: the
synthesis pipeline writes them, every other layer reads them; `medenv.synth.qa` re-exports).

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


class Constraint(msgspec.Struct, frozen=True):
    """An extra fact the question states about the chain entity ``chain[node]``.

    The question names ``entity``; the KG edge is ``chain[node] -[relation]-> entity``
    or, when ``inverse`` is True, ``entity -[relation]-> chain[node]``. Constraints make
    an otherwise ambiguous chain admit exactly one answer (see `medenv.synth.uniqueness`).
    """

    node: int
    relation: str
    entity: str
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
    constraints: tuple[Constraint, ...] = ()  # distinguishing facts stated in the question
    effective_hops: int = 0  # fewest sequential lookups that pin the answer (synth.hops)

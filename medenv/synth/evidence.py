"""Gold evidence for every hop, from the corpus part's answerability check.

``world.hop_evidence(item)`` (`medenv.world.World.hop_evidence`, i.e.
`medenv.corpus.answerability.hop_evidence`) returns, per hop, the ids of the
pages that state the hop's fact, or None when some hop cannot be found with the tools
(no page states it, or searching the hop's known entity by name does not rank such a page
in the top results). Synthesis keeps the evidence on the item and drops unanswerable items
(reason ``unanswerable``). This module is the one place synthesis touches the corpus, and it does so through the world
it is given (synthesis imports no corpus module: the corpus is a layer above it).
"""

from __future__ import annotations

from typing import Any

import msgspec

from medenv.synth.qa import QAItem


def attach_evidence(world: Any, item: QAItem) -> QAItem | None:
    """``item`` with ``evidence`` filled in, or None when some hop has no evidence page."""
    evidence = world.hop_evidence(item)
    if evidence is None or len(evidence) != item.n_hops or not all(evidence):
        return None
    return msgspec.structs.replace(item, evidence=tuple(tuple(hop) for hop in evidence))

"""Search shortcut check: does pasting the question into a search tool find the answer?

An item is a *search shortcut* when searching its whole question text, in the medical or
the web collection, ranks a page about the answer entity in the top `TOP_K` (the agent
could answer with one search, reading no chain). Synthesis re-renders such a question
with other wording (a few tries) and drops it when every wording is a shortcut (reason
``search_shortcut``); the manifest reports the share of kept items that still are.
"""

from __future__ import annotations

from typing import Any

from medenv.synth.qa import QAItem

TOP_K = 5
COLLECTIONS = ("medical", "web")


def answer_rank(world: Any, question: str, answer_id: str, top_k: int = TOP_K) -> int | None:
    """The best 1-based rank of a page about ``answer_id`` when ``question`` is searched in
    either collection, or None when no such page is in the top ``top_k`` (memoised on the
    world: synthesis asks again of the text it kept)."""
    key = (question, answer_id, top_k)
    cache = world.__dict__.setdefault("_answer_ranks", {}) if hasattr(world, "__dict__") else {}
    if key in cache:
        return cache[key]
    best = _answer_rank(world, question, answer_id, top_k)
    if len(cache) < 100_000:
        cache[key] = best
    return best


def _answer_rank(world: Any, question: str, answer_id: str, top_k: int) -> int | None:
    about = {d.id for d in world.corpus.pages_about(answer_id)}
    best = None
    for collection in COLLECTIONS:
        for rank, doc_id in enumerate(world.index(collection).search_ids(question, top_k), 1):
            if doc_id in about:
                best = rank if best is None else min(best, rank)
                break
    return best


def is_shortcut(world: Any, item: QAItem, top_k: int = TOP_K) -> bool:
    """True when the item's own question text finds its answer's page (see module)."""
    return answer_rank(world, item.question, item.answer_id, top_k) is not None

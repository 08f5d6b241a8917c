"""The one way to get a question set: `load_questions(qa, source, split)`.

``qa`` is None (the built-in default set of ``source``, `medenv.synth.default_qa_set`, built
on first use), a QA-set folder or JSONL file (`medenv.synth.io.read_qa_set`), a `QAItem`,
or a list/tuple of `QAItem`. ``split`` keeps the items of that split. Anything else, a list
holding something other than `QAItem`s, or an empty result, is one `MedenvError` line.
The env, rollouts, the HTTP server and GRPO all load their questions here.

`check_items_in_kg` refuses a set naming entities the world's graph lacks (with
`medenv.qa_world.kg_mismatch`, the rule `medenv.qa_world.check_qa_world` applies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medenv.errors import MedenvError
from medenv.qa import QAItem
from medenv.synth import default_qa_set
from medenv.synth.io import read_qa_set


def load_questions(qa: Any = None, source: str = "hpo", split: str | None = None) -> list[QAItem]:
    """The items of ``qa`` (see the module docstring), in their order."""
    if isinstance(qa, QAItem):
        items = [qa]
    elif isinstance(qa, list | tuple):
        items = list(qa)
        bad = [type(x).__name__ for x in items if not isinstance(x, QAItem)]
        if bad:
            raise MedenvError(f"qa must be a path or a list of QAItem, got a list with {bad[0]}")
    elif qa is None or isinstance(qa, str | Path):
        items = read_qa_set(default_qa_set(source=source) if qa is None else qa)
    else:
        raise MedenvError(f"qa must be a path or a list of QAItem, got {type(qa).__name__}")
    if split is not None:
        items = [it for it in items if it.split == split]
    if not items:
        where = "the default QA set" if qa is None else f"{qa!r}"
        raise MedenvError(f"no questions in {where}" + (f" for split {split!r}" if split else ""))
    return items


def check_items_in_kg(items: list[QAItem], kg, where: str = "the question set") -> None:
    """Raise `MedenvError` when a KG-grounded item's (one with a chain) chain, hops, answer id
    or constraints name an entity the world's knowledge graph lacks (a set made from another KG). Called before
    the env writes any event, so a bad set leaves no half-written run. ``kg`` is a
    `KnowledgeGraph` or anything with ``source``, ``version`` and ``in`` (a lazy world's
    `medenv.world_memo.KGSummary`)."""
    for item in items:
        if not item.chain:  # an external question: nothing the env looks up in the KG
            continue
        ids = [*item.chain, item.answer_id]
        ids += [x for hop in item.hops for x in (hop.head, hop.tail)]
        ids += [c.entity for c in item.constraints]
        missing = next((x for x in ids if x and x not in kg), None)
        if missing is not None:
            raise MedenvError(
                f"{where}: question {item.id!r} names entity {missing!r}, which is not in the "
                f"{kg.source} knowledge graph (version {kg.version}); was the set made from "
                "another graph?"
            )

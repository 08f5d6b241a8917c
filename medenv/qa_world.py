"""Does a QA set belong to a world? The one rule the env, ``corpus check`` and ``eval`` apply.

A QA item records the graph it was built from (``kg_source``, ``kg_version``). It belongs to
a world whose graph has that source and (when the item records one) that version; items
without a recorded source (hand-made) or from an external set (``"external"``) belong to
any world. `kg_mismatch` names the first item that does not belong; `check_qa_world` also
checks that every entity a KG-grounded item names is in the graph
(`medenv.questions.check_items_in_kg`), and raises `MedenvError` with one line.
"""

from __future__ import annotations

from collections.abc import Iterable

from medenv.errors import MedenvError
from medenv.questions import check_items_in_kg

HINT = "give the KG flags (--source/--path) of the graph the question set was built from"


def kg_mismatch(items: Iterable, source: str, version: str | None) -> str | None:
    """``"question Q was built from the S V graph but the world is S' V'"`` for the first
    item of another graph than ``source``/``version`` (``version`` None: the source alone,
    checked before a graph is loaded), else None."""
    for item in items:
        if item.kg_source in ("", "external"):
            continue
        other_version = version is not None and item.kg_version not in ("", version)
        if item.kg_source != source or other_version:
            built = " ".join(filter(None, (item.kg_source, item.kg_version)))
            world = " ".join(filter(None, (source, version)))
            return f"question {item.id} was built from the {built} graph but the world is {world}"
    return None


def check_qa_world(items: list, kg, where: str = "the question set") -> None:
    """Raise `MedenvError` (one line) when ``items`` were not built from ``kg`` (a graph,
    or a source name: then only the sources are compared, before a graph is loaded)."""
    if isinstance(kg, str):
        problem = kg_mismatch(items, kg, None)
        if problem is not None:
            raise MedenvError(f"{where}: {problem}; {HINT}")
        return

    problem = kg_mismatch(items, str(kg.source), str(kg.version))
    if problem is not None:
        raise MedenvError(f"{where}: {problem}; {HINT}")
    check_items_in_kg(items, kg, str(where))

"""Curriculum by hop count: question sets of 1-hop questions first, then longer chains.

``--hops 1`` (or ``1,2``) selects questions by their ``n_hops`` in ``medenv synth`` (which
chains to build), ``medenv rollout`` and ``medenv train sft|grpo`` (which questions or
rows to use). `parse_hops` reads the flag; `select_hops` filters items or rows.
"""

from __future__ import annotations

from typing import Any

from medenv.errors import MedenvError


def parse_hops(text: str | int | tuple | list | None) -> tuple[int, ...] | None:
    """``"1"`` / ``"1,2"`` / ``2`` / ``(1, 2)`` -> sorted unique hop counts; None stays None.
    A count below 1 or a non-integer is a one-line `MedenvError`."""
    if text is None:
        return None
    if isinstance(text, int):
        parts: list[Any] = [text]
    elif isinstance(text, str):
        parts = [p.strip() for p in text.split(",") if p.strip()]
    else:
        parts = list(text)
    try:
        hops = sorted({int(p) for p in parts})
    except (TypeError, ValueError):
        raise MedenvError(f"--hops takes hop counts like 1 or 1,2; got {text!r}") from None
    if not hops or hops[0] < 1:
        raise MedenvError(f"--hops takes hop counts of at least 1; got {text!r}")
    return tuple(hops)


def n_hops_of(entry: Any) -> int | None:
    """The hop count of a QA item (``n_hops`` attribute) or an SFT/RL row (``n_hops`` key)."""
    value = entry.get("n_hops") if isinstance(entry, dict) else getattr(entry, "n_hops", None)
    return None if value is None else int(value)


def select_hops(entries: list, hops: tuple[int, ...] | None, what: str = "questions") -> list:
    """The entries whose hop count is in ``hops`` (all of them when ``hops`` is None);
    none left is a `MedenvError` naming the counts that exist."""
    if hops is None:
        return list(entries)
    chosen = [e for e in entries if n_hops_of(e) in hops]
    if not chosen:
        present = sorted({h for e in entries if (h := n_hops_of(e)) is not None})
        raise MedenvError(
            f"no {what} with {','.join(map(str, hops))} hop(s); the set has hop counts {present}"
        )
    return chosen

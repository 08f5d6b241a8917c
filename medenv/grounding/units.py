"""What an observation shows (groundedness rule 2, `medenv.grounding`): its *units* (one
numbered search result with its passage, or one passage of a browsed page together with
its title) and the titles it *inspects* (the browsed page, each search result's title).
"""

from __future__ import annotations

import re

_RESULT_START = re.compile(r"^\s*\d+\.\s+(.*?)\s+\|\s+(\S+)\s*$")
_PAGE = re.compile(r"^Page:\s*(.*)$")


def observation_units(observation: str) -> tuple[list[str], list[str]]:
    """Split an observation into units, and the titles it *inspects* (browsed page titles
    and search result titles). See the module docstring."""
    lines = observation.splitlines()
    page = next((m.group(1) for m in map(_PAGE.match, lines[:1]) if m), None)
    if page is not None:
        body = [ln for ln in lines[1:] if ln.strip() and not ln.startswith("URL:")]
        return [f"{page}\n{ln}" for ln in body] or [page], [page]
    units: list[str] = []
    titles: list[str] = []
    for ln in lines:
        m = _RESULT_START.match(ln)
        if m:  # a result starts a unit ...
            units.append(ln)
            titles.append(m.group(1))
        elif titles:  # ... that holds every line up to the next result
            units[-1] = f"{units[-1]}\n{ln}"
        elif ln.strip():  # a line before the first result is a unit of its own
            units.append(ln)
    return units, titles

"""`ToolResult`: what one tool call returns, and the shared rendering of search hits.

``text`` is exactly what the model reads: compact, stable (no timestamps, no random
order). For an error, ``ok`` is False, ``error`` holds a short kind and ``text`` a precise
message the model can recover from. ``doc_ids`` are the pages shown (evidence coverage).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from medenv.corpus.document import SearchHit


class ToolResult(msgspec.Struct, frozen=True):
    ok: bool
    text: str
    error: str | None = None
    doc_ids: tuple[str, ...] = ()


def failure(kind: str, message: str) -> ToolResult:
    return ToolResult(ok=False, text=f"Error: {message}", error=kind)


def render_hits(tool: str, query: str, hits: Sequence[SearchHit]) -> ToolResult:
    """Numbered results: title, url, then the matching passage on the next line."""
    shown = " ".join(query.split())
    if not hits:
        return ToolResult(
            ok=True,
            text=f'{tool}: no results for "{shown}". Try other or fewer words.',
        )
    lines = [f'{tool} results for "{shown}":']
    for i, h in enumerate(hits, 1):
        lines.append(f"{i}. {h.title} | {h.url}")
        if h.snippet:
            lines.append(f"   {h.snippet}")
    return ToolResult(ok=True, text="\n".join(lines), doc_ids=tuple(h.doc_id for h in hits))

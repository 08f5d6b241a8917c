"""`web_search(query, top_k=5)`: search the simulated general web (noisier pages)."""

from __future__ import annotations

import msgspec

from medenv.tools.medical_search import Query, TopK, search
from medenv.tools.result import ToolResult
from medenv.tools.tool import Tool

NAME = "web_search"
DESCRIPTION = (
    "Search the general web (summaries, encyclopedia entries, patient forums; pages may be "
    "partial or about a similar condition). Returns ranked results with title, url and "
    "the matching passage."
)


class Args(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Arguments of web_search."""

    query: Query
    top_k: TopK = 5


def run(world, args: Args) -> ToolResult:
    return search(world, "web", NAME, args.query, args.top_k)


TOOL = Tool(NAME, DESCRIPTION, Args, run, order=20)

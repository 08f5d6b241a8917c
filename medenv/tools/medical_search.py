"""`medical_search(query, top_k=5)`: search the authoritative medical collection."""

from __future__ import annotations

from typing import Annotated

import msgspec

from medenv.tools.result import ToolResult, failure, render_hits
from medenv.tools.tool import Tool

NAME = "medical_search"
DESCRIPTION = (
    "Search the private medical reference (one authoritative page per disease, phenotype, "
    "gene, inheritance pattern). Returns ranked results with title, url and the matching "
    "passage. Search for one entity or fact at a time."
)
MAX_TOP_K = 20

Query = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=500, description="Words to search for, e.g. an entity name."
    ),
]
TopK = Annotated[
    int, msgspec.Meta(ge=1, le=MAX_TOP_K, description="How many results to return (1-20).")
]


class Args(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Arguments of medical_search."""

    query: Query
    top_k: TopK = 5


def search(world, collection: str, tool: str, query: str, top_k: int) -> ToolResult:
    """Shared by both search tools: validate the words, search, render."""
    if not query.strip():
        return failure("bad_arguments", f"{tool}: `query` is blank; give words to search for.")
    hits = world.index(collection).search(query, top_k)
    return render_hits(tool, query, hits)


def run(world, args: Args) -> ToolResult:
    return search(world, "medical", NAME, args.query, args.top_k)


TOOL = Tool(NAME, DESCRIPTION, Args, run, order=10)

"""`browse(url, goal)`: read one page, the passages most relevant to ``goal`` first.

Passages (lines of the page, long ones split) are ranked by BM25 within the page against
``goal``; ties and non-matching passages keep page order. At most `MAX_CHARS` of passages
are shown, with a note saying how many were left out. An unknown url returns a clear
"not found" observation (``ok`` False, kind ``not_found``) and lists nothing else.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from medenv.corpus.text import analysed_passages, rank_passages
from medenv.tools.result import ToolResult, failure
from medenv.tools.tool import Tool

NAME = "browse"
DESCRIPTION = (
    "Open a page by the url a search returned and read it, the passages most relevant to "
    "your goal first (long pages are cut)."
)
MAX_CHARS = 2000


class Args(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Arguments of browse."""

    url: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=2000,
            description="The page url, exactly as a search result gave it.",
        ),
    ]
    goal: Annotated[
        str, msgspec.Meta(max_length=500, description="What you want to find on the page.")
    ]


def run(world, args: Args) -> ToolResult:
    url = args.url.strip()
    doc = world.corpus.get(url)
    if doc is None:
        return failure(
            "not_found",
            f"browse: no page at {url!r}. Use a url exactly as a medical_search or "
            "web_search result shows it.",
        )
    parts = analysed_passages(doc.text).parts  # memoised per page; never mutated here
    order = rank_passages(parts, args.goal, text=doc.text)
    shown: list[str] = []
    used = 0
    for i in order:
        p = parts[i]
        if shown and used + len(p) > MAX_CHARS:
            break
        if not shown and len(p) > MAX_CHARS:
            p = p[:MAX_CHARS].rstrip() + "..."
        shown.append(p)
        used += len(p) + 1
    goal = " ".join(args.goal.split())
    head = [f"Page: {doc.title}", f"URL: {doc.url}"]
    if goal:
        head.append(f'Passages most relevant to "{goal}" first:')
    lines = head + shown
    left = len(parts) - len(shown)
    if left:
        lines.append(
            f"[Page truncated: {left} more passage{'s' if left != 1 else ''} not shown. "
            "Browse again with a more specific goal.]"
        )
    return ToolResult(ok=True, text="\n".join(lines), doc_ids=(doc.id,))


TOOL = Tool(NAME, DESCRIPTION, Args, run, order=30)

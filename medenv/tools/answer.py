"""`answer(answer)`: submit the final answer; ends the episode."""

from __future__ import annotations

from typing import Annotated

import msgspec

from medenv.tools.result import ToolResult, failure
from medenv.tools.tool import Tool

NAME = "answer"
DESCRIPTION = "Submit your final answer (a short entity name). This ends the episode."


class Args(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Arguments of answer."""

    answer: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=500, description="The final answer, as short as possible."
        ),
    ]


def run(world, args: Args) -> ToolResult:
    text = " ".join(args.answer.split())
    if not text:
        return failure("bad_arguments", "answer: `answer` is blank; give the final answer.")
    return ToolResult(ok=True, text=f"Final answer submitted: {text}")


TOOL = Tool(NAME, DESCRIPTION, Args, run, order=90)

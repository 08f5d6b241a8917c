"""Kimi-K2 special-token calls, as vLLM's ``kimi_k2`` parser reads them.

``<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>
{...}<|tool_call_end|>...<|tool_calls_section_end|>``: the name is the id without its
``functions.`` prefix and ``:IDX`` suffix; an id of another shape (a bare counter ``0``,
``functions.a.0``) names no tool and is an error. The text before the section is content.
"""

from __future__ import annotations

import re

from medenv.tools.formats.base import (
    Attempt,
    Failure,
    RawCall,
    decode_at,
    json_message,
    token_section_attempts,
)

BEGIN, END = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
CALL, ARGS, CALL_END = "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>"
# the id: NAME or functions.NAME, then :IDX (vLLM's id pattern); a bare counter names no tool
_ID = re.compile(r"(?:functions\.)?([A-Za-z_][\w\-]*)(?::\d+)?")


def attempts(text: str) -> tuple[list[Attempt], str]:
    return token_section_attempts(text, BEGIN, END, CALL, CALL_END, _call)


def _call(body: str) -> Attempt:
    call_id, sep, args = body.partition(ARGS)
    match = _ID.fullmatch(call_id.strip())
    if not sep or not call_id.strip():
        return Failure(
            "bad_json", "A Kimi call needs functions.NAME:0<|tool_call_argument_begin|>{arguments}."
        )
    if match is None:
        return Failure(
            "bad_json", f"A Kimi call id is functions.NAME:IDX, not {call_id.strip()[:60]!r}."
        )
    name = match.group(1)
    try:
        value, _ = decode_at(args, 0)
    except (ValueError, RecursionError) as exc:
        return Failure("bad_json", json_message(exc, f"of the Kimi call {name[:80]}"))
    return RawCall(name, value)

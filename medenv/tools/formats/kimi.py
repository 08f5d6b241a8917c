"""Kimi-K2 special-token calls, as vLLM's ``kimi_k2`` parser reads them.

``<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>
{...}<|tool_call_end|>...<|tool_calls_section_end|>``: the name is the id without its
``functions.`` prefix and ``:IDX`` suffix; the text before the section is content.
"""

from __future__ import annotations

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


def attempts(text: str) -> tuple[list[Attempt], str]:
    return token_section_attempts(text, BEGIN, END, CALL, CALL_END, _call)


def _call(body: str) -> Attempt:
    call_id, sep, args = body.partition(ARGS)
    name = call_id.strip().split(":")[0].split(".")[-1]
    if not sep or not name:
        return Failure(
            "bad_json", "A Kimi call needs functions.NAME:0<|tool_call_argument_begin|>{arguments}."
        )
    try:
        value, _ = decode_at(args, 0)
    except (ValueError, RecursionError) as exc:
        return Failure("bad_json", json_message(exc, f"of the Kimi call {name[:80]}"))
    return RawCall(name, value)

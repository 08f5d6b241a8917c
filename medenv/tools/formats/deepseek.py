"""DeepSeek-V3 / V3.1 special-token calls, as vLLM's ``deepseek_v3`` / ``deepseek_v31`` read them.

- V3 (and R1): ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\\n```json
  \\n{...}\\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>``;
- V3.1: ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{...}<｜tool▁call▁end｜>...``.

One ``<｜tool▁call▁begin｜>`` per call; the text before the calls section is content.
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

BEGIN, END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
CALL, SEP, CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>"


def attempts(text: str) -> tuple[list[Attempt], str]:
    return token_section_attempts(text, BEGIN, END, CALL, CALL_END, _call)


def _call(body: str) -> Attempt:
    head, sep, tail = body.partition(SEP)
    if not sep:
        return Failure("bad_json", "A DeepSeek call needs NAME<｜tool▁sep｜>{arguments}.")
    if head.strip() == "function" and "\n" in tail.strip():  # V3: type, name, fenced JSON
        name, _, args = tail.partition("\n")
        args = args.strip().removeprefix("```json").removeprefix("```")
    else:
        name, args = head, tail
    name = name.strip()
    try:
        value, _ = decode_at(args, 0)
    except (ValueError, RecursionError) as exc:
        return Failure("bad_json", json_message(exc, f"of the DeepSeek call {name[:80]}"))
    return RawCall(name, value)

"""Which text is reasoning: ``<think>`` (Qwen3, DeepSeek-R1, GLM, Kimi, MiniMax),
``<seed:think>`` (Seed-OSS) and ``[THINK]`` (Magistral).

Rules, as vLLM's reasoning parsers apply them:

- Reasoning opens with ``<think>`` only where that tag comes before any call or answer
  (a ``<think>`` quoted inside a call's JSON is text) and ends at the *first* ``</think>``;
  everything after it is content, even another literal ``<think>``.
- A ``</think>`` with no opening tag before any call or answer closes reasoning that the chat
  template opened in the prompt: the text before it is reasoning.
- An unclosed ``<think>`` runs to the end (generation stopped while thinking), except that,
  as vLLM's Qwen3 reasoning parser does, it ends where a ``<tool_call>`` whose body starts
  with ``<function=`` begins.
- Seed-OSS's ``<seed:think>``/``</seed:think>`` and Gemma 4's ``<|channel>``/``<channel|>``
  (its ``thought`` label dropped, as vLLM's Gemma 4 parser does) follow the same rules, when
  one of their tags comes before any other pair's; an unclosed one runs to the end.
- Magistral: a reply opening with ``[THINK]`` reasons up to ``[/THINK]`` (or to the end); a
  ``[/THINK]`` with no ``[THINK]`` before it, before any call or answer, closes reasoning
  the template opened (the text before it is reasoning), as vLLM's Mistral parser reads it.
"""

from __future__ import annotations

import re

from medenv.tools.formats.marks import first_marks

_CALL_MARKERS = (
    "<tool_call>", "<function=", "<answer>", "[TOOL_CALLS]", "<seed:tool_call>",
    "<minimax:tool_call>", "<｜DSML｜function_calls>", "<｜DSML｜tool_calls>", "<function_calls>",
    "<|tool_call>",
)  # fmt: skip
_THINK = ("<think>", "</think>")
_PAIRS = (("<seed:think>", "</seed:think>"), ("<|channel>", "<channel|>"))
_LABEL = {"<|channel>": "thought"}  # a role label the reasoning opens with
_OTHER_TAGS = frozenset(tag for pair in _PAIRS for tag in pair)
_QWEN3_CALL = re.compile(r"<tool_call>\s*<function=")


def split_reasoning(text: str, marks: dict[str, int] | None = None) -> tuple[str | None, str]:
    """``(reasoning or None, content)``; the reasoning is stripped, the content is not.
    ``marks``: `first_marks` of ``text`` when the caller has them."""
    head = text.lstrip()
    if head.startswith("[THINK]"):
        body = head[len("[THINK]") :]
        end = body.find("[/THINK]")
        if end == -1:
            return body.strip(), ""
        return body[:end].strip(), body[end + len("[/THINK]") :]
    marks = first_marks(text) if marks is None else marks
    opener, closer = _THINK if _OTHER_TAGS.isdisjoint(marks) else _pair(marks)
    think, content = _split(text, marks, opener, closer)
    if think is not None and opener in _LABEL:
        think = think.removeprefix(_LABEL[opener]).strip()
    return think, content


def _split(text: str, marks: dict[str, int], opener: str, closer: str) -> tuple[str | None, str]:
    """`split_reasoning` with the think tags ``opener``/``closer``."""
    close, open_ = marks.get(closer, -1), marks.get(opener, -1)
    if close != -1 and open_ > close:
        open_ = -1  # the first <think> comes after the first </think>: quoted text
    first_call = min((marks[m] for m in _CALL_MARKERS if m in marks), default=len(text))
    if open_ != -1 and first_call > open_:
        before, start = text[:open_], open_ + len(opener)
        if close != -1:
            return text[start:close].strip(), before + text[close + len(closer) :]
        call = marks.get("<tool_call>", -1) if opener == "<think>" else -1
        while call != -1 and _QWEN3_CALL.match(text, call) is None:
            call = text.find("<tool_call>", call + 1)
        if call != -1:
            return text[start:call].strip(), before + text[call:]
        return text[start:].strip(), before
    if close != -1 and open_ == -1 and first_call > close:
        return text[:close].strip(), text[close + len(closer) :]
    end = marks.get("[/THINK]", -1)
    if end != -1 and first_call > end and marks.get("[THINK]", -1) == -1:
        return text[:end].strip(), text[end + len("[/THINK]") :]
    return None, text


def _pair(marks: dict[str, int]) -> tuple[str, str]:
    """The think tags of the reply: the pair one of whose tags comes first (``<think>``
    when none does)."""
    never = 1 << 62
    best, first = _THINK, min(marks.get(tag, never) for tag in _THINK)
    for pair in _PAIRS:
        if pair[0] in marks or pair[1] in marks:
            at = min(marks.get(tag, never) for tag in pair)
            if at < first:
                best, first = pair, at
    return best

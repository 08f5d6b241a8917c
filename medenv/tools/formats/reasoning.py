"""Which text is reasoning: ``<think>`` (Qwen3, DeepSeek-R1, GLM, Kimi) and ``[THINK]`` (Magistral).

Rules, as vLLM's reasoning parsers apply them:

- Reasoning opens with ``<think>`` only where that tag comes before any call or answer
  (a ``<think>`` quoted inside a call's JSON is text) and ends at the *first* ``</think>``;
  everything after it is content, even another literal ``<think>``.
- A ``</think>`` with no opening tag before any call or answer closes reasoning that the chat
  template opened in the prompt: the text before it is reasoning.
- An unclosed ``<think>`` runs to the end (generation stopped while thinking), except that,
  as vLLM's Qwen3 reasoning parser does, it ends where a ``<tool_call>`` whose body starts
  with ``<function=`` begins.
- Magistral: a reply opening with ``[THINK]`` reasons up to ``[/THINK]`` (or to the end); a
  ``[/THINK]`` with no ``[THINK]`` before it, before any call or answer, closes reasoning
  the template opened (the text before it is reasoning), as vLLM's Mistral parser reads it.
"""

from __future__ import annotations

import re

from medenv.tools.formats.marks import first_marks

_CALL_MARKERS = ("<tool_call>", "<function=", "<answer>", "[TOOL_CALLS]")
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
    close, open_ = marks.get("</think>", -1), marks.get("<think>", -1)
    if close != -1 and open_ > close:
        open_ = -1  # the first <think> comes after the first </think>: quoted text
    first_call = min((marks[m] for m in _CALL_MARKERS if m in marks), default=len(text))
    if open_ != -1 and first_call > open_:
        before, start = text[:open_], open_ + len("<think>")
        if close != -1:
            return text[start:close].strip(), before + text[close + len("</think>") :]
        call = marks.get("<tool_call>", -1)
        while call != -1 and _QWEN3_CALL.match(text, call) is None:
            call = text.find("<tool_call>", call + 1)
        if call != -1:
            return text[start:call].strip(), before + text[call:]
        return text[start:].strip(), before
    if close != -1 and open_ == -1 and first_call > close:
        return text[:close].strip(), text[close + len("</think>") :]
    end = marks.get("[/THINK]", -1)
    if end != -1 and first_call > end and marks.get("[THINK]", -1) == -1:
        return text[:end].strip(), text[end + len("[/THINK]") :]
    return None, text

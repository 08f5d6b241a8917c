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
- Magistral: a reply opening with ``[THINK]`` reasons up to ``[/THINK]`` (or to the end).
"""

from __future__ import annotations

import re

_CALL_MARKERS = ("<tool_call>", "<function=", "<answer>", "[TOOL_CALLS]")
_QWEN3_CALL = re.compile(r"<tool_call>\s*<function=")


def _first_marker(text: str, end: int) -> int:
    """Index of the first call or answer marker before ``end``, or ``end``."""
    best = end
    for marker in _CALL_MARKERS:
        i = text.find(marker, 0, best)
        if i != -1:
            best = i
    return best


def split_reasoning(text: str) -> tuple[str | None, str]:
    """``(reasoning or None, content)``; the reasoning is stripped, the content is not."""
    head = text.lstrip()
    if head.startswith("[THINK]"):
        body = head[len("[THINK]") :]
        end = body.find("[/THINK]")
        if end == -1:
            return body.strip(), ""
        return body[:end].strip(), body[end + len("[/THINK]") :]
    close = text.find("</think>")
    open_ = text.find("<think>", 0, close if close != -1 else len(text))
    if open_ != -1 and _first_marker(text, open_) == open_:
        before, body = text[:open_], text[open_ + len("<think>") :]
        end = body.find("</think>")
        if end != -1:
            return body[:end].strip(), before + body[end + len("</think>") :]
        match = _QWEN3_CALL.search(body)
        if match is not None:
            return body[: match.start()].strip(), before + body[match.start() :]
        return body.strip(), before
    if close != -1 and open_ == -1 and _first_marker(text, close) == close:
        return text[:close].strip(), text[close + len("</think>") :]
    return None, text

"""Model-style action text: how a Qwen-style model writes its reasoning and tool calls.

Every scripted agent (oracle, heuristic, random) writes its actions through these
helpers so its trajectories read exactly like a model's output:

    <think>
    ...
    </think>
    <tool_call>
    {"name": "medical_search", "arguments": {"query": "..."}}
    </tool_call>

and a final answer as ``<think>...</think>\\n<answer>X</answer>``.
"""

from __future__ import annotations

import json
import re

_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def think_block(think: str | None) -> str:
    return f"<think>\n{think.strip()}\n</think>\n" if think else ""


def tool_call_text(name: str, arguments: dict) -> str:
    """One ``<tool_call>`` block in the Hermes/Qwen format (compact, key order kept)."""
    payload = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{payload}\n</tool_call>"


def action_text(think: str | None, name: str, arguments: dict) -> str:
    """A full action: optional think block, then one tool call."""
    return think_block(think) + tool_call_text(name, arguments)


def answer_text(think: str | None, answer: str) -> str:
    """A final answer: optional think block, then ``<answer>X</answer>``."""
    return think_block(think) + f"<answer>{answer}</answer>"


def split_action(text: str) -> tuple[str | None, list[dict], str | None]:
    """Split raw model text into ``(think, tool_calls, answer)``.

    ``tool_calls`` are ``{"name", "arguments"}`` dicts from every well-formed
    ``<tool_call>`` block (malformed ones are skipped: the env reports those); ``answer``
    is the text of an ``<answer>`` block. Used to build structured chat turns from raw
    text (LLM agent history, SFT export), never to judge validity.
    """
    m = _THINK.search(text)
    think = m.group(1).strip() if m else None
    calls: list[dict] = []
    for block in _TOOL_CALL.findall(text):
        try:
            obj = json.loads(block)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("name"), str):
            args = obj.get("arguments", {})
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except json.JSONDecodeError:
                    args = {}
            calls.append({"name": obj["name"], "arguments": args if isinstance(args, dict) else {}})
    a = _ANSWER.search(text)
    return think, calls, (a.group(1).strip() if a else None)


def tool_properties(tools: list[dict] | str | None) -> dict[str, list[str]]:
    """Map tool name -> its parameter names (required first), from OpenAI-format schemas."""
    if isinstance(tools, str):
        tools = json.loads(tools) if tools else []
    out: dict[str, list[str]] = {}
    for schema in tools or []:
        fn = schema.get("function", schema)
        params = fn.get("parameters", {}) or {}
        props = list((params.get("properties") or {}).keys())
        required = [p for p in params.get("required", []) if p in props]
        out[fn["name"]] = required + [p for p in props if p not in required]
    return out

"""The env's first observation: instructions, the tools, the call format and the question.

`render_prompt` is what `medenv.env.MedResearchEnv.reset` returns (cut to the observation
space); `call_example` is the one-call example it shows, in the format ``tool_format`` names.
"""

from __future__ import annotations

import re

from medenv.tools.parsing import FAMILIES


def call_example(tool_format: str) -> str:
    """A ``medical_search`` call in the format of ``tool_format`` (Hermes/Qwen for ``auto``)."""
    if tool_format not in FAMILIES or tool_format == "hermes":
        return (
            '<tool_call>\n{"name": "medical_search", "arguments": {"query": "..."}}\n</tool_call>'
        )
    example = re.sub(r"\bTOOL\b", "medical_search", FAMILIES[tool_format][1])
    example = re.sub(r"\bARG\b", "query", example).replace("VALUE", "...")
    return example.replace("{...}", '{"query": "..."}')


def render_prompt(
    question: str, schemas: list[dict], max_steps: int, tool_format: str = "auto"
) -> str:
    """The first observation: what the agent is, its tools, the call format (Hermes/Qwen, or
    the family ``tool_format`` names), the question."""
    return ask(prompt_head(schemas, max_steps, tool_format), question)


def ask(head: str, question: str) -> str:
    """The prompt of ``question`` under ``head`` (`prompt_head`): `render_prompt`'s text."""
    return f"{head}\nQuestion: {question}"


def prompt_head(schemas: list[dict], max_steps: int, tool_format: str = "auto") -> str:
    """`render_prompt`'s text before the question line (the same for every question, so
    the env renders it once)."""
    lines = [
        "You are a medical research agent. Answer the question by searching and reading "
        "sources; the question describes intermediate entities without naming them, so "
        "resolve them one at a time.",
        "",
        "Tools:",
    ]
    for schema in schemas:
        fn = schema["function"]
        props = fn.get("parameters", {}).get("properties", {})
        required = set(fn.get("parameters", {}).get("required", ()))
        args = ", ".join(p if p in required else f"{p}?" for p in props)
        lines.append(f"- {fn['name']}({args}): {fn.get('description', '')}")
    lines += [
        "",
        "Call exactly one tool per turn, as:",
        call_example(tool_format),
        "Give the final answer (a short entity name) as <answer>...</answer>; it ends the "
        f"episode. You have {max_steps} turns.",
        "",
    ]
    return "\n".join(lines)

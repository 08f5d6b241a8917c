"""Chat messages of a trajectory, in the format TRL and chat templates expect.

One source of truth for how an episode reads as a conversation, shared by the LLM agent
(its running context) and the SFT export (its training rows):

- system: `SYSTEM_PROMPT` (how to use the tools and how to answer);
- user: the env's question prompt;
- assistant tool turn: ``{"role": "assistant", "content": "<think>...</think>",
  "tool_calls": [{"type": "function", "function": {"name", "arguments": {...}}}]}``;
- tool turn: ``{"role": "tool", "name": ..., "content": observation}`` (the chat template
  wraps it in ``<tool_response>``);
- final turn: ``{"role": "assistant", "content": "<think>...</think>\\n<answer>X</answer>"}``.
"""

from __future__ import annotations

from medenv.agents.text import split_action, think_block

SYSTEM_PROMPT = (
    "You are a medical research assistant. Answer the user's question by researching it "
    "with the tools: search the medical and web collections, browse pages when a snippet "
    "is not enough, and follow the clues step by step. Think briefly inside "
    "<think>...</think> before each action. Call exactly one tool per turn. When you are "
    "sure, give the final answer as <answer>ENTITY NAME</answer> (or call the answer tool)."
)


def initial_messages(prompt: str, system: str | None = SYSTEM_PROMPT) -> list[dict]:
    """The conversation before the first action: optional system turn, then the question."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return messages


def assistant_message(text: str) -> dict:
    """One assistant turn from raw model text.

    Tool calls become structured ``tool_calls`` (only the first one: the env executes one
    call per step) and the content keeps the think block; a final answer keeps
    ``<answer>`` in the content. Text that is neither stays as it was written.
    """
    think, calls, answer = split_action(text)
    if calls:
        call = calls[0]
        return {
            "role": "assistant",
            "content": think_block(think).rstrip("\n"),
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        }
    if answer is not None:
        return {"role": "assistant", "content": think_block(think) + f"<answer>{answer}</answer>"}
    return {"role": "assistant", "content": text.strip()}


def tool_message(name: str, observation: str) -> dict:
    return {"role": "tool", "name": name, "content": observation}


def last_call_name(messages: list[dict]) -> str | None:
    """Name of the tool called by the last assistant turn, if it called one."""
    for m in reversed(messages):
        if m["role"] == "assistant":
            calls = m.get("tool_calls") or []
            return calls[0]["function"]["name"] if calls else None
    return None

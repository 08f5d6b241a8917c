"""`LLMAgent`: a language model driving the env through chat-template tool calling.

The agent keeps the conversation (system prompt, question, assistant turns with
structured tool calls, tool responses), asks its `Backend` for the next reply, and
returns the raw reply text (the env parses it). Before each generation the context is
fitted to ``backend.max_context_tokens - reserve``:

1. old tool outputs are truncated first (oldest first) to ``TRUNCATED`` plus a short head;
2. then the newest tool output is cut to fit;
3. then the oldest assistant/tool exchanges are dropped (system and question are kept).

`make_backend("transformers:PATH" | "openai:URL#MODEL" | "vllm:MODEL")` builds a backend
from one string (the CLI's ``--model``).
"""

from __future__ import annotations

import json

from agents.backends import Backend, OpenAIBackend, TransformersBackend, VLLMBackend
from agents.messages import (
    SYSTEM_PROMPT,
    assistant_message,
    initial_messages,
    last_call_name,
    tool_message,
)
from medenv.errors import MedenvError

TRUNCATED = "[earlier tool output truncated to save context]"


class LLMAgent:
    """A model behind a `Backend`; ``reserve`` tokens are kept free for the reply."""

    name = "llm"

    def __init__(
        self,
        backend: Backend,
        *,
        system_prompt: str | None = SYSTEM_PROMPT,
        reserve: int | None = None,
        keep_chars: int = 200,
    ) -> None:
        self.backend = backend
        self.system_prompt = system_prompt
        self.reserve = (
            reserve
            if reserve is not None
            else getattr(backend, "max_new_tokens", None) or getattr(backend, "max_tokens", 512)
        )
        self.keep_chars = keep_chars
        self.messages: list[dict] = []
        self.tools: list[dict] = []

    def reset(self, item=None, seed: int | None = None) -> None:
        self.messages = []
        self.tools = []
        if seed is not None and hasattr(self.backend, "seed"):
            self.backend.seed = seed

    def act(self, observation: str, info: dict) -> str:
        self.observe(observation, info)
        text = self.backend.generate(self.messages, self.tools)
        self.messages.append(assistant_message(text))
        return text

    async def aact(self, observation: str, info: dict) -> str:
        """`act` for a backend with ``async agenerate`` (`agents.backends.AsyncOpenAIBackend`):
        many agents share one event loop, each awaiting its own request."""
        self.observe(observation, info)
        text = await self.backend.agenerate(self.messages, self.tools)
        self.messages.append(assistant_message(text))
        return text

    def observe(self, observation: str, info: dict) -> None:
        """Add the env's observation to the conversation and fit it to the context."""
        if not self.messages:
            tools = info.get("tools") or "[]"
            self.tools = json.loads(tools) if isinstance(tools, str) else list(tools)
            self.messages = initial_messages(observation, self.system_prompt)
        else:
            name = last_call_name(self.messages)
            if name is not None:
                self.messages.append(tool_message(name, observation))
            else:  # the last reply had no valid call: the env's error message comes back
                self.messages.append({"role": "user", "content": observation})
        self.fit_context()

    # -- context management ---------------------------------------------------------
    def _budget(self) -> int:
        return self.backend.max_context_tokens - self.reserve

    def _size(self) -> int:
        return self.backend.count_tokens(self.messages, self.tools)

    def fit_context(self) -> None:
        """Shrink ``self.messages`` until the prompt fits (see the module docstring)."""
        budget = self._budget()
        if budget <= 0:
            raise MedenvError(
                f"context budget is {self.backend.max_context_tokens} tokens, "
                f"less than the {self.reserve} reserved for the reply"
            )
        if self._size() <= budget:
            return
        tool_idx = [
            i
            for i, m in enumerate(self.messages)
            if m["role"] in ("tool",) or (m["role"] == "user" and i > 1)
        ]
        # 1. truncate old tool outputs, oldest first (never the newest one here)
        for i in tool_idx[:-1]:
            content = self.messages[i]["content"]
            if content.startswith(TRUNCATED):
                continue
            head = content[: self.keep_chars].rstrip()
            self.messages[i] = {**self.messages[i], "content": f"{TRUNCATED}\n{head} ..."}
            if self._size() <= budget:
                return
        # 2. cut the newest tool output
        if tool_idx:
            i = tool_idx[-1]
            content = self.messages[i]["content"]
            lo, hi = 0, len(content)
            while lo < hi:  # the longest prefix that fits
                mid = (lo + hi + 1) // 2
                self.messages[i] = {**self.messages[i], "content": content[:mid] + " ..."}
                if self._size() <= budget:
                    lo = mid
                else:
                    hi = mid - 1
            self.messages[i] = {**self.messages[i], "content": content[:lo] + " ..."}
            if self._size() <= budget:
                return
        # 3. drop the oldest exchanges, keeping system + question and the newest turn
        first = 2 if self.messages and self.messages[0]["role"] == "system" else 1
        while len(self.messages) > first + 1 and self._size() > budget:
            del self.messages[first]
        if self._size() > budget:
            raise MedenvError(
                f"the question alone needs more than {budget} tokens of context "
                f"(max_context_tokens={self.backend.max_context_tokens}, reserve={self.reserve})"
            )


def make_backend(spec: str, **kwargs) -> Backend:
    """Build a backend from ``"transformers:PATH"``, ``"openai:URL#MODEL"`` or ``"vllm:MODEL"``.

    A bare path or hub id means ``transformers``; ``tiny`` (or ``transformers:tiny``) is the
    offline tiny model of `training.tiny`.
    """
    kind, sep, rest = spec.partition(":")
    if sep and kind.isidentifier() and kind not in ("transformers", "openai", "vllm"):
        raise MedenvError(
            f"unknown model backend {kind!r} in {spec!r}; use a model folder or hub id, "
            "transformers:PATH, openai:URL#MODEL or vllm:MODEL"
        )
    if not sep or kind not in ("transformers", "openai", "vllm"):
        kind, rest = "transformers", spec
    if kind == "transformers":
        if rest == "tiny":
            from training.tiny import tiny_model_path

            rest = str(tiny_model_path())
        return TransformersBackend(rest, **kwargs)
    if kind == "vllm":
        return VLLMBackend(rest, **kwargs)
    url, _, model = rest.partition("#")
    if not model:
        raise MedenvError(f"openai backend spec must be 'openai:URL#MODEL', got {spec!r}")
    return OpenAIBackend(url, model, **kwargs)

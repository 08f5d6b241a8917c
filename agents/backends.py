"""Generation backends for `medenv.agents.llm.LLMAgent`: one interface (`Backend`), three
engines, each in its own module and re-exported here.

A backend turns a chat (``messages`` + OpenAI-format ``tools``) into the model's raw reply
text, with tool calls written the Hermes/Qwen way (``<tool_call>{json}</tool_call>``) so
the env parses every backend's output the same way:

- `TransformersBackend(model_path)` (`medenv.agents.backend_transformers`): any Hugging
  Face causal LM with a chat template (local folder or hub id), on CPU or GPU;
- `OpenAIBackend(base_url, model)` (`medenv.agents.backend_openai`): any
  OpenAI-compatible ``/v1/chat/completions`` endpoint (``vllm serve``, SGLang, llama.cpp
  server, hosted APIs), through the ``openai`` SDK;
- `AsyncOpenAIBackend(base_url, model)`: the same endpoint through the ``openai`` SDK's
  ``AsyncOpenAI`` (retries, timeouts, API keys), for many episodes in flight in one
  process (``medenv rollout --concurrency N``); ``clone()`` shares one HTTP client;
- `VLLMBackend(model)` (`medenv.agents.backend_vllm`): vLLM in process (imported lazily;
  needs a GPU).

``count_tokens(messages, tools)`` measures a prompt for context management; the HTTP
backend estimates it (4 characters per token) since it has no tokenizer.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from medenv.agents.backend_openai import AsyncOpenAIBackend, OpenAIBackend, reply_text
from medenv.agents.backend_transformers import TransformersBackend, check_model_path, load_error
from medenv.agents.backend_vllm import VLLMBackend

__all__ = [
    "AsyncOpenAIBackend",
    "Backend",
    "OpenAIBackend",
    "TransformersBackend",
    "VLLMBackend",
    "check_model_path",
    "load_error",
    "reply_text",
]


@runtime_checkable
class Backend(Protocol):
    """What `LLMAgent` asks of an engine: the raw reply text to a chat with tools, and the
    prompt's length in tokens (for context management)."""

    max_context_tokens: int

    def generate(self, messages: list[dict], tools: list[dict]) -> str: ...

    def count_tokens(self, messages: list[dict], tools: list[dict]) -> int: ...

"""Generation backends for `medenv.agents.llm.LLMAgent`: one interface, three engines.

A backend turns a chat (``messages`` + OpenAI-format ``tools``) into the model's raw reply
text, with tool calls written the Hermes/Qwen way (``<tool_call>{json}</tool_call>``) so
the env parses every backend's output the same way:

- `TransformersBackend(model_path)`: any Hugging Face causal LM with a chat template
  (local folder or hub id), on CPU or GPU;
- `OpenAIBackend(base_url, model)`: any OpenAI-compatible ``/v1/chat/completions``
  endpoint (``vllm serve``, SGLang, llama.cpp server, hosted APIs), through the ``openai``
  SDK;
- `AsyncOpenAIBackend(base_url, model)`: the same endpoint through the ``openai`` SDK's
  ``AsyncOpenAI`` (retries, timeouts, API keys), for many episodes in flight in one
  process (``medenv rollout --concurrency N``); ``clone()`` shares one HTTP client;
- `VLLMBackend(model)`: vLLM in process (imported lazily; needs a GPU).

``count_tokens(messages, tools)`` measures a prompt for context management; the HTTP
backend estimates it (4 characters per token) since it has no tokenizer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from medenv.agents.text import think_block, tool_call_text
from medenv.agents.threads import set_threads

from medenv.errors import MedenvError


@runtime_checkable
class Backend(Protocol):
    max_context_tokens: int

    def generate(self, messages: list[dict], tools: list[dict]) -> str: ...

    def count_tokens(self, messages: list[dict], tools: list[dict]) -> int: ...


def check_model_path(model_path: str) -> None:
    """Raise `MedenvError` when ``model_path`` names a local model folder that is not there.

    An existing path must be a folder; a path that cannot be a hub id (absolute, ``./``,
    ``~``, or more than one ``/``) must exist. Anything else is left to the hub."""
    path = Path(model_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise MedenvError(f"model {model_path!r} is a file; expected a model folder")
        return
    if not model_path.strip():
        raise MedenvError("the model is empty; give a model folder or hub id")
    if model_path.startswith(("/", ".", "~")) or model_path.count("/") > 1:
        raise MedenvError(f"no model folder at {model_path}")


def load_error(model_path: str, exc: Exception) -> MedenvError:
    """One line naming the model and the first line of the loader's error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return MedenvError(
        f"cannot load model {model_path!r}: {lines[0] if lines else type(exc).__name__}"
    )


def _clean_special(text: str, specials: list[str], stop: list[str]) -> str:
    for s in stop:
        if s and s in text:
            text = text[: text.index(s)]
    keep = ("<tool_call>", "</tool_call>", "<think>", "</think>", "<answer>", "</answer>")
    for s in specials:
        if s and s not in keep:
            text = text.replace(s, "")
    return text.strip()


class TransformersBackend:
    """A local Hugging Face model (``model_path``: folder or hub id) via ``generate``.

    Greedy by default (``temperature=0``); ``seed`` seeds sampling. ``max_context_tokens``
    defaults to the model config's ``max_position_embeddings`` (capped at 32768). On CPU,
    ``threads`` torch threads (default `medenv.agents.threads.default_threads`: 1 on <= 2 cores).
    """

    def __init__(
        self,
        model_path: str,
        *,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        device: str | None = None,
        max_context_tokens: int | None = None,
        dtype: str = "auto",
        threads: int | None = None,
    ) -> None:
        check_model_path(model_path)
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - train extra missing
            raise MedenvError("the transformers backend needs `pip install medenv[train]`") from exc
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_path)
            self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise load_error(model_path, exc) from exc
        if self.tokenizer.chat_template is None:
            raise MedenvError(f"model {model_path!r} has no chat template")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu":  # torch's one-thread-per-core default thrashes small boxes

            set_threads(threads)
        self.model.to(self.device).eval()
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.template_kwargs: dict = {}  # e.g. enable_thinking (the prompt contract's)
        limit = getattr(self.model.config, "max_position_embeddings", None) or 4096
        self.max_context_tokens = max_context_tokens or min(int(limit), 32768)
        self._torch = torch

    def _encode(self, messages: list[dict], tools: list[dict], generation_prompt: bool):
        return self.tokenizer.apply_chat_template(
            messages,
            tools=tools or None,
            add_generation_prompt=generation_prompt,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            **self.template_kwargs,
        )

    def render_ids(self, messages: list[dict], tools: list[dict]) -> list[int]:
        """The token ids the model reads before its next reply (generation prompt included)."""
        return self._encode(messages, tools, True)["input_ids"][0].tolist()

    def count_tokens(self, messages: list[dict], tools: list[dict]) -> int:
        return int(self._encode(messages, tools, True)["input_ids"].shape[-1])

    def generate(self, messages: list[dict], tools: list[dict]) -> str:
        enc = self._encode(messages, tools, True).to(self.device)
        kwargs: dict = {"max_new_tokens": self.max_new_tokens}
        if self.temperature > 0:
            self._torch.manual_seed(self.seed)
            self.seed += 1
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=self.top_p)
        else:
            kwargs.update(do_sample=False)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        with self._torch.no_grad():
            out = self.model.generate(**enc, pad_token_id=pad, **kwargs)
        new = out[0, enc["input_ids"].shape[-1] :]
        text = self.tokenizer.decode(new, skip_special_tokens=False)
        stops = [t for t in (self.tokenizer.eos_token, "<|im_end|>", "<|endoftext|>") if t]
        return _clean_special(text, list(self.tokenizer.all_special_tokens), stops)


def _openai_messages(messages: list[dict]) -> list[dict]:
    """Our chat format -> the OpenAI wire format (call ids, arguments as JSON strings)."""
    out: list[dict] = []
    pending: list[str] = []
    n = 0
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            calls = []
            pending = []
            for c in m["tool_calls"]:
                call_id = f"call_{n}"
                n += 1
                pending.append(call_id)
                args = c["function"]["arguments"]
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": c["function"]["name"],
                            "arguments": args if isinstance(args, str) else json.dumps(args),
                        },
                    }
                )
            out.append(
                {"role": "assistant", "content": m.get("content") or "", "tool_calls": calls}
            )
        elif m["role"] == "tool":
            call_id = pending.pop(0) if pending else f"call_{n}"
            out.append({"role": "tool", "tool_call_id": call_id, "content": m["content"]})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


def reply_text(message: dict) -> str:
    """An OpenAI chat ``message`` (content, optional reasoning, tool_calls) -> raw text."""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    content = message.get("content") or ""
    text = think_block(reasoning) if reasoning and "<think>" not in content else ""
    text += content.strip()
    for call in message.get("tool_calls") or []:
        fn = call.get("function", {})
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError:
                # keep the model's malformed JSON as written: the env reports it
                text += ("\n" if text else "") + (
                    f'<tool_call>\n{{"name": {json.dumps(fn.get("name"))}, "arguments": {args}}}\n</tool_call>'
                )
                continue
        text += ("\n" if text else "") + tool_call_text(fn.get("name", ""), args)
    return text.strip()


class OpenAIBackend:
    """Any OpenAI-compatible chat endpoint (``base_url`` like ``http://host:8000/v1``).

    Sends ``messages``, ``tools``, ``temperature``, ``max_tokens`` (and ``seed``) to
    ``{base_url}/chat/completions`` through the ``openai`` SDK (``OpenAI``: retries of
    connection errors, 429 and 5xx with backoff, timeouts, the API key); the reply's
    structured ``tool_calls`` (or tool calls written in the text) become ``<tool_call>``
    blocks. Errors are one-line `MedenvError`s naming the URL.

    API key: ``api_key``, else the environment variable ``api_key_env`` (default
    ``OPENAI_API_KEY``; unset: no ``Authorization`` header, as local servers want). It is
    sent as ``Authorization: Bearer ...`` and kept out of ``repr``, errors and the event log.
    ``parallel_tool_calls`` (sent with tools; the rollout sets it to the env's
    ``parallel_calls``): False asks the server for at most one call per reply.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        parallel_tool_calls: bool = False,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = 0,
        timeout: float = 120.0,
        max_context_tokens: int = 32768,
        max_retries: int = 2,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = model
        self._api_key = api_key or os.environ.get(api_key_env) or None
        self.api_key_env = api_key_env
        self.parallel_tool_calls = bool(parallel_tool_calls)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.timeout = timeout
        self.max_context_tokens = max_context_tokens
        self.max_retries = max_retries
        self.template_kwargs: dict = {}  # sent as chat_template_kwargs (vLLM, SGLang)
        self._client = None

    def __repr__(self) -> str:
        key = f"${self.api_key_env}" if self._api_key else "none"
        return f"OpenAIBackend({self.url!r}, model={self.model!r}, api_key={key})"

    def count_tokens(self, messages: list[dict], tools: list[dict]) -> int:
        chars = sum(
            len(m.get("content") or "") + len(json.dumps(m.get("tool_calls", ""))) for m in messages
        )
        return (chars + len(json.dumps(tools))) // 4 + 4 * len(messages)

    def _client_kwargs(self) -> dict:
        kwargs = {
            "base_url": self.base_url,
            "api_key": self._api_key or "EMPTY",
            "timeout": self.timeout,
            "max_retries": self.max_retries,
        }
        return kwargs

    def _options(self) -> dict:
        """Per-request options: no key means no ``Authorization`` header (local servers)."""
        import openai

        return {} if self._api_key else {"headers": {"Authorization": openai.Omit()}}

    @property
    def client(self):
        if self._client is None:
            import openai

            self._client = openai.OpenAI(**self._client_kwargs())
        return self._client

    def _body(self, messages: list[dict], tools: list[dict]) -> dict:
        body: dict = {
            "model": self.model,
            "messages": _openai_messages(messages),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if tools:
            body["tools"] = tools
            body["parallel_tool_calls"] = self.parallel_tool_calls
        if self.seed is not None:
            body["seed"] = self.seed
        if self.template_kwargs:
            body["chat_template_kwargs"] = dict(self.template_kwargs)
        return body

    def _error(self, exc: Exception) -> MedenvError:
        import openai

        if isinstance(exc, openai.APIStatusError):
            detail = json.dumps(exc.body) if exc.body is not None else exc.message
            return MedenvError(f"{self.url} answered HTTP {exc.status_code}: {detail[:500]}")
        if isinstance(exc, openai.APIConnectionError):  # includes timeouts
            cause = exc.__cause__ or exc
            return MedenvError(f"cannot reach {self.url}: {cause}")
        return MedenvError(f"{self.url} returned an unusable reply: {exc}")

    def _text(self, response) -> str:
        if not response.choices:
            raise MedenvError(f"{self.url} returned no choices")
        return reply_text(response.choices[0].message.model_dump(exclude_none=True))

    def generate(self, messages: list[dict], tools: list[dict]) -> str:
        import openai
        from openai.types.chat import ChatCompletion

        try:
            # the SDK's request path without its per-call deep transform of the params
            # (~5 ms of CPU on an episode's long messages)
            response = self.client.post(
                "/chat/completions", body=self._body(messages, tools), cast_to=ChatCompletion,
                options=self._options(),
            )
        except (openai.OpenAIError, ValueError) as exc:
            raise self._error(exc) from None
        return self._text(response)


def _aiohttp_client():
    """The SDK's aiohttp transport (``openai[aiohttp]``) when installed, else None (the
    SDK's default httpx transport). With dozens of requests in flight, httpx's connection
    pool costs milliseconds of CPU per request; aiohttp's does not."""
    import openai

    try:
        return openai.DefaultAioHttpClient()
    except RuntimeError:  # the aiohttp extra is not installed
        return None


class AsyncOpenAIBackend(OpenAIBackend):
    """`OpenAIBackend` with ``async agenerate`` over ``openai.AsyncOpenAI``.

    One instance per in-flight episode (each keeps its own ``seed``), made with `clone`,
    all sharing one ``AsyncOpenAI`` client (one connection pool). Request bodies are the
    same as `OpenAIBackend`'s, so a server that answers deterministically gives the same
    episodes at any concurrency."""

    def __init__(self, base_url: str, model: str, *, client=None, **kwargs) -> None:
        super().__init__(base_url, model, **kwargs)
        self._client = client

    @property
    def client(self):
        if self._client is None:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(**self._client_kwargs(), http_client=_aiohttp_client())
        return self._client

    def clone(self) -> AsyncOpenAIBackend:
        """A backend for another episode: same settings and HTTP client, its own seed."""
        other = AsyncOpenAIBackend.__new__(AsyncOpenAIBackend)
        other.__dict__.update(self.__dict__)
        other._client = self.client
        return other

    def generate(self, messages: list[dict], tools: list[dict]) -> str:
        raise MedenvError("AsyncOpenAIBackend is asynchronous: await agenerate()")

    async def agenerate(self, messages: list[dict], tools: list[dict]) -> str:
        import openai
        from openai.types.chat import ChatCompletion

        try:
            response = await self.client.post(
                "/chat/completions", body=self._body(messages, tools), cast_to=ChatCompletion,
                options=self._options(),
            )
        except (openai.OpenAIError, ValueError) as exc:
            raise self._error(exc) from None
        return self._text(response)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


class VLLMBackend:
    """vLLM in this process (``LLM.chat``); GPU only, imported on construction."""

    def __init__(
        self,
        model: str,
        *,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int = 0,
        max_context_tokens: int | None = None,
        **llm_kwargs,
    ) -> None:
        try:
            from vllm import LLM, SamplingParams
        except ImportError as exc:
            raise MedenvError(
                "the vllm backend needs `pip install medenv[vllm]` and a GPU"
            ) from exc
        if max_context_tokens:
            llm_kwargs.setdefault("max_model_len", max_context_tokens)
        self.llm = LLM(model=model, seed=seed, **llm_kwargs)
        self.params = SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
        self.tokenizer = self.llm.get_tokenizer()
        self.template_kwargs: dict = {}
        self.max_context_tokens = max_context_tokens or int(
            self.llm.llm_engine.model_config.max_model_len
        )

    def count_tokens(self, messages: list[dict], tools: list[dict]) -> int:
        ids = self.tokenizer.apply_chat_template(
            messages, tools=tools or None, add_generation_prompt=True, tokenize=True,
            **self.template_kwargs,
        )
        return len(ids["input_ids"] if isinstance(ids, dict) else ids)

    def generate(self, messages: list[dict], tools: list[dict]) -> str:
        out = self.llm.chat(
            messages, self.params, tools=tools or None, use_tqdm=False,
            chat_template_kwargs=self.template_kwargs or None,
        )
        return out[0].outputs[0].text.strip()

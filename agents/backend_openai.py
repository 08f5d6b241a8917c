"""OpenAI-compatible chat endpoints as backends: `OpenAIBackend` (the ``openai`` SDK's
``OpenAI``) and `AsyncOpenAIBackend` (``AsyncOpenAI``, for many episodes in flight).

Any ``/v1/chat/completions`` server fits: ``vllm serve``, SGLang, llama.cpp server, hosted
APIs. Our chat format goes out in the wire format (`_openai_messages`: call ids, arguments
as JSON strings); the reply's structured tool calls come back as ``<tool_call>`` text
(`reply_text`), so the env parses it like any other backend's. No tokenizer here:
``count_tokens`` estimates 4 characters per token.
"""

from __future__ import annotations

import json
import os

from medenv.agents.text import think_block, tool_call_text

from medenv.errors import MedenvError


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

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

With ``guidance=True`` the agent is a *teacher* under the paper's masked trajectory
guidance: `reset(item)` reads the item's gold chain and `guidance_text` appends its relation
path, every entity masked (``[E1]``, ``[E2]``, ...; only the seed, which the question
names, is pointed to), to the question turn. The model must still find every entity with
the tools. The guidance lives only in the agent's context: the env's logged prompt never
holds it, so an SFT export of the episode trains on the plain question (the run is tagged
``guidance: True`` and rows carry the flag). Rejection sampling (`medenv.training.export`,
correct and grounded) keeps the episodes worth imitating.
"""

from __future__ import annotations

import json
from pathlib import Path

from medenv.agents.backends import Backend, OpenAIBackend, TransformersBackend, VLLMBackend
from medenv.agents.messages import (
    SYSTEM_PROMPT,
    assistant_message,
    initial_messages,
    last_call_name,
    tool_message,
)
from medenv.agents.tiny import tiny_model_path

from medenv.errors import MedenvError
from medenv.prompt import (
    PromptContract,
    load_contract,
    render_messages,
    resolve_contract,
    strip_thinking,
    truncate_observation,
)

TRUNCATED = "[earlier tool output truncated to save context]"
GUIDANCE_HEADER = "Research guidance (the path to the answer; entities are masked):"


def guidance_text(item) -> str | None:
    """The masked trajectory of ``item``'s gold chain, or None without a chain.

    One line per hop: ``[E<i>] --relation--> [E<i+1>]`` (``<--relation--`` when the chain
    walks the KG edge backwards), entity types and names never shown; ``[E0]`` is "the
    entity the question names", the last one "the answer".
    """
    hops = getattr(item, "hops", ()) or ()
    if not hops or len(getattr(item, "chain", ()) or ()) != len(hops) + 1:
        return None
    lines = [GUIDANCE_HEADER]
    for i, hop in enumerate(hops):
        rel = hop.relation.replace("_", " ")
        arrow = f"<--{rel}--" if hop.inverse else f"--{rel}-->"
        lines.append(f"{i + 1}. [E{i}] {arrow} [E{i + 1}]")
    lines.append(
        f"[E0] is an entity the question names; [E{len(hops)}] is the answer. Find each "
        "masked entity with the tools, one link at a time; do not guess names."
    )
    return "\n".join(lines)


class LLMAgent:
    """A model behind a `Backend`; ``reserve`` tokens are kept free for the reply.

    ``contract`` (`medenv.prompt.PromptContract`) says how the conversation is rendered:
    system turn, tool schemas in the template or not, tool observations cut or not. Without
    one, the default contract with ``system_prompt`` as the system turn.
    """

    name = "llm"

    def __init__(
        self,
        backend: Backend,
        *,
        system_prompt: str | None = SYSTEM_PROMPT,
        reserve: int | None = None,
        keep_chars: int = 200,
        guidance: bool = False,
        contract: PromptContract | None = None,
    ) -> None:
        self.backend = backend
        self.contract = contract or PromptContract(system_prompt=system_prompt)
        if self.contract.template_kwargs():
            backend.template_kwargs = self.contract.template_kwargs()
        self.guidance = guidance
        self.guidance_text: str | None = None
        self.system_prompt = self.contract.system_prompt
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
        self.guidance_text = guidance_text(item) if self.guidance and item is not None else None
        if self.guidance and self.guidance_text is None:
            raise MedenvError(
                "masked trajectory guidance needs the episode's QAItem with its gold chain "
                f"(got {'no item' if item is None else repr(getattr(item, 'id', item))})"
            )
        if seed is not None and hasattr(self.backend, "seed"):
            self.backend.seed = seed

    def act(self, observation: str, info: dict) -> str:
        self.observe(observation, info)
        text = self.backend.generate(self.messages, self.tools)
        self.messages.append(self._turn(text))
        return text

    async def aact(self, observation: str, info: dict) -> str:
        """`act` for a backend with ``async agenerate`` (`medenv.agents.backends.AsyncOpenAIBackend`):
        many agents share one event loop, each awaiting its own request."""
        self.observe(observation, info)
        text = await self.backend.agenerate(self.messages, self.tools)
        self.messages.append(self._turn(text))
        return text

    def _turn(self, text: str) -> dict:
        """The assistant turn kept in the context, rendered by the contract."""
        message = assistant_message(text)
        if not self.contract.keep_thinking:
            message = {**message, "content": strip_thinking(message.get("content") or "")}
        return message

    def observe(self, observation: str, info: dict) -> None:
        """Add the env's observation to the conversation and fit it to the context."""
        if not self.messages:
            tools = info.get("tools") or "[]"
            tools = json.loads(tools) if isinstance(tools, str) else list(tools)
            prompt = observation
            if self.guidance_text:
                prompt = f"{observation}\n\n{self.guidance_text}"
            self.messages, self.tools = render_messages(
                initial_messages(prompt, None), tools, self.contract
            )
        else:
            name = last_call_name(self.messages)
            if name is not None:
                cut = truncate_observation(observation, self.contract.max_tool_chars)
                self.messages.append(tool_message(name, cut))
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


def model_folder(spec: str) -> str | None:
    """The local folder a ``--model`` spec loads (``tiny`` resolved), or None (a server,
    a hub id): where a saved prompt contract can be."""
    kind, sep, rest = spec.partition(":")
    if sep and kind in ("openai", "vllm"):
        return rest if kind == "vllm" and Path(rest).is_dir() else None
    path = rest if sep and kind == "transformers" else spec
    if path == "tiny":
        return str(tiny_model_path())
    return path if Path(path).is_dir() else None


def model_contract(spec: str, asked: dict | None = None, adapt: bool = False) -> PromptContract:
    """The prompt contract for the model ``spec``: its saved one (`medenv.prompt`) merged
    with the ``asked`` parts; a differing part is refused unless ``adapt``."""
    folder = model_folder(spec)
    return resolve_contract(
        load_contract(folder), dict(asked or {}), adapt=adapt, model=f"model {spec!r}"
    )


def make_backend(spec: str, **kwargs) -> Backend:
    """Build a backend from ``"transformers:PATH"``, ``"openai:URL#MODEL"`` or ``"vllm:MODEL"``.

    A bare path or hub id means ``transformers``; ``tiny`` (or ``transformers:tiny``) is the
    offline tiny model of `medenv.agents.tiny`.
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
            rest = str(tiny_model_path())
        return TransformersBackend(rest, **kwargs)
    if kind == "vllm":
        return VLLMBackend(rest, **kwargs)
    url, _, model = rest.partition("#")
    if not model:
        raise MedenvError(f"openai backend spec must be 'openai:URL#MODEL', got {spec!r}")
    return OpenAIBackend(url, model, **kwargs)

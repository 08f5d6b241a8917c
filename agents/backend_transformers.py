"""A local Hugging Face causal LM as a backend (`TransformersBackend`), and the checks every
loader of a local model folder shares (`check_model_path`, `load_error`: the SFT trainer's too).

The reply is decoded with special tokens kept, cut at the first end-of-turn token, and
stripped of every other special token except the tags the env reads (``<tool_call>``,
``<think>``, ``<answer>``), so tool calls come out the Hermes/Qwen way.
"""

from __future__ import annotations

import os
from pathlib import Path

from medenv.agents.threads import set_threads

from medenv.errors import MedenvError


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
    if not could_be_hub_id(model_path):
        raise MedenvError(f"no model folder at {model_path}")
    if hub_offline() and not in_hub_cache(model_path):  # the loader's answer, in 5 s
        raise MedenvError(
            f"cannot load model {model_path!r}: not a model folder, not in the Hugging Face "
            "cache, and the hub is offline (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set): give a "
            "model folder, or unset it to download the model"
        )


def could_be_hub_id(name: str) -> bool:
    """Whether ``name`` could name a hub model (``ORG/NAME`` or ``NAME``) rather than only a
    path: not absolute, not ``./`` or ``~``, at most one ``/``."""
    return not name.startswith(("/", ".", "~")) and name.count("/") <= 1


_TRUE = ("1", "true", "yes", "on")


def hub_offline() -> bool:
    """Whether the Hugging Face hub is switched off (``HF_HUB_OFFLINE`` or
    ``TRANSFORMERS_OFFLINE`` set true): a model not in the cache cannot load."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))  # fmt: skip


def in_hub_cache(model_id: str) -> bool:
    """Whether the hub model ``model_id`` is in the local Hugging Face cache (its
    ``config.json`` is); a name that cannot be a hub id is not. Reads the cache only."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - comes with transformers
        return False
    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # HFValidationError: not a repo id
        return False


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


# Sampling keeps the 50 most likely tokens (transformers' global default, which the llm agent
# sampled with before it was a setting): `medenv train pool` measures pass rates with it and
# `medenv train grpo` samples the same way (TRL's own default, 0, samples the whole
# vocabulary: for the `small` model a tail of 36 k entity tokens).
SAMPLING_TOP_K = 50


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
        top_k: int = SAMPLING_TOP_K,
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
        self.top_k = top_k
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
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=self.top_p,
                          top_k=self.top_k)  # fmt: skip
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

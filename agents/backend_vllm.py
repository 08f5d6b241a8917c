"""vLLM in this process as a backend (`VLLMBackend`: ``LLM.chat``); GPU only, imported on
construction (extra ``medenv[vllm]``)."""

from __future__ import annotations

from medenv.errors import MedenvError


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

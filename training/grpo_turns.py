"""GRPO episodes handled as evaluation handles them: a malformed turn is a penalised step.

TRL 1.16's tool loop (``GRPOTrainer._tool_call_loop``) keeps a rollout going only while
each reply parses to a tool call, so a rollout ended at its first malformed turn, while
``medenv rollout`` (evaluation) gives the env's format-error message back and goes on
until the step budget. `trainer_class("continue")` returns a ``GRPOTrainer`` subclass that
routes every reply without a parsed tool call and without an ``<answer>`` through the env
(``MedResearchTools._step_text``, a private method, never offered to the model as a tool):
the env steps the raw text exactly as in evaluation (a format error: penalised, logged,
the episode goes on) and its message comes back as a user turn, as `medenv.agents.llm.LLMAgent`
renders it. A reply with ``<answer>`` ends the rollout (the reward functions step it).
``"end"`` keeps TRL's behaviour (the malformed reply is stepped, then the episode ends).

Relies on TRL 1.16 internals (``_generate``, ``_tool_call_loop``, ``_sync_tool_dicts``,
``_get_tool_suffix_ids`` and the module-level ``parse_response``), like the template swap.
"""

from __future__ import annotations

from medenv.agents.text import split_action

from medenv.errors import MedenvError

STEP_TOOL = "_step_text"
MODES = ("continue", "end")


def continuing_parse(parse, tokenizer_of=None):
    """``parse_response`` that gives a malformed reply a call of `STEP_TOOL` (its raw text)."""

    def wrapped(tokenizer, ids, prefix=None, tools=None):
        message = parse(tokenizer, ids, prefix=prefix, tools=tools)
        if not ids or message.get("tool_calls"):
            return message
        text = tokenizer.decode(ids, skip_special_tokens=False)
        eos = tokenizer.eos_token
        if eos and eos in text:
            text = text[: text.index(eos)]
        if split_action(text)[2] is not None:  # a final answer: the rollout ends here
            return message
        call = {"type": "function", "function": {"name": STEP_TOOL, "arguments": {"text": text}}}
        return {**message, "tool_calls": [call]}

    return wrapped


def trainer_class(malformed: str = "continue"):
    """TRL's ``GRPOTrainer`` (``"end"``) or the subclass described in the module docstring."""
    import trl.trainer.grpo_trainer as gt
    from trl import GRPOTrainer

    if malformed not in MODES:
        raise MedenvError(f"malformed_turn must be one of {MODES}, got {malformed!r}")
    if malformed == "end":
        return GRPOTrainer

    class TurnGRPOTrainer(GRPOTrainer):
        def _generate(self, prompts):
            original = gt.parse_response
            gt.parse_response = continuing_parse(original)
            try:
                return super()._generate(prompts)
            finally:
                gt.parse_response = original

        def _tool_call_loop(self, *args, **kwargs):
            for i, tools in enumerate(self._sync_tool_dicts):
                tools[STEP_TOOL] = self.environments[i]._step_text
            return super()._tool_call_loop(*args, **kwargs)

        def _get_tool_suffix_ids(self, tool_messages):
            if tool_messages[0]["name"] != STEP_TOOL:
                return super()._get_tool_suffix_ids(tool_messages)
            # the env's reply to a malformed turn: a user turn, as the LLM agent renders it
            text = "\n".join(str(m["content"]) for m in tool_messages)
            messages = [
                {"role": "user", "content": "dummy"},
                {"role": "assistant", "content": "dummy"},
                {"role": "user", "content": text},
            ]
            ids = self.processing_class.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True,
                chat_template=self.chat_template, return_dict=False, **self.chat_template_kwargs,
            )  # fmt: skip
            eos = [i for i, t in enumerate(ids) if t == self._tokenizer.eos_token_id]
            if len(eos) < 3:
                raise MedenvError("the chat template does not end turns with the EOS token")
            return ids[eos[1] + 1 :]

    return TurnGRPOTrainer

"""The prompt contract: how a conversation is rendered for a model, as one object.

A `PromptContract` holds every choice that changes the tokens a model reads:

- ``system_prompt``: the system turn's text (None: no system turn);
- ``template_tools``: whether the chat template renders the tool schemas (the env's own
  prompt lists the tools either way);
- ``max_tool_chars``: tool observations cut to this many characters (None: whole);
- ``enable_thinking``: passed to the chat template when set (Qwen3-style templates);
- ``keep_thinking``: False drops the ``<think>...</think>`` text of past assistant turns
  (a small model then learns the tool-call format alone; it may still think when asked);
- ``task_prompt``: ``"full"`` renders the env's first user turn whole (task text, tool
  list, question); ``"question"`` keeps only its ``Question: ...`` part (a small trained
  model has learned the format; the boilerplate would be most of its sequence);
- ``chat_template_sha256``: the hash of the chat template the model was trained with
  (recorded; a checkpoint's tokenizer carries the template itself).

medenv saves the contract next to every checkpoint it trains (`CONTRACT_FILE`, written by
``medenv train sft|grpo``) and reads it back wherever it renders for that model:
``medenv rollout --agent llm``, ``medenv train grpo`` and ``medenv export --tokenizer``.
`resolve_contract` merges a saved contract with the parts a user asked for: a part that
differs is refused with one line naming it, unless the user asks to adapt
(``--adapt-prompt``); a model without a saved contract takes the asked parts over the
defaults (the flags exist for models medenv did not train).

`render_messages` is the one rendering rule: SFT rows (`medenv.training.sft_rows.prepare_row`), the
LLM agent's context and GRPO's prompts all go through it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import msgspec

from medenv.agents.messages import SYSTEM_PROMPT
from medenv.errors import DataError, MedenvError
from medenv.paths import write_file

CONTRACT_FILE = "medenv_prompt.json"
PARTS = ("system_prompt", "template_tools", "max_tool_chars", "enable_thinking", "keep_thinking",
         "task_prompt")  # fmt: skip
TASK_PROMPTS = ("full", "question")
QUESTION_MARK = "Question:"
_THINK = re.compile(r"<think>.*?</think>\s*", re.S)
CUT_MARK = "\n[...cut]"


class PromptContract(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a conversation is rendered for a model (see the module docstring)."""

    system_prompt: str | None = SYSTEM_PROMPT
    template_tools: bool = True
    max_tool_chars: int | None = None
    enable_thinking: bool | None = None
    keep_thinking: bool = True
    task_prompt: str = "full"
    chat_template_sha256: str | None = None

    def check(self) -> PromptContract:
        chars = self.max_tool_chars
        if chars is not None and chars < 0:
            raise MedenvError(f"--max-tool-chars must be >= 0, got {chars}")
        if self.task_prompt not in TASK_PROMPTS:
            raise MedenvError(
                f"task_prompt must be one of {TASK_PROMPTS}, got {self.task_prompt!r}"
            )
        return self

    def template_kwargs(self) -> dict:
        """Extra keyword arguments for ``apply_chat_template`` (only the parts that are set)."""
        return {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}

    def describe(self) -> str:
        """One line: the parts, for logs and error messages."""
        system = "none" if self.system_prompt is None else f"{len(self.system_prompt)} chars"
        return (
            f"system prompt {system}, template tools {'on' if self.template_tools else 'off'}, "
            f"tool output cut {self.max_tool_chars if self.max_tool_chars is not None else 'off'}"
            f", thinking {_show(self.enable_thinking)}"
            f", think text {'kept' if self.keep_thinking else 'dropped'}"
            f", task prompt {self.task_prompt}"
        )


def _show(value: Any) -> str:
    if value is None:
        return "template default"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        return f"{value[:40]!r}{'...' if len(value) > 40 else ''}"
    return str(value)


def truncate_observation(text: str, max_chars: int | None) -> str:
    """``text`` cut to ``max_chars`` characters (a marker says it was cut); None keeps it."""
    if max_chars is None or len(text) <= max_chars:
        return text
    return text[:max_chars].rstrip() + CUT_MARK


def template_hash(template: str | None) -> str | None:
    """First 16 hex digits of the SHA-256 of a chat template (None without one)."""
    return hashlib.sha256(template.encode()).hexdigest()[:16] if template else None


def question_only(content: str) -> str:
    """The ``Question: ...`` part of an env's task prompt (from the last ``Question:``
    marker on); the whole text when it has no marker."""
    at = content.rfind(QUESTION_MARK)
    return content if at < 0 else content[at:]


def strip_thinking(content: str) -> str:
    """``content`` without its ``<think>...</think>`` blocks."""
    return _THINK.sub("", content)


def render_messages(
    messages: list[dict], tools: list[dict] | None, contract: PromptContract
) -> tuple[list[dict], list[dict]]:
    """(messages, tools) as ``contract`` renders them.

    The system turn becomes ``contract.system_prompt`` (inserted first when missing,
    dropped when None); each ``tool`` turn is cut to ``max_tool_chars``; assistant turns
    lose their think text unless ``keep_thinking``; the first user turn keeps only its
    question when ``task_prompt == "question"``; ``tools`` is emptied when the template must
    not render them. Other turns are unchanged.
    """
    out = []
    if contract.system_prompt is not None:
        out.append({"role": "system", "content": contract.system_prompt})
    first_user = True
    for msg in messages:
        if msg["role"] == "system":
            continue
        if msg["role"] == "user" and first_user:
            first_user = False
            if contract.task_prompt == "question":
                msg = {**msg, "content": question_only(msg.get("content") or "")}
        if msg["role"] == "tool":
            content = truncate_observation(msg.get("content") or "", contract.max_tool_chars)
            msg = {**msg, "content": content}
        elif msg["role"] == "assistant" and not contract.keep_thinking:
            msg = {**msg, "content": strip_thinking(msg.get("content") or "")}
        out.append(msg)
    return out, (list(tools or []) if contract.template_tools else [])


def contract_path(model: str | Path) -> Path:
    return Path(model) / CONTRACT_FILE


def save_contract(folder: str | Path, contract: PromptContract) -> Path:
    path = contract_path(folder)
    write_file(path, msgspec.json.format(msgspec.json.encode(contract), indent=2) + b"\n")
    return path


def load_contract(model: str | Path | None) -> PromptContract | None:
    """The contract saved with the model folder ``model``; None for a model without one
    (a hub id, a model medenv did not train). A broken file is a `DataError` naming it."""
    if model is None:
        return None
    path = contract_path(model)
    if not path.is_file():
        return None
    try:
        return msgspec.json.decode(path.read_bytes(), type=PromptContract).check()
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DataError(path, f"not a prompt contract: {exc}") from None


def resolve_contract(
    saved: PromptContract | None,
    asked: dict[str, Any],
    *,
    adapt: bool = False,
    model: str = "the model",
) -> PromptContract:
    """The contract to render with: ``saved`` (a checkpoint's) with the ``asked`` parts
    (only those a user set; keys in `PARTS`).

    Without a saved contract the asked parts override the defaults. With one, an asked
    part that differs raises `MedenvError` (one line naming the part, both values and the
    way out) unless ``adapt``, which renders as asked.
    """
    unknown = sorted(set(asked) - set(PARTS))
    if unknown:
        raise MedenvError(f"unknown prompt contract parts {unknown}; known: {list(PARTS)}")
    if saved is None:
        return PromptContract(**asked).check()
    differ = [k for k, v in asked.items() if v != getattr(saved, k)]
    if differ and not adapt:
        k = differ[0]
        raise MedenvError(
            f"{model} was trained with {k} = {_show(getattr(saved, k))} but "
            f"{_show(asked[k])} was asked: drop the flag to render as trained, or pass "
            "--adapt-prompt to render as asked"
        )
    return msgspec.structs.replace(saved, **{k: asked[k] for k in differ}).check()


def asked_parts(
    *,
    no_system: bool = False,
    system_prompt_file: str | None = None,
    template_tools: bool | None = None,
    max_tool_chars: int | None = None,
    thinking: str | None = None,
    no_thinking_text: bool | None = None,
    question_only: bool | None = None,
) -> dict[str, Any]:
    """The contract parts a command line set (the flags of `add_prompt_arguments`)."""
    asked: dict[str, Any] = {}
    if no_system and system_prompt_file:
        raise MedenvError("--no-system and --system-prompt-file exclude each other")
    if no_system:
        asked["system_prompt"] = None
    if system_prompt_file:
        path = Path(system_prompt_file)
        if not path.is_file():
            raise DataError(path, "system prompt file not found")
        try:
            asked["system_prompt"] = path.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            raise DataError(path, "not valid UTF-8 text") from None
    if template_tools is not None:
        asked["template_tools"] = template_tools
    if max_tool_chars is not None:
        if max_tool_chars < 0:
            raise MedenvError(f"--max-tool-chars must be >= 0, got {max_tool_chars}")
        asked["max_tool_chars"] = max_tool_chars
    if thinking is not None:
        asked["enable_thinking"] = thinking == "on"
    if no_thinking_text:
        asked["keep_thinking"] = False
    if question_only:
        asked["task_prompt"] = "question"
    return asked


def add_prompt_arguments(p, *, tool_chars: bool = True) -> None:
    """The prompt-contract flags (``--no-system``, ``--system-prompt-file``,
    ``--no-template-tools``, ``--max-tool-chars``, ``--thinking``, ``--no-thinking-text``,
    ``--question-only``, ``--adapt-prompt``)."""
    p.add_argument("--no-system", action="store_true", default=None,
                   help="prompt contract: no system turn")  # fmt: skip
    p.add_argument("--system-prompt-file", default=None, metavar="PATH",
                   help="prompt contract: the system turn's text, from a file")  # fmt: skip
    p.add_argument("--no-template-tools", action="store_const", const=False,
                   dest="template_tools", default=None,
                   help="prompt contract: the chat template does not render the tool schemas")  # fmt: skip
    if tool_chars:
        p.add_argument("--max-tool-chars", type=int, default=None, dest="max_tool_chars",
                       help="prompt contract: cut tool observations to this many characters")  # fmt: skip
    p.add_argument("--thinking", choices=("on", "off"), default=None,
                   help="prompt contract: enable_thinking for the chat template")  # fmt: skip
    p.add_argument("--no-thinking-text", action="store_true", default=None,
                   help="prompt contract: past assistant turns without their <think> text")  # fmt: skip
    p.add_argument("--question-only", action="store_true", default=None,
                   help="prompt contract: the first user turn keeps only its 'Question: ...' "
                        "part (not the task text and tool list)")  # fmt: skip
    p.add_argument("--adapt-prompt", action="store_true", default=None,
                   help="render as the flags ask even where the model's saved contract differs")  # fmt: skip


def parts_from_args(args) -> dict[str, Any]:
    """`asked_parts` from an argparse namespace built with `add_prompt_arguments`."""
    return asked_parts(
        no_system=bool(getattr(args, "no_system", None)),
        system_prompt_file=getattr(args, "system_prompt_file", None),
        template_tools=getattr(args, "template_tools", None),
        max_tool_chars=getattr(args, "max_tool_chars", None),
        thinking=getattr(args, "thinking", None),
        no_thinking_text=getattr(args, "no_thinking_text", None),
        question_only=getattr(args, "question_only", None),
    )

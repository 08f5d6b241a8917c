"""Online RL with TRL's ``GRPOTrainer`` against `MedResearchEnv` (``environment_factory``).

How TRL 1.16 drives it (read from ``trl/trainer/grpo_trainer.py``):
- ``environment_factory`` is called once per concurrent rollout (instances are pooled and
  reset between batches); every public method other than ``reset``/``get_reward`` becomes a
  tool, its schema taken from the type hints and Google-style docstring.
- ``reset(**row)`` receives the dataset row; the string it returns is appended to the
  (empty) user message, so the env's own prompt is what the model reads.
- Tool calls are parsed with the tokenizer's response template (TRL sets the Qwen3 one for
  the tiny model's template), executed, and their results fed back as ``tool`` turns.
- Reward functions receive ``environments=`` (one per completion).

The adapter is `medenv.trl.MedResearchTools` (tools generated from the tool registry): each
instance owns one `MedResearchEnv` (its own event store shard), tags every episode with
``{"agent": "grpo", "training_step": N}``, and turns tool calls into env steps. When a
rollout ends without an ``answer`` call, its last message is stepped as the final action
(so ``<answer>X</answer>`` in text counts, as in the env).
The reward terms (`medenv.reward.DEFAULT_TERMS`: accuracy, format, efficiency and
evidence_recall, the last at weight 0, a logged metric) are separate reward functions whose
weights are the config's ``reward_<term>`` fields (``GRPOConfig.reward_weights``); TRL logs each one per step
(``rewards/<name>/mean``), and the env logs each episode's ``reward_assigned`` event.
``max_tool_chars`` cuts the observations the policy reads, like the SFT option of the same
name (the event store keeps them whole). Generation: transformers on CPU; ``use_vllm=True`` switches to vLLM colocate mode on GPU.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

import msgspec
from medenv.agents.backend_transformers import SAMPLING_TOP_K
from medenv.agents.copy_head import save_entity_rows
from medenv.agents.llm import model_contract
from medenv.agents.threads import check_threads, set_threads
from medenv.training.config import check_common, config_hash, finite, require
from medenv.training.grpo_cpu import labelled_positions_only, sampled_support_logprobs
from medenv.training.grpo_pool import load_pool
from medenv.training.grpo_turns import MODES, trainer_class
from medenv.training.lm import (
    load_model_and_tokenizer,
    lora_config,
    model_entity_rows,
    peak_memory_mb,
    recompute_kwarg,
    use_bf16,
)

from medenv.curriculum import parse_hops, select_hops
from medenv.errors import MedenvError
from medenv.events.store import connect
from medenv.paths import check_out_file, writing_into
from medenv.prompt import CONTRACT_FILE, PromptContract, asked_parts, save_contract
from medenv.questions import load_questions
from medenv.reward import DEFAULT_TERMS
from medenv.trl import COMPONENTS, MedResearchTools, reward_functions

# one ``reward_<term>`` weight per built-in reward term, its default weight as default
_RewardWeightFields = make_dataclass(
    "_RewardWeightFields",
    [(f"reward_{t.name}", float, field(default=t.weight)) for t in DEFAULT_TERMS],
)


# TRL 1.16's token-level loss aggregations (sequence-level ones need other settings)
LOSS_TYPES = ("dapo", "grpo", "dr_grpo", "bnpo")
# where tokens are scored: the whole vocabulary (TRL) or the top-k support generation samples
SUPPORTS = ("full", "sampled")


@dataclass
class GRPOTrainConfig(_RewardWeightFields):
    """Settings of one GRPO run (defaults: a short CPU-friendly run)."""

    qa: str | None = None  # QA set folder/file; None = the default set
    out: str = "out/grpo"
    model: str = "tiny"
    db: str | None = None  # event store; None = <out>/events.duckdb
    split: str | None = "train"
    max_questions: int | None = None
    # a pool file of `medenv train pool` (`medenv.training.grpo_pool`): train only on its
    # selected questions (those the start model answers sometimes)
    pool: str | None = None
    max_steps: int = 10
    # None: `default_learning_rate` (1e-6 for real models; 5e-6 under 50M parameters)
    learning_rate: float | None = None
    num_generations: int = 4
    batch_size: int = 4  # completions per device step (a multiple of num_generations)
    gradient_accumulation_steps: int = 1
    max_completion_length: int = 512
    # None: env_max_steps - 1 (the env's step budget; the last reply is stepped by the reward)
    max_tool_calling_iterations: int | None = None
    env_max_steps: int = 12  # as `medenv rollout --max-steps` (evaluation) by default
    # "continue": a malformed turn is a penalised env step and the episode goes on, as in
    # evaluation (`medenv.training.grpo_turns`); "end": TRL's behaviour (the rollout stops there)
    malformed_turn: str = "continue"
    hops: str | None = None  # curriculum: only questions of these hop counts ("1" or "1,2")
    # The prompt contract (`medenv.prompt`): None = the start model's saved contract, else
    # the default; a set part that differs from the saved one needs adapt_prompt.
    max_tool_chars: int | None = None  # cut observations the policy reads (as SFT's option)
    template_tools: bool | None = None  # False: prompts without the template's tool block
    no_system: bool | None = None  # True: no system turn
    system_prompt_file: str | None = None
    thinking: str | None = None  # "on" / "off": enable_thinking for the template
    no_thinking_text: bool | None = None  # True: past assistant turns without <think> text
    adapt_prompt: bool = False
    threads: int | None = None  # torch CPU threads (None: `medenv.agents.threads.default_threads`)
    temperature: float = 1.0
    top_k: int = SAMPLING_TOP_K  # as the llm agent samples (the pool is measured so)
    beta: float = 0.0  # KL coefficient (0: no reference model)
    # "full": log-probabilities over the whole vocabulary (TRL's); "sampled": under the top-k
    # distribution generation samples from (`medenv.training.grpo_cpu.sampled_support_logprobs`)
    logprob_support: str = "full"
    # TRL's loss aggregation: "dapo" (TRL's default: over all tokens of the batch), "grpo"
    # (each completion's mean: a short completion's tokens weigh more), "dr_grpo", "bnpo"
    loss_type: str = "dapo"
    gradient_checkpointing: bool | None = None  # None: only for models of >= 50M parameters
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str = "all-linear"
    use_vllm: bool = False
    vllm_gpu_memory_utilization: float = 0.3
    backend: str = "tantivy"
    source: str = "hpo"
    seed: int = 0
    logging_steps: int = 1
    save: bool = True
    progress: bool = True

    def check(self) -> GRPOTrainConfig:
        """Raise `MedenvError` naming the first bad setting (before any model is loaded)."""
        check_common(self)
        require(self.max_steps >= 1, f"--max-steps must be at least 1, got {self.max_steps}")
        require(
            self.num_generations >= 2,
            f"--num-generations must be at least 2 (GRPO compares a group of completions), "
            f"got {self.num_generations}",
        )
        require(
            self.batch_size % self.num_generations == 0,
            f"batch_size ({self.batch_size}) must be a multiple of num_generations "
            f"({self.num_generations})",
        )
        require(
            self.max_questions is None or self.max_questions >= 1,
            f"--max-questions must be at least 1, got {self.max_questions}",
        )
        require(
            self.max_completion_length >= 1,
            f"--max-completion-length must be at least 1, got {self.max_completion_length}",
        )
        iters = self.max_tool_calling_iterations
        require(
            iters is None or iters >= 0,
            f"--max-tool-calling-iterations must be >= 0, got {iters}",
        )
        require(
            self.malformed_turn in MODES,
            f"malformed_turn must be one of {MODES}, got {self.malformed_turn!r}",
        )
        parse_hops(self.hops)
        check_threads(self.threads)
        require(
            self.env_max_steps >= 1, f"env_max_steps must be at least 1, got {self.env_max_steps}"
        )
        t = self.temperature
        require(finite(t) and t > 0, f"--temperature must be > 0, got {t}")
        require(self.top_k >= 0, f"--top-k must be >= 0 (0: no cut), got {self.top_k}")
        require(finite(self.beta) and self.beta >= 0, f"beta must be >= 0, got {self.beta}")
        require(
            self.loss_type in LOSS_TYPES,
            f"--loss-type must be one of {LOSS_TYPES}, got {self.loss_type!r}",
        )
        require(
            self.logprob_support in SUPPORTS,
            f"--logprob-support must be one of {SUPPORTS}, got {self.logprob_support!r}",
        )
        for name in (f"reward_{c}" for c in COMPONENTS):
            value = getattr(self, name)
            require(finite(value), f"{name} must be a finite number, got {value}")
        mem = self.vllm_gpu_memory_utilization
        require(0 < mem <= 1, f"vllm_gpu_memory_utilization must be in (0, 1], got {mem}")
        if self.db is not None:
            check_out_file(self.db, "--db")
        if self.pool is not None:
            load_pool(self.pool)  # a missing or malformed pool file fails here
        return self


class GRPOResult(msgspec.Struct, frozen=True):
    out: str
    db: str
    run_ids: list[str]
    steps: int
    seconds: float
    seconds_per_step: float
    peak_memory_mb: float
    rewards: list[dict]  # per training step: component means/stds and total reward
    learning_rate: float  # as used (the config's, or `default_learning_rate`)
    threads: int
    config_hash: str


class StepClock:
    """The trainer's current global step, shared with the env adapters."""

    def __init__(self) -> None:
        self.step = 0


def prompt_rows(
    config: GRPOTrainConfig, contract: PromptContract | None = None, items: list | None = None
) -> list[dict]:
    """One row per question: the contract's system turn, then an empty user turn (the
    env's reset supplies the prompt). ``items``: already loaded QA items."""
    system = [] if contract is None or contract.system_prompt is None else [
        {"role": "system", "content": contract.system_prompt}
    ]  # fmt: skip
    items = items if items is not None else grpo_items(config)
    return [{"prompt": [*system, {"role": "user", "content": ""}], "id": i.id} for i in items]


def grpo_items(config: GRPOTrainConfig, items: list | None = None) -> list:
    """The QA items GRPO trains on: ``split``, ``hops``, the ``pool``'s selected ids (in
    its order) if set, first ``max_questions`` (by id without a pool). ``items``: already
    loaded QA items (their split is not filtered)."""
    if items is None:
        items = load_questions(config.qa, config.source)
        if config.split:
            chosen = [i for i in items if i.split == config.split]
            items = chosen or items
    items = select_hops(sorted(items, key=lambda i: i.id), parse_hops(config.hops))
    if config.pool:
        items = pool_items(items, load_pool(config.pool).selected, config.pool)
    items = items[: config.max_questions]
    if not items:
        raise MedenvError(f"no questions in {config.qa or 'the default QA set'}")
    return items


def pool_items(items: list, selected: list[str], where: str) -> list:
    """The items of the ids ``selected`` (a pool's), in that order; an empty pool or an id
    not among ``items`` is one clear error."""
    by_id = {i.id: i for i in items}
    missing = [q for q in selected if q not in by_id]
    if not selected or missing:
        raise MedenvError(
            f"pool {where}: " + (f"question {missing[0]!r} is not in the GRPO questions (another "
            "QA set, split or hop count?)" if missing else "no question selected (the model "
            "answered every candidate always or never: draw more --candidates)")
        )  # fmt: skip
    return [by_id[q] for q in selected]


def grpo_contract(config: GRPOTrainConfig) -> PromptContract:
    """The prompt contract GRPO renders with: the start model's saved one (an SFT
    checkpoint's) with the parts the config sets; a differing part needs ``adapt_prompt``."""
    asked = asked_parts(
        no_system=bool(config.no_system),
        system_prompt_file=config.system_prompt_file,
        template_tools=config.template_tools,
        max_tool_chars=config.max_tool_chars,
        thinking=config.thinking,
        no_thinking_text=config.no_thinking_text,
    )
    return model_contract(config.model, asked, config.adapt_prompt)


def default_learning_rate(model: Any) -> float:
    """1e-6 for real models (billions of parameters: the usual GRPO range is 1e-6..3e-6);
    5e-6 for small models such as `small` and `tiny` (under 50M parameters). Measured with
    `make learn` (issue 21), 16 steps from the 200-step SFT `small` model, whose rewards vary
    only by the format term (accuracy 0): lr 2e-4 moved its weights 1.13% and took its
    held-out parseable turns from 95.1% to 48.8%, 5e-5 / 2e-5 / 1e-5 to 89.4% / 91.0% /
    92.6%; 5e-6 (0.035%) is the largest measured lr that left the evaluation no worse than
    SFT's. Pass a larger lr (``--lr``) when the reward has an accuracy signal to follow."""
    n = sum(p.numel() for p in model.parameters())
    return 5e-6 if n < 50_000_000 else 1e-6


def _step_callback(clock: StepClock):
    from transformers import TrainerCallback

    class _Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            clock.step = int(state.global_step)

    return _Clock()


def _reward_log(history: list[dict]) -> list[dict]:
    rows = []
    for entry in history:
        if "reward" not in entry:
            continue
        row = {"step": int(entry.get("step", len(rows) + 1)), "reward": float(entry["reward"])}
        for c in COMPONENTS:
            for stat in ("mean", "std"):
                key = f"rewards/{c}/{stat}"
                if key in entry:
                    row[f"{c}_{stat}"] = float(entry[key])
        if "entropy" in entry:  # of the distribution the completion tokens are scored under
            row["entropy"] = float(entry["entropy"])
        rows.append(row)
    return rows


def template_without_tools(template: str) -> str:
    """The Qwen3-style ``template`` with its tool-schema system block switched off.

    For policies SFT-trained with ``template_tools=False`` (the env prompt lists the tools),
    so GRPO prompts render as their training rows did. Tool calls are still parsed (the
    response schema is separate) and executed. Relies on TRL 1.16 rendering prompts with
    ``GRPOTrainer.chat_template`` when set.
    """
    head = "{%- if tools %}"
    if head not in template:
        raise MedenvError("template_tools=False needs a Qwen3-style template with a tools block")
    return template.replace(head, "{%- if false %}", 1)


def recompute_activations(config: GRPOTrainConfig, model: Any) -> bool:
    """Whether TRL recomputes activations (its default, saving memory): as configured, else
    only for models of 50M parameters or more (a small model does not need the memory and
    pays about a third more time per step)."""
    if config.gradient_checkpointing is not None:
        return bool(config.gradient_checkpointing)
    return sum(p.numel() for p in model.parameters()) >= 50_000_000


def train_grpo(
    config: GRPOTrainConfig, world: Any = None, qa_items: list | None = None
) -> GRPOResult:
    """Run GRPO on ``config.model`` against the env; events go to ``config.db``.

    ``world``/``qa_items``: an already built `World` / QA items (tests, custom graphs);
    by default the env loads the default world and ``config.qa``.
    """
    config.check()  # bad settings fail before the QA set, world and model are loaded
    out = Path(config.out)
    db = Path(config.db) if config.db else out / "events.duckdb"
    if db.exists():  # a file that is not an event store fails now, not after the model loads
        connect(db).close()
    contract = grpo_contract(config)
    if qa_items is not None:
        items = grpo_items(config, list(qa_items))
        qa: Any = items
    else:
        items = grpo_items(config)
        qa = config.qa
    rows = prompt_rows(config, contract, items)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from datasets import Dataset  # seconds to import: after the QA set is known to be good
    from trl import GRPOConfig

    threads = set_threads(config.threads)  # imports torch
    clock = StepClock()
    adapters: list[MedResearchTools] = []
    weights = {c: getattr(config, f"reward_{c}") for c in COMPONENTS}

    def factory() -> MedResearchTools:
        adapter = MedResearchTools(
            max_tool_chars=contract.max_tool_chars,
            task_prompt=contract.task_prompt,
            step_clock=clock,
            agent="grpo",
            qa=qa,
            max_steps=config.env_max_steps,
            reward_weights=weights,
            backend=config.backend,
            source=config.source,
            db=db,
            world=world,
        )
        adapters.append(adapter)
        return adapter

    model, tokenizer = load_model_and_tokenizer(config.model)
    lr = config.learning_rate or default_learning_rate(model)
    iterations = config.max_tool_calling_iterations
    args = GRPOConfig(
        output_dir=str(out),
        max_steps=config.max_steps,
        learning_rate=lr,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        max_tool_calling_iterations=config.env_max_steps - 1 if iterations is None else iterations,
        temperature=config.temperature,
        top_k=config.top_k,
        beta=config.beta,
        loss_type=config.loss_type,
        reward_weights=[weights[c] for c in COMPONENTS],
        use_vllm=config.use_vllm,
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=config.vllm_gpu_memory_utilization,
        logging_steps=config.logging_steps,
        save_strategy="no",
        report_to="none",
        seed=config.seed,
        bf16=use_bf16(),
        disable_tqdm=not config.progress,
        chat_template_kwargs=contract.template_kwargs() or None,
        **recompute_kwarg(GRPOConfig, recompute_activations(config, model)),
    )
    trainer = trainer_class(config.malformed_turn)(
        model=model,
        reward_funcs=reward_functions(),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(config) if config.lora else None,
        environment_factory=factory,
        callbacks=[_step_callback(clock)],
    )
    if not contract.template_tools:
        trainer.chat_template = template_without_tools(
            trainer.chat_template or tokenizer.chat_template
        )
    start = time.perf_counter()
    try:
        support = config.top_k if config.logprob_support == "sampled" else 0
        with labelled_positions_only(), sampled_support_logprobs(support):
            trainer.train()
    finally:
        for adapter in adapters:
            adapter.env.close()
    seconds = time.perf_counter() - start
    steps = int(trainer.state.global_step)
    if config.save:  # whole or not at all; the prompt contract last (`medenv.paths`)
        with writing_into(out, last=(CONTRACT_FILE,)) as folder:
            trainer.save_model(str(folder))
            tokenizer.save_pretrained(str(folder))
            save_contract(folder, contract)
            save_entity_rows(folder, model_entity_rows(config.model, tokenizer))
    return GRPOResult(
        out=str(out),
        db=str(db),
        run_ids=sorted({a.env.unwrapped.run_id for a in adapters}),
        steps=steps,
        seconds=seconds,
        seconds_per_step=seconds / max(steps, 1),
        peak_memory_mb=peak_memory_mb(),
        rewards=_reward_log(trainer.state.log_history),
        learning_rate=lr,
        threads=threads,
        config_hash=config_hash(config, exclude=("out", "db", "progress", "threads")),
    )

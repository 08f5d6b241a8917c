"""Supervised fine-tuning on tool-calling trajectories with TRL's ``SFTTrainer``.

Input rows (their format, reading, checks and rendering: `medenv.training.sft_rows`) come
from an export folder (its ``sft.jsonl``), a folder of ``*.jsonl`` / ``*.parquet`` files,
or one such file. Loss is on the
assistant turns only (TRL swaps in the training variant of the Qwen3 template, which has
``{% generation %}`` markers), LoRA is optional, and the model is any HF causal LM folder
or ``"tiny"`` (see `medenv.agents.tiny`). A held-out split (by question id) is evaluated before
and after training, so every run reports whether the loss on unseen trajectories dropped.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

import msgspec
from medenv.agents.copy_head import save_entity_rows
from medenv.agents.threads import check_threads, set_threads
from medenv.training.config import check_common, config_hash, finite, require
from medenv.training.entity_swap import kg_names_by_type, swap_rows
from medenv.training.lm import (
    load_model_and_tokenizer,
    lora_config,
    model_entity_rows,
    peak_memory_mb,
    recompute_kwarg,
    sft_trainer_class,
    use_bf16,
)
from medenv.training.sft_rows import (
    load_sft_rows,
    prepare_row,
    sft_contract,
    split_rows,
    to_dataset,
)
from medenv.training.token_lengths import (
    assistant_turn_share,
    resolve_max_length,
    row_token_lengths,
)

from medenv.curriculum import parse_hops, select_hops
from medenv.errors import MedenvError
from medenv.paths import write_file, writing_into
from medenv.prompt import (
    save_contract,
)


@dataclass
class SFTTrainConfig:
    """Settings of one SFT run; defaults suit a small real model with full fine-tuning."""

    data: str = ""
    out: str = "out/sft"
    model: str = "tiny"
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = 2e-5
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    # "auto": the smallest length that trains 95% of the rows whole (training.token_lengths)
    max_length: int | str | None = "auto"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    gradient_checkpointing: bool = False  # recompute activations (saves memory, costs time)
    assistant_only_loss: bool = True
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str = "all-linear"
    eval_fraction: float = 0.1  # share of question ids held out (0 disables evaluation)
    max_rows: int | None = None
    # Row preprocessing (see `prepare_row`): short rows make small models cheap to train.
    max_tool_chars: int | None = None  # cut each tool observation to this many characters
    template_tools: bool = True  # render the tool schemas in the template's system block
    keep_system: bool = True  # keep the rows' system turn
    keep_thinking: bool = True  # False: assistant turns without their <think> text
    task_prompt: str = "full"  # "question": the first user turn keeps only its question
    hops: str | None = None  # curriculum: only rows of these hop counts ("1" or "1,2")
    # entity-swap augmentation (`medenv.training.entity_swap`): this many counterfactual copies
    # of each training row, its searched entity and answer replaced by random names of the KG
    # `swap_kg` (teaches a small model to copy names rather than memorise them; 0: off)
    entity_swap: int = 0
    swap_kg: str = "hpo"
    eval_steps: int | None = None  # held-out loss every N steps (None: ~10 points per run)
    threads: int | None = None  # torch CPU threads (None: `medenv.agents.threads.default_threads`)
    seed: int = 0
    logging_steps: int = 10
    save: bool = True
    progress: bool = True

    def check(self) -> SFTTrainConfig:
        """Raise `MedenvError` naming the first bad setting (before any model is loaded)."""
        check_common(self)
        require(
            finite(self.epochs) and self.epochs > 0,
            f"--epochs must be > 0, got {self.epochs}",
        )
        require(
            self.max_steps == -1 or self.max_steps >= 1,
            f"--max-steps must be at least 1 (or -1: train for --epochs), got {self.max_steps}",
        )
        length = self.max_length
        require(
            length is None or length == "auto" or (type(length) is int and length >= 1),
            f"--max-length must be at least 1, got {length} (or auto)",
        )
        require(
            0 <= self.eval_fraction < 1,
            f"--eval-fraction must be in [0, 1), got {self.eval_fraction}",
        )
        require(
            self.max_rows is None or self.max_rows >= 1,
            f"--max-rows must be at least 1, got {self.max_rows}",
        )
        require(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        require(
            self.eval_steps is None or self.eval_steps >= 1,
            f"--eval-steps must be at least 1, got {self.eval_steps}",
        )
        check_threads(self.threads)
        parse_hops(self.hops)
        require(self.entity_swap >= 0, f"--entity-swap must be >= 0, got {self.entity_swap}")
        require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        return self


class SFTResult(msgspec.Struct, frozen=True):
    """What one run did and measured."""

    out: str
    model: str
    steps: int
    n_train: int
    n_eval: int
    train_loss: float
    eval_loss_before: float | None
    eval_loss_after: float | None
    max_length: int | None
    assistant_turns_with_loss: float  # share of assistant turns inside max_length
    eval_curve: list[dict]  # [{"step", "eval_loss"}] during training (held-out rows)
    loss_curve: list[dict]  # [{"step", "loss"}] training loss as logged
    threads: int
    seconds: float
    seconds_per_step: float
    peak_memory_mb: float
    config_hash: str


# --------------------------------------------------------------------------- training


def _kept_rows(trainer: Any, max_length: Any, n_train: int, n_eval: int) -> tuple[int, int]:
    """Rows left after TRL's truncation to ``max_length``, which silently drops every row
    whose assistant turns all fall past the cut: none left is an error, some a warning."""
    kept_train = len(trainer.train_dataset)
    kept_eval = len(trainer.eval_dataset) if n_eval and trainer.eval_dataset is not None else 0
    hint = (
        f"no assistant token within --max-length {max_length}: raise --max-length or "
        "shorten the rows (--max-tool-chars, --no-template-tools, --no-system)"
    )
    if not kept_train:
        raise MedenvError(f"all {n_train} training rows were dropped: {hint}")
    dropped = (n_train - kept_train) + (n_eval - kept_eval)
    if dropped:
        print(
            f"warning: {dropped} of {n_train + n_eval} rows dropped ({n_train - kept_train} "
            f"training, {n_eval - kept_eval} held out): {hint}",
            file=sys.stderr,
        )
    return kept_train, kept_eval


# the most rows (swapped copies included) an SFT run builds in memory: --entity-swap 10**6
# built copies until the machine ran out of memory
MAX_SWAPPED_ROWS = 1_000_000


def train_sft(config: SFTTrainConfig, rows: list[dict] | None = None) -> SFTResult:
    """Fine-tune ``config.model`` on ``config.data`` (or ``rows``); save to ``config.out``."""
    config.check()  # bad settings fail before the data and model are loaded
    rows = load_sft_rows(config.data) if rows is None else rows
    rows = select_hops(rows, parse_hops(config.hops), "SFT rows")
    if config.max_rows is not None:
        rows = rows[: config.max_rows]
    if config.entity_swap and len(rows) * (1 + config.entity_swap) > MAX_SWAPPED_ROWS:
        raise MedenvError(
            f"--entity-swap {config.entity_swap:,} makes {len(rows) * (1 + config.entity_swap):,} "
            f"rows of {len(rows):,}: more than one SFT run holds ({MAX_SWAPPED_ROWS:,})"
        )
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import SFTConfig  # seconds to import: after the data is known to be good

    threads = set_threads(config.threads)
    train_rows, eval_rows = split_rows(rows, config.eval_fraction, config.seed)
    if config.entity_swap:  # training rows only: the held-out loss stays on real rows
        names = kg_names_by_type(config.swap_kg)
        train_rows = train_rows + swap_rows(train_rows, names, config.entity_swap, config.seed)
    train_rows = [prepare_row(r, config) for r in train_rows]
    eval_rows = [prepare_row(r, config) for r in eval_rows]
    model, tokenizer = load_model_and_tokenizer(config.model)
    lengths = row_token_lengths(train_rows + eval_rows, tokenizer)
    max_length = resolve_max_length(
        config.max_length, train_rows + eval_rows, model, tokenizer, lengths=lengths
    )
    turn_share = assistant_turn_share(lengths, max_length)
    eval_steps = config.eval_steps or _default_eval_steps(config, len(train_rows))
    args = SFTConfig(
        output_dir=config.out,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        max_length=max_length,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        assistant_only_loss=config.assistant_only_loss,
        logging_steps=config.logging_steps,
        save_strategy="no",
        eval_strategy="steps" if eval_rows else "no",
        eval_steps=eval_steps,
        prediction_loss_only=True,  # the held-out curve needs the loss, not gathered logits
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        bf16=use_bf16(),
        disable_tqdm=not config.progress,
        dataset_num_proc=None,
        # TRL turns recomputation on by default; the models medenv trains on CPU are small,
        # so memory is not the limit and recomputing costs a third more time per step
        **recompute_kwarg(SFTConfig, config.gradient_checkpointing),
    )
    trainer = sft_trainer_class()(
        model=model,
        args=args,
        train_dataset=to_dataset(train_rows),
        eval_dataset=to_dataset(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(config) if config.lora else None,
    )
    n_train, n_eval = _kept_rows(trainer, max_length, len(train_rows), len(eval_rows))
    if not n_eval:
        eval_rows = []
        trainer.args.eval_strategy = "no"
    before = trainer.evaluate()["eval_loss"] if eval_rows else None
    start = time.perf_counter()
    output = trainer.train()
    seconds = time.perf_counter() - start
    after = trainer.evaluate()["eval_loss"] if eval_rows else None
    steps = int(trainer.state.global_step)
    eval_curve, loss_curve = _curves(trainer.state.log_history, before, after, steps)
    contract = sft_contract(config, train_rows + eval_rows, tokenizer)
    if config.save:  # whole or not at all; medenv_sft.json last: the folder is complete
        with writing_into(config.out, last=("medenv_sft.json",)) as folder:
            trainer.save_model(str(folder))
            tokenizer.save_pretrained(str(folder))
            save_contract(folder, contract)
            save_entity_rows(folder, model_entity_rows(config.model, tokenizer))
            write_file(
                folder / "medenv_sft.json",
                json.dumps(
                    {
                        "config": asdict(config),
                        "prompt_contract": msgspec.to_builtins(contract),
                        "eval_loss_before": before,
                        "eval_loss_after": after,
                        "max_length": max_length,
                        "assistant_turns_with_loss": turn_share,
                        "eval_curve": eval_curve,
                        "loss_curve": loss_curve,
                    },
                    indent=2,
                    default=str,
                ),
            )
    return SFTResult(
        out=str(config.out),
        model=config.model,
        steps=steps,
        n_train=n_train,
        n_eval=n_eval,
        train_loss=float(output.training_loss),
        eval_loss_before=before,
        eval_loss_after=after,
        max_length=max_length,
        assistant_turns_with_loss=turn_share,
        eval_curve=eval_curve,
        loss_curve=loss_curve,
        threads=threads,
        seconds=seconds,
        seconds_per_step=seconds / max(steps, 1),
        peak_memory_mb=peak_memory_mb(),
        config_hash=config_hash(config, exclude=("out", "progress", "data", "threads")),
    )


def _default_eval_steps(config: SFTTrainConfig, n_train: int) -> int:
    """About ten held-out evaluations per run."""
    if config.max_steps > 0:
        total = config.max_steps
    else:
        per_epoch = math.ceil(n_train / (config.batch_size * config.gradient_accumulation_steps))
        total = max(1, math.ceil(per_epoch * config.epochs))
    return max(1, total // 10)


def _curves(history: list[dict], before, after, steps: int) -> tuple[list[dict], list[dict]]:
    """(held-out loss by step, from 0 to the last step; training loss by step) from the
    trainer's log history."""
    evals = {0: before} if before is not None else {}
    losses = []
    for entry in history:
        if "eval_loss" in entry:
            evals[int(entry.get("step", 0))] = float(entry["eval_loss"])
        elif "loss" in entry:
            losses.append({"step": int(entry.get("step", 0)), "loss": float(entry["loss"])})
    if before is not None:
        evals[0] = before
    if after is not None:
        evals[steps] = after
    return [{"step": k, "eval_loss": v} for k, v in sorted(evals.items())], losses


def eval_loss(
    model: str,
    rows: list[dict],
    max_length: int | None = 4096,
    batch_size: int = 4,
    config: Any = None,
) -> float:
    """Mean assistant-token loss of ``model`` (folder, id or "tiny") on ``rows``; no training.

    ``config`` (an `SFTTrainConfig`): apply its row preprocessing and ``max_length`` first,
    so the loss is measured on rows as training saw them.
    """
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import SFTConfig

    if config is not None:
        rows = [prepare_row(r, config) for r in rows]
        max_length = config.max_length
    lm, tokenizer = load_model_and_tokenizer(model)
    max_length = resolve_max_length(max_length, rows, lm, tokenizer, quiet=True)
    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(
            output_dir=tmp, per_device_eval_batch_size=batch_size, max_length=max_length,
            assistant_only_loss=True, report_to="none", bf16=use_bf16(), disable_tqdm=True,
        )  # fmt: skip
        data = to_dataset(rows)
        trainer = sft_trainer_class()(
            model=lm, args=args, train_dataset=data, eval_dataset=data, processing_class=tokenizer
        )
        return float(trainer.evaluate()["eval_loss"])

"""The causal LM a trainer trains: loading any HF folder/id or a local model, LoRA, bf16,
peak memory, and on CPU the SFT loss computed only where labels are (`labelled_loss`).
Shared by `medenv.training.sft` and `medenv.training.grpo`."""

from __future__ import annotations

import dataclasses
import resource
from pathlib import Path
from typing import Any

from medenv.agents.backends import check_model_path, load_error
from medenv.agents.copy_head import entity_rows
from medenv.agents.tiny import resolve_model
from medenv.training.entity_embed import share_entity_rows
from medenv.training.fingerprint import cheap_fingerprint

from medenv.errors import MedenvError


def peak_memory_mb() -> float:
    """Peak memory of this process: CUDA allocator peak on GPU, else max RSS."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def recompute_kwarg(config_class: type, on: bool | None) -> dict[str, bool | None]:
    """The keyword that switches activation recomputation on a TRL config class:
    ``activation_checkpointing`` where the installed transformers has it (its newer name),
    else ``gradient_checkpointing`` (the only name before; an alias after)."""
    names = {field.name for field in dataclasses.fields(config_class)}
    new = "activation_checkpointing"
    key = new if new in names else "gradient_checkpointing"
    return {key: on}


def load_model_and_tokenizer(model: str):
    """Any HF causal-LM folder/id or ``"tiny"`` -> (model, tokenizer), padding on the left.

    A model with entity tokens (`medenv.training.entity_embed`) trains them as one shared
    vector plus fixed codes (the gradient hook is installed here, for SFT and GRPO alike)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(model)
    check_model_path(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise load_error(model, exc) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    cheap_fingerprint(tokenizer)  # TRL's dataset maps hash it: ~3 CPU-s each for 'small'
    if tokenizer.chat_template is None:
        raise MedenvError(f"model {model!r} has no chat template; tool-calling SFT needs one")
    share_entity_rows(lm, model_entity_rows(model, tokenizer))
    return lm, tokenizer


def model_entity_rows(model: str, tokenizer: Any) -> tuple[int, int] | None:
    """The entity-token rows of ``model`` (a folder or a local model name), None for a hub id."""
    path = Path(resolve_model(model))
    return entity_rows(path, tokenizer) if path.is_dir() else None


def lora_config(config: Any):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def use_bf16() -> bool:
    """bf16 weights and autocast: on a CUDA GPU that supports it."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def sft_trainer_class():
    """TRL's ``SFTTrainer``; on CPU, one that computes the loss itself (`labelled_loss`).

    TRL 1.16 computes the loss with a chunked log-prob kernel (fused LM head) that is built
    for GPUs; on CPU it made a tiny-model step ~3x slower than the model's own masked
    cross-entropy. The CPU variant logs no entropy/token-accuracy metrics.
    """
    import torch
    from trl import SFTTrainer

    if torch.cuda.is_available():
        return SFTTrainer

    class CPUSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, outputs = labelled_loss(model, inputs, num_items_in_batch)
            return (loss, outputs) if return_outputs else loss

    return CPUSFTTrainer


def labelled_loss(model: Any, inputs: dict, num_items_in_batch: Any = None) -> tuple[Any, Any]:
    """(loss, the decoder's outputs): the causal-LM cross-entropy of ``inputs["labels"]`` (-100 is
    ignored), with the LM head applied only at the positions that predict a label.

    Same value as the model's own loss (logits at position t predict label t+1; mean over
    the labelled tokens, or their sum over ``num_items_in_batch`` when given), but the
    head's cost -- vocabulary x sequence, the largest matrix product of a small model with
    a large vocabulary -- is paid only for the tokens that carry the loss (each row's own, not a padded union).
    """
    import torch

    labels = inputs["labels"]
    body = model.get_decoder()(
        input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask")
    )
    target = labels[:, 1:]
    labelled = target != -100
    logits = model.get_output_embeddings()(body.last_hidden_state[:, :-1][labelled]).float()
    total = torch.nn.functional.cross_entropy(logits, target[labelled], reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else labelled.sum()
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count, body

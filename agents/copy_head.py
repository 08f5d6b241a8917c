"""The entity rows of a locally built model and its copy path (`build_tiny_model` with
``entity_tokens`` / ``copy_head``).

Contract: `entity_rows(folder, tokenizer)` is the ``(first, end)`` token-id range of the
entity rows of a model folder (its `ENTITY_FILE`, or, for a locally built model with
entity tokens, the ids after ``</answer>``), None for any other model; `save_entity_rows`
writes the range next to a model or checkpoint (so the next trainer shares the same rows);
`init_copy_head` gives a freshly built model entity rows = a shared vector + fixed codes and
a copy path in one layer (the first by default). Why the copy path:
`medenv.training.entity_embed`, which keeps the codes fixed during training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medenv.paths import write_file

ENTITY_FILE = "medenv_entities.json"


def entity_rows(folder: str | Path, tokenizer: Any) -> tuple[int, int] | None:
    """(first, end) ids of the entity-token rows of the model in ``folder``; None when the
    model has none (any model medenv did not build with ``entity_tokens``)."""
    folder = Path(folder)
    saved = folder / ENTITY_FILE
    if saved.is_file():
        data = json.loads(saved.read_text())
        return int(data["first"]), int(data["end"])
    meta = folder / "medenv_tiny.json"
    if not meta.is_file() or not json.loads(meta.read_text())["config"].get("entity_tokens"):
        return None
    first = tokenizer.convert_tokens_to_ids("</answer>") + 1
    end = len(tokenizer)
    return (first, end) if end > first else None


def save_entity_rows(folder: str | Path, rows: tuple[int, int] | None) -> None:
    """Write ``rows`` as the folder's `ENTITY_FILE` (nothing when None)."""
    if rows is not None:
        write_file(Path(folder, ENTITY_FILE), json.dumps({"first": rows[0], "end": rows[1]}) + "\n")


def init_copy_head(model: Any, rows: tuple[int, int], tokenizer: Any, *, seed: int = 0,
                   code_norm: float = 1.5, gate_tokens: tuple[str, ...] = (' "', "<answer>"),
                   layer: int = 0) -> None:  # fmt: skip
    """Initialise ``model`` (a freshly built Qwen2-style model with entity rows ``rows``) with
    a working copy path, so copying an entity name is there from step 0 and SFT only has to
    learn WHEN and WHICH (a copy circuit learned from scratch over ~36,000 random codes did
    not form within the few hundred CPU steps `make learn` affords):

    - entity rows = a shared vector ``s`` plus a random code ``c_e``, both of norm
      ``code_norm`` (codes orthogonal to ``s``);
    - in ``layer`` (negative: counted from the last), the even query heads become copy heads: their key reads "is an entity"
      (the ``s`` direction), their query reads "the current token is a gate token" (the
      opening quote of a JSON string, ``<answer>``), both in the lowest-frequency RoPE pair
      so the match does not depend on distance; their value/output map copies the code
      subspace (a random 128-dim projection orthogonal to ``s``) into the residual stream,
      where the tied unembedding scores the copied entity highest.

    Built: THAT an entity of the context can be copied. Not built: which one -- the key
    sees every entity alike; training must steer the head (the answer probe,
    ``bench/answer_probe.py``, measures whether it did). Everything stays an ordinary trainable weight of a plain ``Qwen2ForCausalLM``."""
    import torch

    first, end = rows
    cfg = model.config
    dim, heads, kv = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads
    hd = getattr(cfg, "head_dim", None) or dim // heads
    g = torch.Generator().manual_seed(seed)
    emb = model.get_input_embeddings().weight
    attn = model.model.layers[layer].self_attn  # negative: from the last layer
    with torch.no_grad():
        s = torch.randn(dim, generator=g)
        s_hat = s / s.norm()
        codes = torch.randn(end - first, dim, generator=g)
        codes -= codes @ s_hat[:, None] * s_hat[None, :]
        codes *= code_norm / codes.norm(dim=1, keepdim=True)
        emb[first:end] = code_norm * s_hat + codes
        n_copy = min(kv, max(1, (dim // 2) // hd))  # value rank n_copy * hd <= dim / 2
        basis = torch.linalg.qr(torch.randn(dim, dim, generator=g))[0].T  # orthonormal rows
        basis -= basis @ s_hat[:, None] * s_hat[None, :]
        basis = torch.linalg.qr(basis[: n_copy * hd].T)[0].T  # n_copy*hd rows, orthogonal to s
        gate = torch.zeros(dim)
        for token in gate_tokens:
            tid = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(token))[-1]
            e = emb[tid]
            gate += e / e.norm()
        low = hd // 2 - 1  # RoPE pairs (low, low + hd/2) turn slowest
        for k in range(n_copy):
            rows_k = slice(k * hd, (k + 1) * hd)
            attn.k_proj.weight[rows_k] = 0.0
            attn.k_proj.bias[rows_k] = 0.0
            attn.k_proj.weight[k * hd + low] = 2.0 * s_hat
            attn.v_proj.weight[rows_k] = basis[rows_k]
            attn.v_proj.bias[rows_k] = 0.0
            qh = k * (heads // kv)  # the first query head of this key/value group
            q_rows = slice(qh * hd, (qh + 1) * hd)
            attn.q_proj.weight[q_rows] = 0.0
            attn.q_proj.bias[q_rows] = 0.0
            attn.q_proj.weight[qh * hd + low] = 2.0 * gate
            attn.o_proj.weight[:, q_rows] = basis[rows_k].T

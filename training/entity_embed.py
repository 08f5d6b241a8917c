"""Entity-token embeddings that a small model trained from scratch can copy.

The ``small`` model (`medenv.agents.tiny.SMALL_CONFIG`) has one added token per KG entity
name (~36,000 of them, next to an 8,192-token BPE vocabulary) and tied input/output
embeddings. Trained with Adam as ordinary rows, these embeddings COLLAPSE: every step's
softmax gives every entity row a small gradient (pushing its logit down), Adam scales each
row's update to about the learning rate whatever the gradient's size, so the ~36,000 rows
that a batch does not contain all move the same way by ~lr per step; after a hundred steps
at lr 3e-3 that common drift is ~15x their random initial spread (std 0.02). The entities
then look alike at the input (nothing tells the model WHICH entity the question names) and
at the output (their logits are equal): the loss on the copied name stays at ln(#entities),
and no recipe taught the model to copy (0 of 90 held-out first queries, close6.md #21).

The fix keeps the model a plain ``Qwen2ForCausalLM`` (saved and loaded by Hugging Face
unchanged): entity row ``e`` is ``s + c_e``, a SHARED learned vector ``s`` plus a FIXED
random code ``c_e`` (its initial value). A gradient hook replaces the gradient of every
entity row by the rows' mean gradient, so all entity rows receive the same gradient, keep
the same optimizer state and move together: their differences -- the codes -- never change,
and the common part is what training learns. Attention can find "the entity" by ``s``, and
the tied unembedding emits the exact one by its code (copying = carrying the code from the
question to the query position).

Contract: `share_entity_rows(model, rows)` installs the hook (idempotent per parameter);
the rows of a model folder and the built copy path are `medenv.agents.copy_head`
(`entity_rows`, `save_entity_rows`, `init_copy_head`).
"""

from __future__ import annotations

from typing import Any

_HOOKED = "_medenv_entity_rows"


def share_entity_rows(model: Any, rows: tuple[int, int] | None) -> bool:
    """Make the entity rows ``rows`` of ``model``'s input embedding (tied to its output
    embedding) one shared learned vector plus fixed codes: after each backward pass the
    rows' gradients are replaced by their mean. Returns whether a hook is installed."""
    if rows is None:
        return False
    weight = model.get_input_embeddings().weight
    first, end = rows
    if not 0 <= first < end <= weight.shape[0]:
        return False
    if getattr(weight, _HOOKED, None) == rows:
        return True

    def _share(param: Any) -> None:
        if param.grad is not None:
            grad = param.grad[first:end]
            grad.copy_(grad.mean(0, keepdim=True).expand_as(grad))

    weight.register_post_accumulate_grad_hook(_share)
    setattr(weight, _HOOKED, rows)
    return True

"""`medenv.training.grpo_cpu`: on CPU TRL's fused LM head scores only the labelled positions
under `labelled_positions_only`, with the same log-probabilities and loss as scoring every
position (TRL's CPU default), and both agree with a plain log-softmax of the model's logits
(a second reading). The real tiny model, a real batch with unlabelled prompt and padding."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("trl")


def test_labelled_positions_only_gives_the_same_log_probs_on_cpu(monkeypatch):
    import trl.trainer.utils as tu
    from medenv.agents.tiny import tiny_model_path
    from medenv.training.grpo_cpu import labelled_positions_only
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path()).eval()
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_path()).eval()
    add_fused_lm_head(model)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 4000, (3, 40), generator=gen)
    attention = torch.ones_like(ids)
    attention[2, :12] = 0  # left padding, as GRPO batches are padded
    labels = torch.full_like(ids, -100)
    labels[0, 25:] = ids[0, 25:]  # completion tokens only
    labels[1, 30:35] = ids[1, 30:35]
    labels[2, 20:] = ids[2, 20:]
    original = tu._use_triton
    scored = []  # rows the LM-head kernel scores, call by call (a spy on TRL's kernel)
    kernel = tu._ChunkedLogProbFunction.apply
    monkeypatch.setattr(tu._ChunkedLogProbFunction, "apply",
                        lambda *a: scored.append(a[0].shape[0]) or kernel(*a))  # fmt: skip
    with torch.no_grad():
        every = model(input_ids=ids, attention_mask=attention, labels=labels, fused_lm_head=True)
        with labelled_positions_only() as patched:
            assert patched and tu._use_triton is not original
            only = model(input_ids=ids, attention_mask=attention, labels=labels, fused_lm_head=True)
        assert tu._use_triton is original  # restored
        logits = plain(input_ids=ids, attention_mask=attention).logits[:, :-1]
    # second reading: log-softmax of the plain model's logits at the shifted labels
    shifted = labels[:, 1:]
    mask = shifted != -100
    reference = torch.log_softmax(logits.float(), -1).gather(-1, shifted.clamp(min=0)[..., None])[
        ..., 0
    ]
    reference = reference.masked_fill(~mask, 0.0)
    assert scored == [3 * 39, int(mask.sum())]  # every position, then the labelled ones
    assert torch.allclose(only.log_probs, every.log_probs, atol=1e-5)
    assert torch.allclose(only.log_probs, reference, atol=1e-4)
    assert torch.allclose(only.loss, every.loss, atol=1e-6)
    assert (only.log_probs[~mask] == 0).all() and (only.log_probs[mask] < 0).all()

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


def _support_reading(logits, targets, k):
    """Second reading of the sampled-support rule, row by row: the k largest logits (by a
    full sort) plus the target, renormalised; (log-probability of the target, entropy)."""
    logps, entropies = [], []
    for z, t in zip(logits, targets, strict=True):
        order = torch.argsort(z, descending=True)
        support = set(order[:k].tolist()) | {int(t)}
        kept = z[torch.tensor(sorted(support))]
        log_z = torch.logsumexp(kept, 0)
        p = torch.exp(kept - log_z)
        logps.append(float(z[t] - log_z))
        entropies.append(float(-(p * (kept - log_z)).sum()))
    return torch.tensor(logps), torch.tensor(entropies)


def test_sampled_support_scores_tokens_under_the_top_k_distribution():
    """Under `sampled_support_logprobs(k)` the fused LM head gives each completion token its
    log-probability under the temperature-scaled top-k distribution generation samples from
    (and that distribution's entropy): checked against a row-by-row second reading on the
    real tiny model; TRL's kernel is back afterwards."""
    import trl.trainer.utils as tu
    from medenv.agents.tiny import tiny_model_path
    from medenv.training.grpo_cpu import labelled_positions_only, sampled_support_logprobs
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    temperature, k = 0.7, 20
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path()).eval()
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_path()).eval()
    add_fused_lm_head(model, temperature=temperature, outputs=("log_probs", "entropy"))
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(10, 4000, (2, 30), generator=gen)
    attention = torch.ones_like(ids)
    labels = torch.full_like(ids, -100)
    labels[0, 18:] = ids[0, 18:]
    labels[1, 22:27] = ids[1, 22:27]
    original = tu._ChunkedLogProbFunction
    with torch.no_grad():
        with labelled_positions_only(), sampled_support_logprobs(k) as patched:
            assert patched
            out = model(input_ids=ids, attention_mask=attention, labels=labels, fused_lm_head=True)
        assert tu._ChunkedLogProbFunction is original  # restored
        full = model(input_ids=ids, attention_mask=attention, labels=labels, fused_lm_head=True)
        logits = plain(input_ids=ids, attention_mask=attention).logits[:, :-1].float() / temperature
    mask = labels[:, 1:] != -100
    want_logp, want_entropy = _support_reading(logits[mask], labels[:, 1:][mask], k)
    assert torch.allclose(out.log_probs[mask], want_logp, atol=1e-4)
    assert torch.allclose(out.entropy[mask], want_entropy, atol=1e-4)
    assert (out.log_probs[~mask] == 0).all()
    # a cut distribution: every token at least as likely as under the whole vocabulary
    assert (out.log_probs[mask] >= full.log_probs[mask] - 1e-5).all()
    assert (out.log_probs[mask] > full.log_probs[mask] + 1e-3).any()
    with sampled_support_logprobs(0) as patched:  # 0: no cut, TRL's kernel
        assert not patched and tu._ChunkedLogProbFunction is original


def test_sampled_support_moves_no_token_outside_the_support():
    """The gradient reaches the LM-head rows of the tokens in some row's support only (TRL's
    whole-vocabulary kernel reaches every row); with k = the vocabulary, the values and
    gradients are TRL's."""
    from medenv.training.grpo_cpu import _SampledSupportLogProbs
    from trl.kernels import ChunkedLogProbFunction

    gen = torch.Generator().manual_seed(2)
    hidden = torch.randn(40, 8, generator=gen)
    weight = torch.randn(300, 8, generator=gen, requires_grad=True)
    targets = torch.randint(0, 300, (40,), generator=gen)
    args = (hidden, weight, None, targets, 0.9, 64, None, 1.0, ("log_probs",))
    k = 5
    logps = _SampledSupportLogProbs(k, rows=16).apply(*args)[0]
    (grad,) = torch.autograd.grad(logps.sum(), [weight])
    with torch.no_grad():
        z = hidden @ weight.t()
        support = set(z.topk(k, -1).indices.flatten().tolist()) | set(targets.tolist())
    moved = set(torch.nonzero(grad.abs().sum(-1) > 0).flatten().tolist())
    assert moved <= support and len(moved) > k
    (full_grad,) = torch.autograd.grad(ChunkedLogProbFunction.apply(*args)[0].sum(), [weight])
    assert (full_grad.abs().sum(-1) > 0).all()
    same = _SampledSupportLogProbs(300).apply(*args)[0]
    (same_grad,) = torch.autograd.grad(same.sum(), [weight])
    assert torch.allclose(same, ChunkedLogProbFunction.apply(*args)[0], atol=1e-5)
    assert torch.allclose(same_grad, full_grad, atol=1e-4)
    from medenv.errors import MedenvError

    with pytest.raises(MedenvError, match="is_top1"):  # an output it does not compute
        _SampledSupportLogProbs(k).apply(*args[:-1], ("log_probs", "is_top1"))

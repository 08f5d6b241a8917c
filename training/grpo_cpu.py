"""GRPO's log-probabilities: on CPU only at the positions that carry a label, and (optionally)
under the distribution generation samples from.

TRL 1.16 computes GRPO's per-token log-probabilities with its chunked LM-head kernel
(``trl.trainer.utils`` ``_fused_forward``). On a Triton device it scores only the labelled
positions (the completion tokens); elsewhere it scores EVERY position of the padded batch
(prompt, tool responses, padding) and zeroes the unlabelled ones afterwards, to keep tile
shapes fixed for compiled backends (Neuron). On CPU there is nothing to recompile, and for a
model with a large vocabulary (the ``small`` model: 44,270 tokens) that LM head over every
position is most of a GRPO step: profiled on `make learn`'s GRPO (16 rollouts, 1 thread),
the kernel's forward and backward took 79 of the step's 115 s.

`labelled_positions_only()` is a context manager under which that choice ("compact") is
also made on CPU. The kernel itself is unchanged (its CPU tiles), and the result is the
same: an unlabelled position's log-probability is zero either way. Relies on the TRL 1.16
internal ``trl.trainer.utils._use_triton`` (looked up by ``_fused_forward`` at each call).

`sampled_support_logprobs(k)` swaps that kernel (``trl.trainer.utils._ChunkedLogProbFunction``,
also looked up at each call) for one that scores each token under the top-k distribution
generation samples from (TRL scores it over the whole vocabulary): a negative advantage then
moves probability only among tokens generation can sample, not into the never-sampled tail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from medenv.errors import MedenvError


@contextmanager
def labelled_positions_only() -> Iterator[bool]:
    """While active, TRL's fused LM-head forward scores only labelled positions on CPU too.
    Yields whether the patch is in place (False with a TRL without that internal)."""
    try:
        import trl.trainer.utils as tu
    except ImportError:  # pragma: no cover - TRL is a training dependency
        yield False
        return
    original = getattr(tu, "_use_triton", None)
    if original is None:
        yield False
        return

    def compact(device) -> bool:
        return getattr(device, "type", None) == "cpu" or original(device)

    tu._use_triton = compact
    try:
        yield True
    finally:
        tu._use_triton = original


class _SampledSupportLogProbs:
    """Drop-in for TRL's ``ChunkedLogProbFunction`` (same arguments and outputs): the
    log-probability of each target under the distribution generation samples from -- the
    temperature-scaled logits cut to their ``top_k`` largest (transformers' ``TopKLogitsWarper``
    rule: ties with the k-th value stay; the target always stays) and renormalised -- and that
    distribution's entropy (the other optional outputs are refused). Tokens outside the support get no
    gradient through the softmax, so a negative advantage cannot move probability mass
    into tokens generation never samples."""

    def __init__(self, top_k: int, rows: int = 256) -> None:
        self.top_k = top_k
        self.rows = rows

    def apply(self, hidden, weight, bias, targets, temperature, chunk_size,
              final_logit_softcapping=None, logit_scale=1.0, outputs=("log_probs",)):  # fmt: skip
        import torch
        from torch.utils.checkpoint import checkpoint

        unsupported = set(outputs) - {"log_probs", "entropy"}
        if unsupported:
            raise MedenvError(f"sampled log-prob support computes no {sorted(unsupported)}")

        def rows(h, t):
            z = h.float() @ weight.float().t()
            if bias is not None:
                z = z + bias.float()
            z = z * logit_scale
            if final_logit_softcapping is not None:
                z = final_logit_softcapping * torch.tanh(z / final_logit_softcapping)
            z = z / temperature
            with torch.no_grad():
                kth = z.topk(min(self.top_k, z.shape[-1]), dim=-1).values[:, -1:]
                keep = z >= kth
                keep.scatter_(1, t.unsqueeze(1), True)
            logp = z.masked_fill(~keep, float("-inf")).log_softmax(-1)
            target = logp.gather(1, t.unsqueeze(1)).squeeze(1)
            entropy = -(logp.exp() * logp.masked_fill(~keep, 0.0)).sum(-1)
            return target, entropy

        step = self.rows  # rows scored at a time; each block is recomputed in the backward
        parts = [
            checkpoint(rows, hidden[i : i + step], targets[i : i + step], use_reentrant=False)
            for i in range(0, hidden.shape[0], step)
        ]
        if not parts:
            empty = hidden.new_zeros((0,), dtype=torch.float32) + 0 * hidden.sum()
            return empty, empty if "entropy" in outputs else None, None, None, None
        logprobs = torch.cat([p[0] for p in parts])
        entropy = torch.cat([p[1] for p in parts]) if "entropy" in outputs else None
        return logprobs, entropy, None, None, None


@contextmanager
def sampled_support_logprobs(top_k: int) -> Iterator[bool]:
    """While active (and ``top_k`` > 0), GRPO scores tokens under the top-k distribution
    generation samples from (`_SampledSupportLogProbs`). Yields whether it is in place."""
    try:
        import trl.trainer.utils as tu
    except ImportError:  # pragma: no cover - TRL is a training dependency
        yield False
        return
    original = getattr(tu, "_ChunkedLogProbFunction", None)
    if original is None or top_k <= 0:
        yield False
        return
    tu._ChunkedLogProbFunction = _SampledSupportLogProbs(top_k)
    try:
        yield True
    finally:
        tu._ChunkedLogProbFunction = original

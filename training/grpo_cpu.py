"""GRPO's log-probabilities on CPU: score only the positions that carry a label.

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
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


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

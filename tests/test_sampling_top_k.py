"""Sampling keeps the K most likely tokens, the same K in the llm agent (the transformers
backend, with which `medenv train pool` measures pass rates) and in GRPO (issue 21: TRL's own
default samples the whole vocabulary, so GRPO's rollouts answered the pool's questions far
less often than the pool had measured). Checked on the real tiny model: every sampled token
is re-scored teacher-forced and its rank read off the logits."""

from __future__ import annotations

import pytest
import torch


def _ranks(backend, k: int, seed: int) -> list[int]:
    """Ranks (0 = most likely) of the tokens the backend samples at temperature 1, top-k K."""
    backend.top_k, backend.seed = k, seed
    model, seen = backend.model, []
    generate = model.generate

    def watch(**kwargs):  # observe transformers' call: the ids the backend sampled
        out = generate(**kwargs)
        seen.append((kwargs["input_ids"].shape[-1], out[0]))
        return out

    model.generate = watch
    try:
        backend.generate([{"role": "user", "content": "Which gene causes Marfan syndrome?"}], [])
    finally:
        del model.generate
    start, ids = seen[0]
    with torch.no_grad():
        logits = model(input_ids=ids[None, :-1]).logits[0]
    ranks = []
    for pos in range(start, len(ids)):
        row = logits[pos - 1]
        ranks.append(int((row > row[ids[pos]]).sum()))
    return ranks


def test_the_agent_samples_within_top_k_and_grpo_uses_the_same_k():
    from medenv.agents.backend_transformers import SAMPLING_TOP_K, TransformersBackend
    from medenv.agents.tiny import tiny_model_path
    from medenv.training.grpo import GRPOTrainConfig

    from medenv.errors import MedenvError

    backend = TransformersBackend(str(tiny_model_path()), temperature=1.0, max_new_tokens=24,
                                  threads=1)  # fmt: skip
    assert backend.top_k == GRPOTrainConfig().top_k == SAMPLING_TOP_K == 50
    cut = [r for s in range(3) for r in _ranks(backend, 3, s)]
    whole = [r for s in range(3) for r in _ranks(backend, 0, s)]
    assert len(cut) >= 30 and max(cut) < 3  # every sampled token among the 3 most likely
    assert max(whole) >= 3  # without the cut the untrained model samples beyond them
    with pytest.raises(MedenvError, match="--top-k"):
        GRPOTrainConfig(top_k=-1).check()

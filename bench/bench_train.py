"""Time per SFT / GRPO step of the tiny model on this machine (pytest-benchmark).

Peak memory and TRL notes are printed in the benchmark's extra_info.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def test_sft_step_tiny(benchmark, tmp_path):
    from tests.test_sft import build_world_and_items, tool_trajectory
    from training.sft import SFTTrainConfig, train_sft

    world, items = build_world_and_items(16)
    rows = [tool_trajectory(world, i) for i in items]
    cfg = SFTTrainConfig(out=str(tmp_path), max_steps=5, batch_size=4, max_length=1700,
                         eval_fraction=0.0, save=False, progress=False)  # fmt: skip
    result = benchmark.pedantic(lambda: train_sft(cfg, rows=rows), rounds=1, iterations=1)
    benchmark.extra_info.update(seconds_per_step=result.seconds_per_step, peak_memory_mb=result.peak_memory_mb)


def test_grpo_step_tiny(benchmark, tmp_path):
    from tests.test_sft import build_world_and_items
    from training.grpo import GRPOTrainConfig, train_grpo

    world, items = build_world_and_items(4)
    cfg = GRPOTrainConfig(out=str(tmp_path), max_steps=3, num_generations=4, batch_size=4,
                          max_completion_length=96, max_tool_calling_iterations=2,
                          save=False, progress=False)  # fmt: skip
    result = benchmark.pedantic(lambda: train_grpo(cfg, world=world, qa_items=items), rounds=1, iterations=1)
    benchmark.extra_info.update(seconds_per_step=result.seconds_per_step, peak_memory_mb=result.peak_memory_mb)

"""Time per SFT / GRPO step of the tiny model on this machine (pytest-benchmark).

Data: exported oracle (MTG) trajectories (see tests/test_sft.py); same preprocessing as
the test fixture. Seconds per step and peak memory go to the benchmark's extra_info.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def test_sft_step_tiny(benchmark, tmp_path):
    from medenv.training.sft import train_sft

    from tests.test_sft import fixture_config, oracle_rows, torch_threads

    rows = oracle_rows()
    cfg = fixture_config(str(tmp_path))
    cfg.max_steps, cfg.eval_fraction, cfg.save = 10, 0.0, False

    def run():
        with torch_threads():
            return train_sft(cfg, rows=rows)

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(
        seconds_per_step=result.seconds_per_step, peak_memory_mb=result.peak_memory_mb,
        batch_size=cfg.batch_size, max_length=cfg.max_length,
    )  # fmt: skip
    print(
        f"\nSFT tiny: {result.seconds_per_step:.2f} s/step, peak RSS {result.peak_memory_mb:.0f} MB"
    )


def test_grpo_step_tiny(benchmark, tmp_path):
    from medenv.training.grpo import GRPOTrainConfig, train_grpo

    from tests.test_grpo import GRPO_TEST_CONFIG, grpo_setup
    from tests.test_sft import torch_threads

    world, items, start = grpo_setup()
    cfg = GRPOTrainConfig(out=str(tmp_path), model=str(start), save=False, progress=False,
                          **{**GRPO_TEST_CONFIG, "max_steps": 3})  # fmt: skip

    def run():
        with torch_threads():
            return train_grpo(cfg, world=world, qa_items=items)

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(
        seconds_per_step=result.seconds_per_step, peak_memory_mb=result.peak_memory_mb
    )
    print(
        f"\nGRPO tiny: {result.seconds_per_step:.2f} s/step, peak RSS {result.peak_memory_mb:.0f} MB"
    )

"""`medenv train sft|grpo` end to end: a real export folder (full and LoRA SFT steps) and
GRPO against the real env, on the tiny model."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_train_sft_cli_on_export_folder(tmp_path, capsys):
    from medenv.cli import main
    from tests.test_sft import oracle_export, torch_threads

    data = oracle_export()  # sft.jsonl + rl_prompts.jsonl + stats.json, as `medenv export` writes
    out = tmp_path / "model"
    with torch_threads():
        rc = main(["train", "sft", "--data", str(data), "--model", "tiny", "--out", str(out),
                   "--max-steps", "2", "--batch-size", "2", "--max-length", "512",
                   "--max-tool-chars", "150", "--no-template-tools", "--no-system",
                   "--max-rows", "24", "--no-progress"])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0
    assert "SFT done: 2 steps" in text and "held-out loss" in text
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()


def test_train_cli_reports_bad_data(tmp_path, capsys):
    from medenv.cli import main

    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"messages": []}\n')
    rc = main(["train", "sft", "--data", str(bad), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "rows.jsonl:1: row has no 'messages' list" in capsys.readouterr().err


def test_train_sft_cli_with_lora_saves_an_adapter(tmp_path, capsys):
    from medenv.cli import main
    from tests.test_sft import oracle_export, torch_threads

    out = tmp_path / "lora"
    with torch_threads():
        rc = main(["train", "sft", "--data", str(oracle_export()), "--model", "tiny",
                   "--out", str(out), "--lora", "--max-steps", "1", "--batch-size", "2",
                   "--max-length", "512", "--max-tool-chars", "150", "--no-template-tools",
                   "--no-system", "--max-rows", "8", "--no-progress"])  # fmt: skip
    assert rc == 0 and "SFT done: 1 steps" in capsys.readouterr().out
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 16
    assert (out / "adapter_model.safetensors").is_file()
    assert not (out / "model.safetensors").exists()  # only the adapter is saved


def test_train_grpo_cli_runs_against_the_env(tmp_path, capsys):
    """`medenv train grpo`: one step on the tiny model, rollouts in the real env and store."""
    from medenv.cli import main
    from medenv.events.store import connect
    from tests.test_sft import torch_threads

    out = tmp_path / "grpo"
    with torch_threads():
        rc = main(["train", "grpo", "--model", "tiny", "--out", str(out), "--max-steps", "1",
                   "--num-generations", "2", "--batch-size", "2", "--max-questions", "2",
                   "--max-completion-length", "32", "--max-tool-calling-iterations", "1",
                   "--max-tool-chars", "150", "--no-progress"])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0
    assert "GRPO done: 1 steps" in text and "peak memory" in text
    assert '"accuracy_mean"' in text and f"rollouts in {out / 'events.duckdb'}" in text
    assert (out / "model.safetensors").is_file()
    con = connect(out / "events.duckdb")
    try:
        rows = con.execute(
            "SELECT json_extract_string(payload, '$.tags.agent'), "
            "json_extract(payload, '$.tags.training_step')::INT FROM events "
            "WHERE type = 'episode_started'"
        ).fetchall()
        ended = con.execute("SELECT count(*) FROM events WHERE type = 'episode_ended'").fetchone()
    finally:
        con.close()
    assert rows == [("grpo", 0), ("grpo", 0)] and ended[0] == 2

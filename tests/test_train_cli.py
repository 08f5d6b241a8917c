"""`medenv train sft` end to end on a real export folder (a couple of real steps)."""

from __future__ import annotations

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

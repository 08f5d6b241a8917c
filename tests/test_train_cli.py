"""`medenv train sft|grpo` end to end: a real export folder (full and LoRA SFT steps) and
GRPO against the real env, on the tiny model."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# the tiny model on short rows (tool outputs cut, tools described once, no system turn)
SHORT_SFT = ("--model", "tiny", "--batch-size", "2", "--max-length", "auto",
             "--max-tool-chars", "150", "--no-template-tools", "--no-system", "--no-progress")  # fmt: skip


def test_train_sft_cli_on_export_folder(tmp_path, capsys):
    from medenv.cli import main
    from tests.test_sft import oracle_export, torch_threads

    data = oracle_export()  # sft.jsonl + rl_prompts.jsonl + stats.json, as `medenv export` writes
    out = tmp_path / "model"
    with torch_threads():
        rc = main(["train", "sft", "--data", str(data), "--out", str(out), *SHORT_SFT,
                   "--max-steps", "2", "--max-rows", "24"])  # fmt: skip
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
        rc = main(["train", "sft", "--data", str(oracle_export()), "--out", str(out), *SHORT_SFT,
                   "--lora", "--max-steps", "1", "--max-rows", "8"])  # fmt: skip
    assert rc == 0 and "SFT done: 1 steps" in capsys.readouterr().out
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 16
    assert (out / "adapter_model.safetensors").is_file()
    assert not (out / "model.safetensors").exists()  # only the adapter is saved


def test_train_grpo_cli_runs_against_the_env(tmp_path, capsys):
    """`medenv train grpo`: one step on the tiny model, rollouts in the real env and store;
    ``--loss-type`` and ``--beta`` reach TRL (the trainer's saved arguments); the step runs
    with tokens scored under the sampled top-k support."""
    import json
    import math

    import torch

    from medenv.cli import main
    from medenv.events.store import connect
    from tests.test_sft import torch_threads

    out = tmp_path / "grpo"
    with torch_threads():
        rc = main(["train", "grpo", "--model", "tiny", "--out", str(out), "--max-steps", "1",
                   "--num-generations", "2", "--batch-size", "2", "--max-questions", "2",
                   "--max-completion-length", "32", "--max-tool-calling-iterations", "1",
                   "--max-tool-chars", "150", "--loss-type", "grpo", "--beta", "0.05",
                   "--logprob-support", "sampled",
                   "--no-progress"])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0
    assert "GRPO done: 1 steps" in text and "peak memory" in text
    assert '"accuracy_mean"' in text and f"rollouts in {out / 'events.duckdb'}" in text
    assert (out / "model.safetensors").is_file()
    saved = torch.load(out / "training_args.bin", weights_only=False)
    assert (saved.loss_type, saved.beta) == ("grpo", 0.05)
    # scored under the top-50 cut: the logged entropy is at most log 50 (the untrained tiny
    # model's whole-vocabulary entropy is near log of its vocabulary, > 8)
    rows = [json.loads(line) for line in text.splitlines() if line.startswith('  {"')]
    assert rows and all(0 < r["entropy"] <= math.log(50) + 1e-4 for r in rows)
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


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("medenv train: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_train_cli_bad_settings_and_paths_are_one_line(tmp_path, capsys):
    """Each fails before any model is loaded, with one line naming the flag or file."""
    import duckdb

    from medenv.cli import main

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"messages": [{"role": "user", "content": "q"}, '
                    '{"role": "assistant", "content": "a"}]}\n')  # fmt: skip
    (tmp_path / "afile").write_text("x")
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    (tmp_path / "bad.yaml").write_text("batch_size: [\n")
    (tmp_path / "typed.yaml").write_text("batch_size: two\n")
    (tmp_path / "loss.yaml").write_text("loss_type: sapo\n")
    (tmp_path / "support.yaml").write_text("logprob_support: top_p\n")
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE foo (x INT)")
    sft = ["train", "sft", "--data", str(rows), "--model", "tiny", "--out", str(tmp_path / "o")]
    grpo = ["train", "grpo", "--model", "tiny", "--out", str(tmp_path / "g")]
    cases = [
        (sft + ["--max-steps", "0"], "--max-steps must be at least 1 (or -1"),
        (sft + ["--batch-size", "-2"], "--batch-size must be at least 1, got -2"),
        (sft + ["--lr", "-1"], "--lr (learning_rate) must be > 0, got -1.0"),
        (sft + ["--eval-fraction", "1"], "--eval-fraction must be in [0, 1), got 1.0"),
        (sft + ["--max-rows", "-1"], "--max-rows must be at least 1, got -1"),
        (sft + ["--max-tool-chars", "-5"], "--max-tool-chars must be >= 0, got -5"),
        (sft + ["--out", str(tmp_path / "afile")], "afile: is a file, not a folder"),
        (sft + ["--out", str(tmp_path / "afile" / "m")], "afile is a file, not a folder"),
        (sft + ["--config", str(tmp_path / "bad.yaml")], "bad.yaml:2: invalid YAML: expected"),
        (sft + ["--config", str(tmp_path / "typed.yaml")], "batch_size: Expected `int`"),
        (sft + ["--model", "/nonexistent/model"], "no model folder at /nonexistent/model"),
        (sft + ["--model", str(rows)], "is a file; expected a model folder"),
        (sft + ["--model", "no-such-org/no-such-model"], "cannot load model 'no-such-org/"),
        (grpo + ["--num-generations", "0"], "--num-generations must be at least 2"),
        (grpo + ["--num-generations", "3", "--batch-size", "2"], "must be a multiple of"),
        (grpo + ["--max-questions", "-1"], "--max-questions must be at least 1, got -1"),
        (grpo + ["--temperature", "-1"], "--temperature must be > 0, got -1.0"),
        (grpo + ["--db", str(tmp_path)], "is a folder, not a file"),
        (grpo + ["--db", str(other)], "not a medenv event store: no events table"),
        (grpo + ["--qa", str(tmp_path / "x.parquet")], "x.parquet: a Parquet file"),
        (sft + ["--hops", "0"], "--hops takes hop counts of at least 1"),
        (sft + ["--eval-steps", "0"], "--eval-steps must be at least 1, got 0"),
        (grpo + ["--threads", "0"], "--threads must be at least 1, got 0"),
        (sft + ["--threads", str(10**12)], "--threads must be at most"),  # was torch's overflow
        (sft + ["--entity-swap", str(10**6)], "more than one SFT run holds"),  # ran out of memory
        (grpo + ["--hops", "x"], "--hops takes hop counts like 1 or 1,2"),
        (grpo + ["--config", str(tmp_path / "loss.yaml")], "--loss-type must be one of"),
        (grpo + ["--config", str(tmp_path / "support.yaml")], "--logprob-support must be one of"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in _one_error_line(capsys), argv
    assert not (tmp_path / "o").exists() and not (tmp_path / "g").exists()
    with duckdb.connect(str(other)) as con:  # the foreign database got no events table
        assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0] == 1


def test_train_sft_reports_rows_dropped_by_max_length(tmp_path, capsys):
    """TRL silently drops rows with no assistant token left after truncation: all dropped
    is an error naming --max-length, not a bare sampler traceback."""
    from medenv.cli import main
    from tests.test_sft import oracle_export, torch_threads

    with torch_threads():
        rc = main(["train", "sft", "--data", str(oracle_export()), "--model", "tiny",
                   "--out", str(tmp_path / "m"), "--max-steps", "1", "--max-length", "16",
                   "--max-rows", "4", "--no-progress"])  # fmt: skip
    assert rc == 2
    line = _one_error_line(capsys)
    assert "training rows were dropped: no assistant token within --max-length 16" in line


def test_bad_training_data_is_refused_before_torch_and_trl_load(tmp_path):
    """A missing or bad --data/--qa is reported in the first second or two: the rows and
    questions are read before torch and TRL are imported (they were after: 7-16 s)."""
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "bad.jsonl").write_text('{"messages": [\n')
    script = (
        "import sys\n"
        "from medenv.cli import main\n"
        f"d = {str(tmp_path)!r}\n"
        "codes = [main(['train', 'sft', '--data', d + '/bad.jsonl', '--out', d + '/m']),\n"
        "         main(['train', 'grpo', '--qa', d + '/nowhere.jsonl', '--out', d + '/g'])]\n"
        "print(codes, sorted({'torch', 'trl'} & set(sys.modules)))\n"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert proc.stdout.strip() == "[2, 2] []", proc.stdout + proc.stderr
    assert "bad.jsonl:1: invalid JSON" in proc.stderr and "nowhere.jsonl" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.jsonl"]

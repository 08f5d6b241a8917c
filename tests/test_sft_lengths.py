"""SFT rows that fit TRL's ``SFTTrainer``: per-row token lengths (export ``--tokenizer``), and
``medenv train sft`` choosing ``max_length`` from the data or refusing in one line; checked
against TRL's own tokenisation and labels on the tiny model."""

from __future__ import annotations

import json
import os

import pytest
from medenv.training.token_lengths import COVERAGE, RowTokens, fit_max_length, row_token_lengths

from medenv.cli import main

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


@pytest.fixture(scope="module")
def sft_export(tmp_path_factory):
    """Oracle rollouts on 24 questions, exported as SFT with the tiny tokenizer's report."""
    from medenv.agents.rollout import rollout

    base = tmp_path_factory.mktemp("sftlen")
    rollout("oracle", qa=None, episodes=24, db=base / "o.duckdb", seed=1, progress=False)
    rc = main(["export", "--db", str(base / "o.duckdb"), "--out", str(base / "out"),
               "--no-hf", "--tokenizer", "tiny"])  # fmt: skip
    assert rc == 0
    rows = [json.loads(x) for x in (base / "out" / "sft.jsonl").read_text().splitlines()]
    return base, rows


@pytest.fixture(scope="module")
def tokenizer():
    from medenv.agents.tiny import tiny_model_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_path()))


def test_export_reports_token_lengths_per_row(sft_export, tokenizer):
    base, rows = sft_export
    stats = json.loads((base / "out" / "stats.json").read_text())["sft_tokens"]
    per_row = [
        json.loads(x) for x in (base / "out" / "sft_token_lengths.jsonl").read_text().splitlines()
    ]
    assert stats["rows"] == len(per_row) == len(rows) > 0
    for row, got in zip(rows, per_row, strict=True):
        # independently: render to text with the template, then count the text's tokens
        tools = row["tools"] or None
        text = tokenizer.apply_chat_template(row["messages"], tools=tools, tokenize=False)
        assert got["total"] == len(tokenizer(text, add_special_tokens=False)["input_ids"])
        assert got["question_id"] == row["question_id"] and got["prompt"] < got["total"]
    # the figure: every exported prompt is over TRL's default max_length of 1,024
    assert min(r["prompt"] for r in per_row) > 1024 and stats["whole_at_1024"] == 0.0


def test_chosen_max_length_trains_every_assistant_turn_in_95pct_of_rows(sft_export, tokenizer):
    """At the chosen max_length TRL's own labels hold every assistant turn (tool calls and
    the answer) in at least 95% of rows; one token less loses the longest kept row's end."""
    from datasets import Dataset
    from medenv.agents.tiny import tiny_model_path
    from medenv.training.sft_rows import normalise_row
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    _, rows = sft_export
    chosen = fit_max_length(row_token_lengths(rows, tokenizer), context=8192)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_path()))
    args = SFTConfig(output_dir="/tmp/unused-sftlen", max_length=chosen, assistant_only_loss=True,
                     report_to="none", bf16=False, disable_tqdm=True)  # fmt: skip
    data = Dataset.from_list([normalise_row(r) for r in rows])
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    kept = trainer.train_dataset
    whole = 0
    for row, labels in zip(rows, kept["labels"], strict=True):
        learned = tokenizer.decode([t for t in labels if t != -100])
        turns = [m for m in row["messages"] if m["role"] == "assistant"]
        answer = turns[-1]["content"].split("<answer>")[-1]
        calls = [c["function"]["name"] for m in turns for c in m.get("tool_calls") or []]
        pos, ok = 0, answer in learned
        for name in calls:  # every call, in order, is in the learned tokens
            pos = learned.find(name, pos)
            ok = ok and pos >= 0
        whole += ok
    assert len(kept) == len(rows) and whole / len(rows) >= COVERAGE


def test_fit_refuses_in_one_line_over_the_context():
    lengths = [RowTokens(str(i), 10, n) for i, n in enumerate([900, 1000, 1100, 5000])]
    assert fit_max_length(lengths, context=8192) == 5000  # 95% of 4 rows is all 4
    many = [RowTokens(str(i), 10, 1000 + i) for i in range(19)] + [lengths[-1]]
    assert fit_max_length(many, context=2048) == 1018  # 19 of 20 rows whole, the 5,000 cut
    from medenv.errors import MedenvError

    with pytest.raises(MedenvError, match="95% of the SFT rows need up to 5,000 tokens") as e:
        fit_max_length(lengths, context=2048)
    assert "\n" not in str(e.value)


def test_train_sft_cli_sets_max_length_from_the_data(sft_export, tmp_path, capsys):
    base, _ = sft_export
    rc = main(["train", "sft", "--data", str(base / "out"), "--model", "tiny", "--out",
               str(tmp_path / "m"), "--max-steps", "1", "--eval-fraction", "0", "--no-progress",
               "--batch-size", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "max_length " in err and "rows trained whole" in err
    saved = json.loads((tmp_path / "m" / "medenv_sft.json").read_text())
    assert saved["config"]["max_length"] == "auto"


def test_train_sft_cli_refuses_when_rows_exceed_the_context(sft_export, tmp_path, capsys):
    """A copy of the tiny model with a 1,024-token context: one line, exit 2, nothing saved."""
    from medenv.agents.tiny import tiny_model_path
    from transformers import AutoModelForCausalLM, AutoTokenizer

    small = tmp_path / "short-context"
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_path()))
    model.config.max_position_embeddings = 1024
    model.save_pretrained(str(small))
    AutoTokenizer.from_pretrained(str(tiny_model_path())).save_pretrained(str(small))
    base, _ = sft_export
    capsys.readouterr()
    rc = main(["train", "sft", "--data", str(base / "out"), "--model", str(small), "--out",
               str(tmp_path / "m"), "--max-steps", "1", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("medenv train: error: ")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err  # (the rest: load bars)
    assert "over the model's context of 1,024" in lines[0] and "--max-tool-chars" in lines[0]
    assert not (tmp_path / "m").exists()

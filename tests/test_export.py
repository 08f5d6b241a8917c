"""Export from the event store only: SFT (JSONL + HF dataset through the tiny model's chat
template), RL prompts, BrowseComp-Plus runs, Minari, statistics."""

from __future__ import annotations

import json
import shutil

import pytest
from medenv.agents.rollout import rollout
from medenv.training.export import (
    MINARI_MISSING,
    export,
    load_episodes,
    minari_available,
    sft_dataset,
    sft_rows,
    write_minari,
)

from tests.cli import cli_error


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Roll out from a QA folder, delete the folder, then export: only the store is read."""
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set, write_qa_set

    base = tmp_path_factory.mktemp("export")
    items = [it for it in read_qa_set(default_qa_set(progress=False)) if it.split == "train"][:10]
    qa = write_qa_set(base / "qa", items, {"source": "test"})
    db = base / "store" / "oracle.duckdb"
    rollout("oracle", qa=qa, db=db, seed=0, k=2, progress=False)
    rollout("random", qa=qa, db=db, seed=0, episodes=3, progress=False)
    shutil.rmtree(qa)  # export must not need the QA set
    out = base / "out"
    stats = export(db, out, ["sft", "rl", "browsecomp"], agent="oracle")
    return {"db": db, "out": out, "stats": stats, "items": {it.id: it for it in items}}


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sft_rows_follow_the_training_format(exported):
    rows = _rows(exported["out"] / "sft.jsonl")
    assert len(rows) == exported["stats"]["selected"]["trajectories"] >= 9
    assert len({r["question_id"] for r in rows}) == len(rows)  # shortest correct per question
    for row in rows:
        item = exported["items"][row["question_id"]]
        assert {t["function"]["name"] for t in row["tools"]} == {
            "medical_search",
            "web_search",
            "browse",
            "answer",
        }
        assert row["n_hops"] == item.n_hops and row["specialty"] == item.specialty
        msgs = row["messages"]
        assert [m["role"] for m in msgs[:2]] == ["system", "user"]
        assert item.question in msgs[1]["content"]
        assert item.answer not in msgs[0]["content"] + msgs[1]["content"]
        for a, t in zip(msgs[2:-1:2], msgs[3:-1:2], strict=True):
            assert a["role"] == "assistant" and a["content"].startswith("<think>")
            call = a["tool_calls"][0]["function"]
            assert isinstance(call["arguments"], dict)
            assert (
                t == {"role": "tool", "name": call["name"], "content": t["content"]}
                and t["content"]
            )
        assert msgs[-1]["role"] == "assistant"
        assert msgs[-1]["content"].endswith("</answer>") and "tool_calls" not in msgs[-1]


def test_sft_rows_round_trip_through_the_tiny_chat_template(exported):
    from datasets import load_from_disk
    from medenv.agents.tiny import tiny_model_path
    from transformers import AutoTokenizer
    from trl.data_utils import is_conversational

    tok = AutoTokenizer.from_pretrained(str(tiny_model_path()))
    ds = load_from_disk(str(exported["out"] / "sft_dataset"))
    rows = _rows(exported["out"] / "sft.jsonl")
    assert len(ds) == len(rows) and {"messages", "tools"} <= set(ds.column_names)
    for row, rec in zip(rows, ds, strict=True):
        assert is_conversational(rec)
        tools = json.loads(rec["tools"])
        assert tools == row["tools"]
        text = tok.apply_chat_template(rec["messages"], tools=tools, tokenize=False)
        for m in row["messages"]:
            if m["role"] == "tool":
                assert f"<tool_response>\n{m['content']}\n</tool_response>" in text
            for c in m.get("tool_calls") or ():
                call = json.dumps(
                    {"name": c["function"]["name"], "arguments": c["function"]["arguments"]},
                    ensure_ascii=False,
                )
                assert f"<tool_call>\n{call}\n</tool_call>" in text
        assert row["messages"][-1]["content"].split("</think>")[-1].strip() in text
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text  # the tokenizer loses nothing


def test_rl_prompts_hide_the_answer(exported):
    rows = _rows(exported["out"] / "rl_prompts.jsonl")
    assert len(rows) == len({r["id"] for r in rows}) == 10
    for row in rows:
        item = exported["items"][row["id"]]
        prompt = json.dumps(row["prompt"])
        assert item.question in row["question"] and row["answer"] == item.answer
        assert item.answer not in prompt and all(
            a not in prompt for a in item.aliases if len(a) > 3
        )


def test_browsecomp_runs_match_the_store(exported):
    from medenv.training.browsecomp_export import numeric_docid

    folder = exported["out"] / "browsecomp"
    files = sorted(folder.glob("run_*.json"))
    assert len(files) == exported["stats"]["selected"]["trajectories"]
    episodes = {(e.run_id, e.episode_id): e for e in load_episodes(exported["db"])}
    for f in files:
        run = json.loads(f.read_text())
        ep = episodes[(run["metadata"]["run_id"], run["metadata"]["episode_id"])]
        assert run["query_id"] == ep.question_id and run["status"] == "completed"
        assert sum(run["tool_call_counts"].values()) == ep.n_tool_calls - 1  # minus the answer
        shown = {numeric_docid(d) for s in ep.steps for d in s.doc_ids}
        assert run["retrieved_docids"] and set(run["retrieved_docids"]) == shown
        assert run["result"][-1]["type"] == "output_text"
        assert run["result"][-1]["output"].endswith(f"\nExact Answer: {ep.prediction}")


def test_stats_add_up_and_are_stored(exported):
    stats = json.loads((exported["out"] / "stats.json").read_text())
    for part in ("recorded", "selected"):
        s = stats[part]
        assert sum(v["trajectories"] for v in s["by_specialty"].values()) == s["trajectories"]
        assert sum(v["trajectories"] for v in s["by_hops"].values()) == s["trajectories"]
    from medenv.events.store import connect

    con = connect(exported["db"])
    n, mean = con.execute(
        "SELECT count(*), avg(n_tool_calls - (prediction IS NOT NULL)::INT) FROM episodes "
        "WHERE agent = 'oracle'"
    ).fetchone()
    con.close()
    assert stats["recorded"]["trajectories"] == n == 20
    assert stats["recorded"]["mean_tool_calls"] == pytest.approx(mean, abs=1e-3)


def test_all_episodes_without_selection_and_hf_schema(exported):
    rows = sft_rows(load_episodes(exported["db"]))
    assert len(rows) == 23  # 10 questions x 2 oracle samples + 3 random episodes
    ds = sft_dataset(rows)  # one Arrow schema for every row, however arguments differ
    assert len(ds) == 23 and isinstance(ds[0]["tools"], str)


def test_minari_export_or_clear_message(exported, tmp_path):
    eps = load_episodes(exported["db"])[:3]
    if not minari_available():
        from medenv.errors import MedenvError

        with pytest.raises(MedenvError, match="medenv\\[minari\\]"):
            write_minari(eps, tmp_path)
        assert "pip install" in MINARI_MISSING
        return
    ds = write_minari(eps, tmp_path)
    assert ds.total_episodes == 3


def test_exported_dataset_trains_in_sft_trainer_as_is(exported, tmp_path):
    """The saved `sft_dataset/` goes to TRL's `SFTTrainer` untouched (extra columns, JSON
    strings and all): its chat template renders it, the loss covers assistant turns only,
    and one optimisation step runs and moves the weights."""
    import os

    import torch
    from datasets import load_from_disk
    from medenv.agents.tiny import tiny_model_path
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    path = str(tiny_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ds = load_from_disk(str(exported["out"] / "sft_dataset"))
    args = SFTConfig(
        output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=1, max_length=None,
        assistant_only_loss=True, learning_rate=1e-3, report_to="none", save_strategy="no",
        disable_tqdm=True, bf16=False,
    )  # fmt: skip
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    prepared = trainer.train_dataset
    assert len(prepared) == len(ds)  # no row dropped
    for row, labels in zip(ds, prepared["labels"], strict=True):
        masked = sum(label == -100 for label in labels)
        assert 0 < masked < len(labels)  # prompt and tool turns masked, assistant turns kept
        kept = tok.decode([t for t in labels if t != -100])
        answer = row["messages"][-1]["content"].split("<answer>")[-1]
        assert answer.endswith("</answer>") and answer in kept  # the final answer is learned
        assert "<tool_response>" not in kept  # tool outputs are never learned
    output = trainer.train()
    assert trainer.state.global_step == 1 and output.training_loss > 0
    # the trainer moves the model to a GPU where there is one
    assert any(not torch.equal(before[k], v.cpu()) for k, v in model.state_dict().items())


def test_minari_export_to_a_relative_folder_twice(exported, tmp_path, monkeypatch):
    """A relative --out (minari used to join it onto itself) and a rerun into the same
    folder (the dataset is replaced, like the other formats' files)."""
    if not minari_available():
        pytest.skip(MINARI_MISSING)
    monkeypatch.chdir(tmp_path)
    eps = load_episodes(exported["db"])[:2]
    assert write_minari(eps, "rel").total_episodes == 2
    assert write_minari(eps[:1], "rel").total_episodes == 1
    assert (tmp_path / "rel" / "minari").is_dir()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--format", ""], "--format is empty"),
        (["--format", " , "], "--format is empty"),
        (["--format", "nope"], "unknown export format 'nope'"),
        (["--max-calls", "0"], "--max-calls must be at least 1, got 0"),
        (["--max-calls", "-3"], "--max-calls must be at least 1, got -3"),
        (["--all", "--max-calls", "4"], "--all keeps every episode: give one"),
        (["--agent", "nope"], "no finished episodes of agent 'nope' (agents: oracle, random)"),
        (["--out", "{tmp}/afile"], "--out {tmp}/afile: is a file, not a folder"),
        (["--out", "{tmp}/afile/sub"], "afile is a file, not a folder"),
    ],
    ids=[
        "empty",
        "commas",
        "unknown",
        "zero-calls",
        "negative-calls",
        "all-and-calls",
        "unknown-agent",
        "out-file",
        "out-under-file",
    ],  # fmt: skip
)
def test_cli_export_bad_arguments_are_one_line(exported, tmp_path, capsys, flags, message):

    (tmp_path / "afile").write_text("x")
    out = tmp_path / "out"
    argv = ["export", "--db", str(exported["db"]), "--out", str(out), "--no-hf"]
    _, err = cli_error(argv + [f.format(tmp=tmp_path) for f in flags], capsys)
    assert message.format(tmp=tmp_path) in err, err
    assert not out.exists()  # nothing written

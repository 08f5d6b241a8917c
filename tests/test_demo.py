"""`medenv demo` end to end on a small question set: every step runs and shows progress."""

from __future__ import annotations

import json
import os
import re

from tests.cli import cli_error

os.environ.setdefault("HF_HUB_OFFLINE", "1")

N = 10  # questions (was 20: every step and check runs the same on fewer)
STEPS = (
    "1/9 knowledge graph",
    "2/9 corpus and search indexes",
    "3/9 question synthesis (KISA)",
    "4/9 MTG (oracle) rollouts",
    "5/9 heuristic baseline (no gold chain) on the same questions",
    "6/9 replay-verify every oracle episode",
    "7/9 SFT export from the event log",
    "8/9 tiny-model SFT",
    "9/9 evaluation",
)


def test_demo_runs_every_step_with_progress(tmp_path, capsys):
    from medenv.cli import main
    from tests.test_sft import torch_threads

    out = tmp_path / "demo"
    with torch_threads():
        assert main(["demo", "--out", str(out), "--n", str(N), "--sft-steps", "2"]) == 0
    captured = capsys.readouterr()
    for title in STEPS:  # a header with the command, then the step's time
        assert f"=== {title}\n$ medenv " in captured.out
        assert re.search(rf"--- {re.escape(title)}: \d+\.\ds", captured.out), title
    # the long steps show live progress bars (stderr): rollouts with accuracy, training steps
    assert re.search(r"rollout oracle: 100%.*acc=\d\.\d{3}, calls=\d", captured.err)
    assert "rollout heuristic" in captured.err
    # the SFT trainer's bar reached its last step (dataset bars count "examples/s")
    assert re.search(r"\| 2/2 \[[^\]]*(s/it|it/s)\]", captured.err)
    assert "SFT done: 2 steps" in captured.out and "demo finished" in captured.out
    assert captured.out.count("metric ") == 1  # the evaluation table
    from medenv.synth.io import read_qa_set

    items = read_qa_set(out / "qa")  # synthesized with the corpus world: evidence per hop
    assert len(items) == N and all(len(i.evidence) == i.n_hops and all(i.evidence) for i in items)
    for path in ("export/sft.jsonl", "export/stats.json", "model/model.safetensors",
                 "report/report.md", "report/accuracy_vs_tool_calls-oracle.png"):  # fmt: skip
        assert (out / path).is_file(), path
    # every demo trajectory of the oracle is grounded, by both implementations of the check
    from medenv.training.export import load_episodes

    from medenv.grounding import LabelIndex, check_episode
    from medenv.kg.cache import load_kg
    from tests.grounding_ref import RefIndex, ref_check

    kg = load_kg("hpo")
    index, ref = LabelIndex.of_kg(kg), RefIndex(kg)
    episodes = load_episodes(out / "runs" / "oracle.duckdb")
    assert len(episodes) == N
    for ep in episodes:
        steps = [(s.text, s.observation) for s in ep.steps]
        assert check_episode(ep.prompt, steps, index).grounded, ep.question_id
        assert ref_check(ep.prompt, steps, ref) == [], ep.question_id
    rows = [json.loads(line) for line in (out / "export" / "sft.jsonl").read_text().splitlines()]
    assert rows and all(r["grounded"] is True for r in rows)  # the export flags each row


def test_demo_bad_arguments_fail_before_any_step(tmp_path, capsys):

    (tmp_path / "afile").write_text("x")
    mine = tmp_path / "mine" / "runs"
    mine.mkdir(parents=True)
    (mine / "experiment.duckdb").write_text("not the demo's")
    theirs = tmp_path / "theirs"  # a report and a QA file of yours where the demo writes
    (theirs / "report").mkdir(parents=True)
    (theirs / "report" / "report.md").write_text("my notes")
    (theirs / "qa").mkdir()
    (theirs / "qa" / "qa.jsonl").write_text("{}")
    cases = [
        (["--n", "5"], "--n must be between 10 and 10,000 for the demo, got 5"),
        # ran the KG and corpus steps, then failed at synthesis
        (["--n", str(10**12)], "--n must be between 10 and 10,000 for the demo, got 10000"),
        (["--sft-steps", "0"], "--sft-steps must be between 1 and 100,000, got 0"),
        (["--sft-steps", "-1"], "--sft-steps must be between 1 and 100,000, got -1"),
        (["--sft-steps", str(10**12)], "--sft-steps must be between 1 and 100,000, got 1000"),
        (["--seed", "-1"], "--seed must be >= 0"),
        # refused only at step 3/9 (synthesis) and 9/9 (evaluation), after the work before
        (["--out", str(theirs)], "holds qa.jsonl, which no medenv synth wrote there"),
        (["--out", str(tmp_path / "afile")], "afile: is a file, not a folder"),
        (["--out", str(tmp_path / "afile" / "d")], "afile is a file, not a folder"),
        (["--out", str(tmp_path / "mine")], "holds files the demo did not write"),
    ]
    for flags, message in cases:
        out, err = cli_error(["demo", "--out", str(tmp_path / "d"), *flags], capsys)
        assert message in err and "===" not in out, err
    assert (mine / "experiment.duckdb").is_file()  # never removed
    (theirs / "qa" / "qa.jsonl").unlink()
    _, err = cli_error(["demo", "--out", str(theirs)], capsys)
    assert "--report " + str(theirs / "report") + " holds report.md, which no medenv eval" in err
    assert sorted(p.name for p in theirs.rglob("*")) == ["qa", "report", "report.md"]
    assert not (tmp_path / "d").exists()

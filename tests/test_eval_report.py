"""Reports (Markdown + PNG plots) and the `medenv eval` command over a real event log."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from medenv import evaluation
from medenv.cli import main
from tests.test_eval import build_log

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = (
    "accuracy_by_hops.png",
    "accuracy_by_specialty.png",
    "tool_calls_hist.png",
    "accuracy_vs_tool_calls.png",
    "accuracy_vs_tool_calls-run-A.png",  # one accuracy-vs-calls plot per run
    "accuracy_vs_tool_calls-run-B.png",
)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("reportlog") / "events.duckdb"
    build_log(path)
    return path


def test_report_files_and_valid_pngs(log, tmp_path):
    result = evaluation.evaluate(log)
    report = evaluation.write_report(result, tmp_path / "report")
    text = report.read_text()
    assert report.name == "report.md"
    for name in PLOTS:
        path = tmp_path / "report" / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        with Image.open(path) as img:
            img.load()
            assert img.format == "PNG" and img.width > 200 and img.height > 100
            # a real plot, not a blank canvas
            assert len(img.convert("L").getcolors(maxcolors=100000)) > 5
        assert f"]({name})" in text
    import matplotlib.image

    assert matplotlib.image.imread(tmp_path / "report" / PLOTS[0]).ndim == 3
    assert "| accuracy | 50.0% | 25.0% |" in text
    assert "## Accuracy by hops" in text and "| 4 | 0.0% (2) |" in text
    assert "neurology" in text and "rare" in text
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert [g["group"] for g in metrics["groups"]] == ["run-A", "run-B"]
    assert sorted(p.name for p in (tmp_path / "report").glob("*.png")) == sorted(PLOTS)


def test_a_second_report_in_the_folder_drops_the_first_ones_other_plots(log, tmp_path):
    # a report of run A alone into a folder that held A and B kept run B's plot beside it
    folder = tmp_path / "report"
    evaluation.write_report(evaluation.evaluate(log), folder)
    (folder / "mine.png").write_bytes(b"not ours")
    evaluation.write_report(evaluation.evaluate(log, runs=["run-A"]), folder)
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs == sorted({*PLOTS, "mine.png"} - {"accuracy_vs_tool_calls-run-B.png"})
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_eval_and_runs_say_which_spool_lines_they_could_not_read(log, tmp_path, capsys):
    # both read a killed writer's spool and skipped a damaged line without a word
    import shutil

    db = tmp_path / "events.duckdb"
    shutil.copy(log, db)
    (tmp_path / "events.duckdb.spool").write_bytes(b"damaged\n")
    note = f"note {db}.spool:1: not an event line; skipped"
    assert main(["eval", "--db", str(db)]) == 0
    assert capsys.readouterr().err.strip() == note
    assert main(["runs", "--db", str(db)]) == 0
    assert capsys.readouterr().err.strip() == note


def test_per_run_plot_names_are_file_safe_and_unique():
    used = {"accuracy_vs_tool_calls.png"}
    names = [
        evaluation.plot_file_name("accuracy_vs_tool_calls", g, used)
        for g in ("run A/1", "run A:1", "..", "oracle")
    ]
    assert names == [
        "accuracy_vs_tool_calls-run_A_1.png",
        "accuracy_vs_tool_calls-run_A_1-2.png",
        "accuracy_vs_tool_calls-group.png",
        "accuracy_vs_tool_calls-oracle.png",
    ]


def test_cli_table_json_report_and_judge(log, tmp_path, capsys):
    assert main(["eval", "--db", str(log)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["metric", "run-A", "run-B"]

    assert main(["eval", "--db", str(log), "--run", "run-A", "--json", "--seed", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [g["group"] for g in data["groups"]] == ["run-A"] and data["seed"] == 3
    assert data["groups"][0]["accuracy"] == 0.5

    rep = tmp_path / "cli-report"
    args = ["eval", "--db", str(log), "--report", str(rep), "--judge", "lexical", "--no-progress"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "4 unmatched answers, 4 new verdicts" in captured.err
    assert "judged accuracy" in captured.out
    assert all((rep / name).is_file() for name in PLOTS) and (rep / "report.md").is_file()

    assert main(["eval", "--db", str(log), "--group-by", "agent", "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("| metric | heuristic | oracle |")


def test_cli_errors_are_one_line(log, tmp_path, capsys):
    assert main(["eval", "--db", str(tmp_path / "missing.duckdb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medenv eval: error:") and err.count("\n") == 1
    assert main(["eval", "--db", str(log), "--run", "nope"]) == 2
    assert "not found" in capsys.readouterr().err


def test_evaluate_a_log_written_by_the_real_env(tmp_path):
    """End to end: episodes played in `MedResearch-v0` (real world, real store) -> metrics."""
    import gymnasium as gym

    import medenv.env  # noqa: F401  (registers MedResearch-v0)
    from medenv.synth.qa import QAItem

    items = [
        QAItem(
            id="t1", question="Which syndrome is caused by FBN1 and shows arachnodactyly?",
            answer="Marfan syndrome", answer_id="OMIM:154700", aliases=("MFS",), n_hops=2,
            optimal_calls=3, specialty="cardiology", rarity=0.7, split="test",
        ),
        QAItem(
            id="t2", question="Which gene is it?", answer="FBN1", answer_id="FBN1", n_hops=3,
            optimal_calls=4, specialty="genetics", rarity=0.2, split="test",
        ),
    ]  # fmt: skip
    db = tmp_path / "events.duckdb"
    env = gym.make("MedResearch-v0", qa=items, db=db, tags={"agent": "scripted"})
    correct = {}
    _, info = env.reset(seed=0, options={"question_id": "t1"})
    search = '<tool_call>{"name": "medical_search", "arguments": {"query": "Marfan"}}</tool_call>'
    for action in (search, "no tool call here", "<answer>Marfan syndrome</answer>"):
        *_, info = env.step(action)
    correct["t1"] = info["correct"]
    env.reset(seed=1, options={"question_id": "t2"})
    *_, info = env.step("<answer>fibrillin</answer>")
    correct["t2"] = info["correct"]
    env.close()
    assert correct == {"t1": True, "t2": False}

    result = evaluation.evaluate(db, group_by="agent")
    g = result.group("scripted")
    # research calls: t1 searched once then answered, t2 answered at once (answers not counted)
    assert (g.n_episodes, g.accuracy, g.mean_tool_calls) == (2, 0.5, 0.5)
    assert g.format_error_rate == 0.25  # 1 of 4 actions rejected
    assert g.tool_call_efficiency == 1.0  # t1: 1 research call, the chain needs 2
    assert {k: (b.n, b.accuracy) for k, b in g.by_rarity.items()} == {
        "common": (1, 0.0),
        "uncommon": (1, 1.0),
    }
    assert {k: b.accuracy for k, b in g.by_specialty.items()} == {
        "cardiology": 1.0,
        "genetics": 0.0,
    }
    assert g.mean_tokens > 20  # the rendered prompt alone is longer than that

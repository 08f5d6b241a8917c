"""External question sets (plain JSONL): round-trip, bad input, and evaluation of a run on one."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

from medenv import evaluation
from medenv.cli import main
from medenv.errors import DataError
from medenv.synth.io import read_qa_set, write_qa_set

EXTERNAL = [
    {"id": "mbc-1", "question": "Which gene is mutated in Marfan syndrome?", "answer": "FBN1",
     "aliases": ["fibrillin 1"]},
    {"id": "mbc-2", "question": "Which syndrome shows arachnodactyly and lens dislocation?",
     "answer": "Marfan syndrome"},
    {"question": "Which inheritance has Marfan syndrome?", "answer": "Autosomal dominant"},
]  # fmt: skip


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_plain_jsonl_round_trips(tmp_path):
    src = tmp_path / "external.jsonl"
    write_jsonl(src, EXTERNAL)
    items = read_qa_set(src)
    assert [(i.question, i.answer, i.aliases) for i in items] == [
        (r["question"], r["answer"], tuple(r.get("aliases", ()))) for r in EXTERNAL
    ]
    assert [i.id for i in items[:2]] == ["mbc-1", "mbc-2"]
    assert items[2].id and items[2].id == read_qa_set(src)[2].id  # stable generated id
    assert all(i.chain == () and i.kg_source == "external" for i in items)
    # back out to the plain format and in again: the same items
    out = tmp_path / "again.jsonl"
    write_jsonl(
        out,
        [
            {"id": i.id, "question": i.question, "answer": i.answer, "aliases": list(i.aliases)}
            for i in items
        ],
    )
    assert read_qa_set(out) == items
    # and through a set folder (qa.jsonl + parquet + manifest)
    folder = write_qa_set(tmp_path / "set", items, {"source": "external"})
    assert read_qa_set(folder) == items


def test_bad_external_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(EXTERNAL[0]) + "\n" + '{"question": "no answer here"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):
        read_qa_set(bad)


def test_run_on_external_set_is_evaluated(tmp_path, capsys):
    """Episodes on an external set in the real env, then `medenv eval --qa`."""
    import medenv.env  # noqa: F401  (registers MedResearch-v0)

    src = tmp_path / "external.jsonl"
    write_jsonl(src, EXTERNAL)
    db = tmp_path / "events.duckdb"
    env = gym.make("MedResearch-v0", qa=str(src), db=db, tags={"agent": "scripted"})
    for qid, answer in (("mbc-1", "fibrillin 1"), ("mbc-2", "Loeys-Dietz syndrome")):
        env.reset(seed=0, options={"question_id": qid})
        env.step(f"<answer>{answer}</answer>")
    env.close()
    g = evaluation.evaluate(db, qa=src).groups[0]
    # answered at once: no research calls (the answer is not counted)
    assert (g.n_episodes, g.accuracy, g.mean_tool_calls) == (2, 0.5, 0.0)
    # no gold chain: no hops, rarity, efficiency or evidence for external items
    assert list(g.by_hops) == ["?"] and list(g.by_rarity) == ["unknown"]
    assert g.tool_call_efficiency is None and g.evidence_recall is None
    assert main(["eval", "--db", str(db), "--qa", str(src), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"][0]["accuracy"] == 0.5


def test_cli_rollout_on_external_set_then_eval(tmp_path, capsys):
    """`medenv rollout --qa FILE.jsonl` runs an agent on a plain JSONL set; `medenv eval`
    scores the log. The oracle needs a gold chain, which external items do not have."""
    src = tmp_path / "external.jsonl"
    write_jsonl(src, EXTERNAL)
    db = tmp_path / "heuristic.duckdb"
    argv = ["rollout", "--agent", "heuristic", "--qa", str(src), "--db", str(db), "--no-progress"]
    assert main(argv) == 0
    assert "ran 3 episodes" in capsys.readouterr().out
    assert main(["eval", "--db", str(db), "--qa", str(src), "--group-by", "agent", "--json"]) == 0
    g = json.loads(capsys.readouterr().out)["groups"][0]
    assert (g["group"], g["n_episodes"], g["n_questions"]) == ("heuristic", 3, 3)
    assert g["tool_call_efficiency"] is None and list(g["by_hops"]) == ["?"]
    from medenv.training.export import load_episodes

    episodes = load_episodes(db)
    assert sorted(ep.question_id for ep in episodes) == sorted(i.id for i in read_qa_set(src))
    assert {ep.answer for ep in episodes} == {r["answer"] for r in EXTERNAL}
    assert main(argv) == 0 and "ran 0 episodes (3 already stored)" in capsys.readouterr().out
    oracle = ["rollout", "--agent", "oracle", "--qa", str(src), "--db", str(tmp_path / "o.duckdb")]
    assert main([*oracle, "--no-progress"]) == 2
    assert "gold chain" in capsys.readouterr().err

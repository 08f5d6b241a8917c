"""The BrowseComp-Plus export read the way upstream ``scripts_evaluation/evaluate_run.py``
reads a run folder (its documented file contract, re-implemented here, not vendored):
``run_*.json`` files, a ground-truth JSONL, TREC qrels, numeric ``[docid]`` citations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from medenv.agents.rollout import rollout
from medenv.training.browsecomp_export import numeric_docid
from medenv.training.export import export, load_episodes


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set, write_qa_set

    base = tmp_path_factory.mktemp("bcp")
    items = [i for i in read_qa_set(default_qa_set(progress=False)) if i.split == "test"][:6]
    qa = write_qa_set(base / "qa", items, {"source": "test"})
    db = base / "o.duckdb"
    rollout("oracle", qa=qa, db=db, seed=0, progress=False)
    export(db, base / "out", ["browsecomp"], select=False)
    return base / "out" / "browsecomp", db, {i.id: i for i in items}


# --- the upstream contract, re-implemented ----------------------------------------------
def load_ground_truth(path: Path) -> dict[str, dict]:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return {str(r["query_id"]): {"question": r["query"], "answer": r["answer"]} for r in rows}


def load_qrels(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            parts = line.split()
            assert len(parts) == 4, line  # the script asserts exactly this
            out.setdefault(parts[0], []).append(parts[2])
    return out


def citations(text: str) -> set[str]:
    """Numbers cited as [n], [n, m], 【n】 or 【n, m】 (nothing else counts)."""
    found: set[str] = set()
    for group in re.findall(r"\[([^\[\]]*?)\]", text) + re.findall(r"【([^【】]*?)】", text):
        found.update(re.findall(r"\d+", group))
    return found


def evaluate(folder: Path, ground_truth: Path, qrels_path: Path) -> list[dict]:
    truth, qrels = load_ground_truth(ground_truth), load_qrels(qrels_path)
    results = []
    for path in sorted(folder.glob("run_*.json")):
        run = json.loads(path.read_text())
        qid = str(run["query_id"])
        assert qid in truth, f"no ground truth for {qid}"
        positives = set(qrels.get(qid, []))
        recall = len(set(run["retrieved_docids"]) & positives) / len(positives)  # upstream
        last = run["result"][-1]
        response = last["output"] if last["type"] == "output_text" else ""
        cited = citations(response)
        results.append({
            "query_id": qid, "completed": run["status"] == "completed", "recall": recall,
            "response": response, "cited": cited,
            "citation_recall": len(cited & positives) / len(positives),
            "citation_precision": len(cited & positives) / len(cited) if cited else 0.0,
        })  # fmt: skip
    return results


# --- tests ------------------------------------------------------------------------------
def test_the_upstream_contract_reads_every_run(run_folder):
    folder, db, items = run_folder
    results = evaluate(folder, folder / "ground_truth.jsonl", folder / "qrel_evidence.txt")
    assert sorted(r["query_id"] for r in results) == sorted(items)
    truth = load_ground_truth(folder / "ground_truth.jsonl")
    for qid, item in items.items():
        assert truth[qid] == {"question": item.question, "answer": item.answer}
    # the same figures from the store, in medenv ids (independent of the export's mapping)
    episodes = {e.question_id: e for e in load_episodes(db)}
    for r in results:
        ep, evidence = (
            episodes[r["query_id"]],
            {d for hop in items[r["query_id"]].evidence for d in hop},
        )
        shown = {d for s in ep.steps for d in s.doc_ids}
        browsed = {d for s in ep.steps if s.name == "browse" for d in s.doc_ids}
        assert r["completed"] == ep.terminated
        assert r["recall"] == pytest.approx(len(shown & evidence) / len(evidence))
        assert r["citation_recall"] == pytest.approx(len(browsed & evidence) / len(evidence))
        assert r["response"].endswith(f"Exact Answer: {ep.prediction}")
    assert sum(r["recall"] for r in results) > 0 and any(r["cited"] for r in results)


def test_doc_ids_are_numbers_mapped_from_the_stores_ids(run_folder):
    folder, db, items = run_folder
    mapping = dict(line.split("\t") for line in (folder / "docid_map.tsv").read_text().splitlines())
    assert all(n.isdigit() for n in mapping) and len(set(mapping.values())) == len(mapping)
    qrels = load_qrels(folder / "qrel_evidence.txt")
    for qid, item in items.items():  # qrels are each question's evidence pages
        expected = {d for hop in item.evidence for d in hop}
        assert {mapping[n] for n in qrels[qid]} == expected
    episodes = {e.question_id: e for e in load_episodes(db)}
    for path in folder.glob("run_*.json"):
        run = json.loads(path.read_text())
        ep = episodes[run["query_id"]]
        shown = {d for s in ep.steps for d in s.doc_ids}
        assert {mapping[n] for n in run["retrieved_docids"]} == shown
        browsed = {d for s in ep.steps if s.name == "browse" for d in s.doc_ids}
        assert {mapping[n] for n in citations(run["result"][-1]["output"])} == browsed
    assert all(numeric_docid(d) == n for n, d in mapping.items())  # stable across exports

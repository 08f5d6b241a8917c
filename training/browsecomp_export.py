"""Episodes as a BrowseComp-Plus run folder that its ``scripts_evaluation/evaluate_run.py``
reads as is: ``--input_dir out/browsecomp --ground_truth out/browsecomp/ground_truth.jsonl
--qrel_evidence out/browsecomp/qrel_evidence.txt``.

The file contract (from the upstream script; nothing of it is vendored here):

- ``run_<query_id>.json`` (the script globs ``run_*.json``): ``query_id``, ``status``
  (``"completed"`` when the episode answered), ``retrieved_docids``, ``tool_call_counts``,
  ``result`` (reasoning / tool_call items, then the ``output_text`` response, which must be
  the last item) and ``metadata`` (``model`` names the agent);
- ``ground_truth.jsonl``: one ``{"query_id", "query", "answer"}`` per query;
- ``qrel_evidence.txt``: TREC qrels, 4 whitespace-separated fields ``qid 0 docid 1``, one
  line per evidence document of each query (the script divides by their count, so every
  exported query has at least one);
- doc ids are the decimal strings the script counts: its citation parser reads only
  numbers in ``[...]``/``【...】``. Each medenv doc id (``med:HP:0001250``...) maps to a
  stable integer (`numeric_docid`: 48 bits of its SHA-256), listed in ``docid_map.tsv``
  (``number<TAB>medenv id``). The response is ``Explanation: ... [n] ...`` citing the
  pages the agent opened (``browse``), then ``Exact Answer: <prediction>``.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from medenv.agents.text import split_action

from medenv.errors import MedenvError
from medenv.events.store import connect
from medenv.paths import write_file


def numeric_docid(doc_id: str) -> str:
    """The decimal id BrowseComp-Plus counts for medenv doc id ``doc_id`` (stable)."""
    return str(int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:12], 16))


def browsecomp_run(ep: Any, ids: dict[str, str]) -> dict:
    """One query's run in BrowseComp-Plus's per-query JSON format (numeric doc ids)."""
    counts: dict[str, int] = defaultdict(int)
    retrieved: list[str] = []
    opened: list[str] = []
    result: list[dict] = []
    for s in ep.steps:
        think, _, _ = split_action(s.text)
        if think:
            result.append({"type": "reasoning", "output": [think]})
        if s.name and s.name != "answer":
            counts[s.name] += 1
            for d in s.doc_ids:
                if ids[d] not in retrieved:
                    retrieved.append(ids[d])
                if s.name == "browse" and ids[d] not in opened:
                    opened.append(ids[d])
            result.append(
                {
                    "type": "tool_call",
                    "tool_name": s.name,
                    "arguments": json.dumps(s.arguments, ensure_ascii=False),
                    "output": s.observation or "",
                }
            )
    final = ep.prediction or ""
    cited = " ".join(f"[{d}]" for d in opened)
    explanation = f"Explanation: from the pages read {cited}" if cited else "Explanation: -"
    result.append({"type": "output_text", "output": f"{explanation}\nExact Answer: {final}"})
    return {
        "query_id": ep.question_id,
        "tool_call_counts": dict(sorted(counts.items())),
        "status": "completed" if ep.terminated else "incomplete",
        "retrieved_docids": retrieved,
        "result": result,
        "metadata": {
            "model": ep.agent,
            "agent": ep.agent,
            "run_id": ep.run_id,
            "episode_id": ep.episode_id,
            "final_answer": final,
            "correct": ep.correct,
        },
    }


def episode_items(db: Any) -> dict[tuple[str, str], dict]:
    """``(run_id, episode_id) -> item`` (the `QAItem` each episode_started logged)."""
    from medenv.training.export import store_paths

    con = connect([str(p) for p in store_paths(db)])
    try:
        rows = con.execute(
            "SELECT run_id, episode_id, CAST(payload->'$.item' AS VARCHAR) FROM events "
            "WHERE type = 'episode_started'"
        ).fetchall()
    finally:
        con.close()
    return {(r, e): json.loads(item) if item else {} for r, e, item in rows}


def write_browsecomp(records: list, out: str | Path, db: Any = None) -> Path:
    """``out/browsecomp/``: ``run_<query_id>.json`` per query (the last record wins), plus
    ``ground_truth.jsonl``, ``qrel_evidence.txt`` and ``docid_map.tsv`` (module docstring).
    ``db``: the store the records came from (questions and evidence); without it only the
    run files are written."""
    folder = Path(out) / "browsecomp"
    folder.mkdir(parents=True, exist_ok=True)
    items = episode_items(db) if db is not None else {}
    by_query: dict[str, Any] = {}
    for ep in records:
        by_query[ep.question_id] = ep
    truth, qrels, every = [], [], set()
    for qid, ep in by_query.items():
        item = items.get((ep.run_id, ep.episode_id)) or {}
        evidence = sorted({d for hop in item.get("evidence") or () for d in hop})
        every.update(evidence)
        every.update(d for s in ep.steps for d in s.doc_ids)
        if item:
            if not evidence:
                raise MedenvError(f"question {qid} has no evidence documents to write as qrels")
            truth.append({"query_id": qid, "query": item["question"], "answer": ep.answer})
            qrels += [(qid, d) for d in evidence]
    ids = {d: numeric_docid(d) for d in sorted(every)}
    if len(set(ids.values())) != len(ids):
        raise MedenvError("two doc ids map to one BrowseComp-Plus number; report this")
    for qid, ep in by_query.items():
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in qid)
        write_file(
            folder / f"run_{safe}.json",
            json.dumps(browsecomp_run(ep, ids), indent=1, ensure_ascii=False),
        )
    if items:
        write_file(
            folder / "ground_truth.jsonl",
            "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in truth),
        )
        write_file(
            folder / "qrel_evidence.txt", "".join(f"{qid} 0 {ids[d]} 1\n" for qid, d in qrels)
        )
        write_file(
            folder / "docid_map.tsv",
            "".join(f"{n}\t{d}\n" for d, n in sorted(ids.items(), key=lambda kv: int(kv[1]))),
        )
    return folder

"""Bring your own KG, end to end through the CLI: an edge list written from the shared
Hetionet slice goes through ``kg stats -> corpus build -> synth -> corpus check -> rollout
-> replay --verify -> eval -> export``; only the commands that build a world get the KG
flags, the others rebuild it from the run's record (`medenv.worldspec`)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import duckdb
import pytest

from medenv.cli import main
from tests.cli import cli_error

# the small clinical metaedges of the slice (every edge of each), as the edge list's relations
KEEP = {"CtD": "treats", "CpD": "palliates", "DpS": "presents", "DrD": "resembles",
        "PCiC": "includes", "DlA": "localizes"}  # fmt: skip
TYPES = "disease,compound,symptom"


def write_edge_list(slice_dir: Path, out: Path) -> tuple[int, set[str]]:
    """The slice's clinical edges as a simple-layout edge list; (edges, node ids)."""
    nodes = {}
    with open(slice_dir / "nodes.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            nodes[row["id"]] = (row["name"], row["kind"].lower().replace(" ", "_"))
    edges, ids = 0, set()
    with (
        gzip.open(slice_dir / "edges-5k.sif.gz", "rt", encoding="utf-8") as fh,
        out.open("w", newline="", encoding="utf-8") as dst,
    ):
        w = csv.writer(dst)
        w.writerow(["source", "relation", "target", "source_type", "target_type",
                    "source_name", "target_name"])  # fmt: skip
        for row in csv.DictReader(fh, delimiter="\t"):
            relation = KEEP.get(row["metaedge"])
            if relation is None:
                continue
            s, t = row["source"], row["target"]
            w.writerow([s, relation, t, nodes[s][1], nodes[t][1], nodes[s][0], nodes[t][0]])
            edges += 1
            ids.update((s, t))
    return edges, ids


def cli(argv: list[str]) -> str:
    """``medenv argv`` (must exit 0); its stdout."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    assert code == 0, (argv, err.getvalue()[-2000:])
    return out.getvalue()


@pytest.fixture(scope="module")
def byo(shared_data, tmp_path_factory):
    """Runs the whole path once (in a fresh MEDENV_HOME, the edge list given by a path
    relative to the working folder); yields what each step printed or wrote."""
    root = tmp_path_factory.mktemp("byo")
    (root / "data").mkdir()
    n_edges, ids = write_edge_list(shared_data / "hetionet-slice", root / "data" / "kg.csv")
    mp = pytest.MonkeyPatch()
    mp.setenv("MEDENV_HOME", str(root / "home"))
    mp.chdir(root / "data")
    kg_flags = ["--source", "edgelist", "--path", "kg.csv"]  # relative to the data folder
    qa, db, exp = root / "qa", root / "runs" / "oracle.duckdb", root / "export"
    absolute = ["--source", "edgelist", "--path", str(root / "data" / "kg.csv")]
    out: dict = {"root": root, "n_edges": n_edges, "ids": ids, "flags": absolute,
                 "qa": qa, "db": db, "exp": exp}  # fmt: skip
    try:
        out["stats"] = json.loads(cli(["kg", "stats", *kg_flags, "--json"]))
        out["corpus"] = json.loads(cli(["corpus", "build", *kg_flags, "--json"]))
        out["synth"] = cli(["synth", *kg_flags, "--n", "10", "--max-hops", "3", "--out", str(qa),
                            "--answer-type", TYPES, "--seed-type", TYPES, "--no-progress"])  # fmt: skip
        out["check"] = json.loads(cli(["corpus", "check", *kg_flags, "--qa", str(qa), "--json"]))
        out["rollout"] = json.loads(cli(["rollout", *kg_flags, "--agent", "oracle", "--qa",
                                         str(qa), "--db", str(db), "--json", "--no-progress"]))  # fmt: skip
        mp.chdir(root)  # the run recorded an absolute path: no KG flags from here on
        out["replay"] = cli(["replay", "--db", str(db), "--verify"])
        out["eval"] = json.loads(cli(["eval", "--db", str(db), "--qa", str(qa), "--json",
                                      "--no-progress", "--bootstrap", "50"]))  # fmt: skip
        out["export"] = cli(["export", "--db", str(db), "--out", str(exp), "--format",
                             "sft,rl,browsecomp", "--no-hf"])  # fmt: skip
        yield out
    finally:
        mp.undo()


def test_kg_stats_counts_match_the_written_file_and_credit_the_user(byo):
    stats = byo["stats"]
    assert stats["source"] == "edgelist" and stats["version"].startswith("kg.csv@")
    assert stats["edges"] == byo["n_edges"] and stats["nodes"] == len(byo["ids"])
    [line] = stats["credits"]
    assert "User-supplied edge list (kg.csv@" in line and "PrimeKG" not in line
    assert byo["corpus"]["medical_pages"] == stats["nodes"]
    assert byo["corpus"]["source"] == "edgelist" and byo["corpus"]["credits"] == [line]


def test_synth_items_have_specialties_and_every_hop_is_answerable(byo):
    items = [json.loads(x) for x in (byo["qa"] / "qa.jsonl").read_text().splitlines()]
    assert len(items) == 10
    assert {i["kg_source"] for i in items} == {"edgelist"}
    specialties = Counter(i["specialty"] for i in items)
    assert sum(n for s, n in specialties.items() if s != "general") >= 5, specialties
    assert byo["check"]["answerable"] == byo["check"]["with_chain"] == 10


def test_the_run_records_the_world_and_replay_rebuilds_it_without_flags(byo):
    assert byo["rollout"]["ran"] == 10 and byo["rollout"]["accuracy"] >= 0.8
    con = duckdb.connect(str(byo["db"]), read_only=True)
    try:
        [(config,)] = con.execute(
            "SELECT payload->'$.config' FROM events WHERE type = 'run_started'"
        ).fetchall()
    finally:
        con.close()
    world = json.loads(config)["world"]
    assert world["source"] == "edgelist"
    assert world["path"] == str(byo["root"] / "data" / "kg.csv")  # absolute
    assert os.path.isabs(world["path"])
    assert "verified 10 episode(s): 10 ok, 0 failed" in byo["replay"]


def test_eval_and_export_check_groundedness_against_the_recorded_graph(byo):
    [group] = byo["eval"]["groups"]
    assert group["n_episodes"] == 10 and group["accuracy"] == byo["rollout"]["accuracy"]
    assert group["grounded"] is not None and group["grounded"] > 0.5
    rows = [json.loads(x) for x in (byo["exp"] / "sft.jsonl").read_text().splitlines()]
    assert rows and all(r["grounded"] is not None for r in rows)
    assert (byo["exp"] / "rl_prompts.jsonl").is_file()


def test_another_graphs_question_set_is_refused_with_one_line(byo, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    lines = (byo["qa"] / "qa.jsonl").read_text().splitlines()
    items = [json.loads(x) for x in lines]
    for i in items:
        i["kg_version"] = "another.csv@000000000000"
    (other / "qa.jsonl").write_text("\n".join(json.dumps(i) for i in items) + "\n")
    _, err = cli_error(["corpus", "check", *byo["flags"], "--qa", str(other)], capsys)
    assert "another.csv@000000000000 graph but the world is edgelist kg.csv@" in err
    _, err = cli_error(["eval", "--db", str(byo["db"]), "--qa", str(other)], capsys)
    assert "is not the runs'" in err and "another.csv@000000000000" in err
    # the right set, but no KG flags: the default (HPO) world is not the set's
    _, err = cli_error(["corpus", "check", "--qa", str(byo["qa"])], capsys)
    assert "built from the edgelist kg.csv@" in err and "but the world is hpo" in err


def test_train_grpo_takes_the_kg_flags_and_asks_for_the_graphs_qa_set(byo, tmp_path, capsys):
    argv = ["train", "grpo", *byo["flags"], "--out", str(tmp_path / "m"), "--max-steps", "1"]
    _, err = cli_error(argv, capsys)
    assert "--source edgelist needs --qa (a set synthesized from that graph)" in err
    assert not (tmp_path / "m").exists()


def test_a_minari_export_recovers_the_edge_list_world(byo, tmp_path, monkeypatch):
    """The export's env_spec carries the recorded world spec: Minari's
    ``recover_environment()`` rebuilds the env over the same edge list (the rollout passed
    its questions inline, so the QA set is given, as Minari's kwargs allow)."""
    minari = pytest.importorskip("minari", reason="needs medenv[minari]")
    from medenv.training.export import export, load_episodes

    stats = export(byo["db"], tmp_path, ["minari"])
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    dataset = minari.load_dataset(Path(stats["files"]["minari"]).name)
    env = dataset.recover_environment(db=None, qa=str(byo["qa"]))
    record = load_episodes(byo["db"])[0]
    obs, _ = env.reset(seed=0, options={"question_id": record.question_id})
    assert obs == record.prompt
    assert env.unwrapped.world.kg.source == "edgelist"
    assert env.unwrapped.config["world"]["path"] == str(byo["root"] / "data" / "kg.csv")
    env.close()


def test_a_served_session_runs_in_the_edge_list_world_and_replays(byo, tmp_path):
    """`medenv serve`'s sessions over the spec the KG flags give; the served store
    replays without flags."""
    pytest.importorskip("fastapi", reason="needs the serve extra")
    pytest.importorskip("uvicorn", reason="needs the serve extra")
    from medenv.serve import Sessions
    from medenv.serve_client import RemoteEnv
    from medenv.worldspec import WorldSpec
    from tests.serve_load import start_server

    items = [json.loads(x) for x in (byo["qa"] / "qa.jsonl").read_text().splitlines()]
    spec = WorldSpec.of("edgelist", byo["root"] / "data" / "kg.csv")
    db = tmp_path / "served.duckdb"
    sessions = Sessions(db, max_sessions=2,
                        env_kwargs={"qa": str(byo["qa"]), "world": spec, "source": "edgelist"})  # fmt: skip
    try:
        with start_server(sessions) as url:
            env = RemoteEnv(url)
            obs, info = env.reset(seed=0, options={"question_id": items[0]["id"]})
            assert items[0]["question"] in obs
            _, reward, terminated, *_ = env.step(f"<answer>{items[0]['answer']}</answer>")
            assert terminated and reward > 0
            env.close()
    finally:
        sessions.shutdown()
    assert "verified 1 episode(s): 1 ok, 0 failed" in cli(["replay", "--db", str(db), "--verify"])

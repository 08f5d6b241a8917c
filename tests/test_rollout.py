"""Rollouts: resume after a crash, k samples, worker shards, the CLI."""

from __future__ import annotations

import functools
import json

import pytest
from medenv.agents.jobs import plan_jobs
from medenv.agents.rollout import AgentSpec, rollout
from medenv.training.export import load_episodes, select_episodes

from medenv.errors import MedenvError
from medenv.events.store import connect
from tests.cli import cli_error


@pytest.fixture(scope="module")
def items():
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set

    return [it for it in read_qa_set(default_qa_set(progress=False)) if it.split == "train"][:12]


class CrashingOracle:
    """The real oracle that raises in the middle of its ``crash_at``-th episode."""

    name = "oracle"

    def __init__(self, world, crash_at: int) -> None:
        from medenv.agents.oracle import OracleAgent

        self.inner = OracleAgent(world)
        self.crash_at = crash_at
        self.episodes = 0

    def reset(self, item=None, seed=None):
        self.episodes += 1
        self.inner.reset(item, seed)

    def act(self, observation, info):
        if self.episodes == self.crash_at and info["step"] == 1:
            raise RuntimeError("worker crashed")
        return self.inner.act(observation, info)


def _crashing(world, crash_at):
    return CrashingOracle(world, crash_at)


_crashing.agent_name = "oracle"


def test_resume_after_a_crash_runs_only_what_is_missing(items, tmp_path):
    db = tmp_path / "r.duckdb"
    factory = functools.partial(_crashing, crash_at=5)
    factory.agent_name = "oracle"
    with pytest.raises(RuntimeError, match="worker crashed"):
        rollout(factory, qa=items, episodes=10, db=db, seed=7, progress=False)
    recorded = load_episodes(db, ended_only=False)
    assert len(recorded) == 5
    done = [ep for ep in recorded if ep.terminated or ep.truncated]
    assert len(done) == 4  # the 5th episode was cut off by the crash: it will be rerun
    again = rollout("oracle", qa=items, episodes=10, db=db, seed=7, progress=False)
    assert (again.skipped, again.ran) == (4, 6)
    finished = [ep for ep in load_episodes(db) if ep.terminated]
    assert sorted(ep.question_id for ep in finished) == sorted(it.id for it in items[:10])
    # the resumed episodes are the planned ones (same per-episode seeds)
    planned = {(j.question_id, j.seed) for j in plan_jobs([it.id for it in items], 10, 1, 7)}
    assert {(ep.question_id, ep.seed) for ep in finished} == planned
    assert rollout("oracle", qa=items, episodes=10, db=db, seed=7, progress=False).ran == 0


def test_k_samples_and_rejection_sampling(items, tmp_path):
    db = tmp_path / "k.duckdb"
    res = rollout(
        AgentSpec("oracle", {"web_first": 0.5}), qa=items[:4], db=db, seed=0, k=3, progress=False
    )
    assert res.ran == 12
    eps = load_episodes(db)
    assert len({(ep.question_id, ep.seed) for ep in eps}) == 12
    chosen = select_episodes(eps)
    assert len(chosen) == len({ep.question_id for ep in eps if ep.correct})
    for ep in chosen:
        rivals = [e for e in eps if e.question_id == ep.question_id and e.correct]
        assert ep.n_tool_calls == min(e.n_tool_calls for e in rivals)
    assert select_episodes(eps, max_tool_calls=2) == [] or all(
        e.n_tool_calls - 1 <= 2 for e in select_episodes(eps, max_tool_calls=2)
    )  # research calls: the answer call is not counted


def test_parallel_workers_write_shards_read_together(items, tmp_path):
    db = tmp_path / "p.duckdb"
    res = rollout("oracle", qa=items[:6], db=db, workers=2, seed=1, progress=False)
    assert res.ran == 6 and len(res.db) == 2
    eps = load_episodes(db)
    assert sorted(ep.question_id for ep in eps) == sorted(it.id for it in items[:6])
    con = connect(db)  # one run, written by two workers (one shard each)
    try:
        assert con.execute("SELECT count(*), sum(n_writers) FROM runs").fetchone() == (1, 2)
        assert con.execute("SELECT count(DISTINCT run_id) FROM episodes").fetchone() == (1,)
    finally:
        con.close()
    serial = tmp_path / "s.duckdb"
    rollout("oracle", qa=items[:6], db=serial, workers=1, seed=1, progress=False)
    texts = {ep.question_id: [s.text for s in ep.steps] for ep in load_episodes(serial)}
    assert {ep.question_id: [s.text for s in ep.steps] for ep in eps} == texts


def test_bad_arguments_are_clear(items, tmp_path):
    with pytest.raises(MedenvError, match="unknown agent"):
        rollout("nope", qa=items, db=tmp_path / "x.duckdb", progress=False)
    with pytest.raises(MedenvError, match="k >= 1"):
        rollout("oracle", qa=items, db=tmp_path / "x.duckdb", k=0, progress=False)
    with pytest.raises(MedenvError, match="needs a model"):
        rollout("llm", qa=items[:1], db=tmp_path / "y.duckdb", progress=False)
    with pytest.raises(MedenvError, match="workers must be at least 1, got 0"):
        rollout("oracle", qa=items, db=tmp_path / "x.duckdb", workers=0, progress=False)
    with pytest.raises(MedenvError, match="more than one rollout plans"):
        rollout("oracle", qa=items, db=tmp_path / "x.duckdb", episodes=10**8, progress=False)
    (tmp_path / "afile").write_text("")
    with pytest.raises(MedenvError, match="afile is a file, not a folder"):
        rollout("oracle", qa=items, db=tmp_path / "afile" / "x.duckdb", progress=False)
    with pytest.raises(MedenvError, match="is a folder, not a file"):
        rollout("oracle", qa=items, db=tmp_path, progress=False)
    # the oracle follows gold chains: a set without them is refused before anything runs
    ext = tmp_path / "ext.jsonl"
    ext.write_text('{"question": "Which gene?", "answer": "FBN1"}\n')
    with pytest.raises(
        MedenvError, match=r"oracle agent needs questions with a gold chain; 1 of 1"
    ):
        rollout("oracle", qa=ext, db=tmp_path / "z.duckdb", progress=False)
    # bad agents and models fail before the env opens the store: no junk run is left
    with pytest.raises(MedenvError, match="no model folder at /nonexistent/model"):
        rollout(AgentSpec("llm", {"model": "/nonexistent/model"}), qa=items[:1],
                db=tmp_path / "z.duckdb", progress=False)  # fmt: skip
    assert not list(tmp_path.glob("*.duckdb"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "workers must be at least 1, got 0"),
        (["--workers", str(10**12)], "--workers 1,000,000,000,000 is more processes than"),
        (["--max-steps", "-1"], "--max-steps must be 1 to 1,000,000, got -1"),
        (["--model", "tiny"], "--model only applies to --agent llm, not --agent oracle"),
        (["--max-new-tokens", "9"], "--max-new-tokens only applies to --agent llm"),
        (["--agent", "llm", "--model", "x", "--max-new-tokens", "0"], "--max-new-tokens must be"),
        (["--agent", "llm", "--model", "nope:x"], "unknown model backend 'nope'"),
        (["--db", "{tmp}"], "is a folder, not a file"),
        (["--qa", "{tmp}/qa/qa.parquet"], "qa.parquet: a Parquet file"),
        (["--explore", "1.5"], "--explore must be between 0 and 1, got 1.5"),
        (["--agent", "heuristic", "--explore", "0.2"], "--explore only applies to --agent oracle"),
        (["--guidance"], "--guidance only applies to --agent llm, not --agent oracle"),
    ],
    ids=[
        "workers",
        "huge-workers",
        "max-steps",
        "model",
        "max-new-tokens",
        "zero-tokens",
        "backend",
        "db-dir",
        "parquet",
        "explore-range",
        "explore-agent",
        "guidance-agent",
    ],  # fmt: skip
)
def test_cli_rollout_bad_arguments_are_one_line(items, tmp_path, capsys, flags, message):
    from medenv.synth.io import write_qa_set

    qa = write_qa_set(tmp_path / "qa", items[:2], {"source": "test"})
    argv = ["rollout", "--qa", str(qa), "--db", str(tmp_path / "r.duckdb"), "--no-progress"]
    _, err = cli_error(argv + [f.format(tmp=tmp_path) for f in flags], capsys)
    assert message in err, err
    assert not (tmp_path / "r.duckdb").exists()


def test_cli_rollout_then_export(items, tmp_path, capsys):
    from medenv.cli import main
    from medenv.synth.io import write_qa_set

    qa = write_qa_set(tmp_path / "qa", items[:3], {"source": "test"})
    db = tmp_path / "cli.duckdb"
    assert (
        main(["rollout", "--agent", "oracle", "--qa", str(qa), "--db", str(db), "--no-progress"])
        == 0
    )
    assert "ran 3 episodes" in capsys.readouterr().out
    assert (
        main(["rollout", "--agent", "oracle", "--qa", str(qa), "--db", str(db), "--no-progress"])
        == 0
    )
    assert "ran 0 episodes (3 already stored)" in capsys.readouterr().out
    out = tmp_path / "out"
    assert (
        main(["export", "--db", str(db), "--out", str(out), "--format", "sft,rl", "--no-hf"]) == 0
    )
    text = capsys.readouterr().out
    assert (
        "trajectories 3" in text
        and (out / "sft.jsonl").is_file()
        and (out / "stats.json").is_file()
    )
    assert main(["export", "--db", str(tmp_path / "none.duckdb"), "--out", str(out)]) == 2


def test_progress_bar_shows_live_accuracy_and_mean_calls(items, tmp_path, capsys):
    import re

    res = rollout("oracle", qa=items[:3], db=tmp_path / "bar.duckdb", seed=0, progress=True)
    err = capsys.readouterr().err
    assert "rollout oracle" in err and "3/3" in err
    shown = re.findall(r"acc=(\d\.\d{3}), calls=(\d+\.\d{2})", err)
    assert shown  # the postfix is updated after every episode
    acc, calls = shown[-1]  # the last update is the whole run's figures
    assert float(acc) == pytest.approx(res.accuracy, abs=1e-3)
    assert float(calls) == pytest.approx(res.mean_tool_calls, abs=1e-2)


def test_cli_explore_labels_episodes_and_export_keeps_correct_grounded_recoveries(tmp_path, capsys):
    """`rollout --explore 0.3` then `export --grounded-only`: about 30% of the kept
    trajectories check and reject a wrong candidate; all are correct and grounded."""
    from medenv.cli import main
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set, write_qa_set

    # exploring tries a candidate that fails a clue the question *names* at that node, so
    # items quoting a constraint entity besides the seed (the level-2 set describes most)
    items = [
        it
        for it in read_qa_set(default_qa_set(progress=False))
        if it.split == "train" and it.question.count('"') >= 4
    ]
    qa = write_qa_set(tmp_path / "qa", items[100:140], {"source": "test"})
    db = tmp_path / "explore.duckdb"
    argv = ["rollout", "--qa", str(qa), "--db", str(db), "--explore", "0.3", "--no-progress"]
    assert main(argv) == 0
    eps = load_episodes(db)
    planned = sum(bool(ep.tags["explore"]) for ep in eps)
    assert len(eps) == 40 and 6 <= planned <= 20  # each episode labelled with the plan
    out = tmp_path / "out"
    argv = ["export", "--db", str(db), "--out", str(out), "--grounded-only", "--no-hf"]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "sft.jsonl").read_text().splitlines()]
    assert len(rows) >= 36
    assert all(r["grounded"] is True and r["guided"] is False for r in rows)
    share = sum(r["recovered"] for r in rows) / len(rows)
    assert 0.1 <= share <= 0.5, share  # level 2 names fewer clues a wrong candidate can fail
    kept = {r["question_id"] for r in rows}
    assert all(ep.correct for ep in eps if ep.question_id in kept)
    _, err = cli_error(["export", "--db", str(db), "--out", str(out), "--all", "--diverse"], capsys)
    assert "--diverse selects trajectories" in err


def test_diverse_selection_keeps_distinct_correct_paths(items, tmp_path):
    db = tmp_path / "k.duckdb"
    rollout(AgentSpec("oracle", {"explore": 0.5}), qa=items[:6], db=db, seed=0, k=3, progress=False)
    eps = load_episodes(db)
    chosen = select_episodes(eps, diverse=True)
    shortest = select_episodes(eps)
    assert len(chosen) > len(shortest)
    for qid in {ep.question_id for ep in chosen}:
        mine = [ep for ep in chosen if ep.question_id == qid]
        paths = {
            tuple((s.name, json.dumps(s.arguments, sort_keys=True)) for s in ep.steps)
            for ep in mine
        }
        assert len(paths) == len(mine) and all(ep.correct for ep in mine)
        rivals = [ep for ep in eps if ep.question_id == qid and ep.correct]
        assert len(mine) == len(
            {
                tuple((s.name, json.dumps(s.arguments, sort_keys=True)) for s in ep.steps)
                for ep in rivals
            }
        )

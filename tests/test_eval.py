"""Evaluation metrics on a hand-built event log, written through the real EventStore.

The log (two runs, exact outcomes chosen by hand) is in ``build_log``; every expected value
below is worked out from that table, not from the code under test.
"""

from __future__ import annotations

import json
import math

import pytest

from medenv import evaluation
from medenv.errors import MedenvError
from medenv.events.schema import (
    ActionReceived,
    ActionRejected,
    AnswerSubmitted,
    EpisodeEnded,
    EpisodeStarted,
    RewardAssigned,
    RunStarted,
    ToolCalled,
    ToolReturned,
)
from medenv.events.store import EventStore, connect
from tests.cli import cli_error

PROMPT = "Which disease is it?"  # 4 whitespace tokens
QUESTIONS = {
    # id: (specialty, hops, optimal calls, rarity, answer, aliases)
    "q1": ("cardiology", 2, 3, 0.3, "Marfan syndrome", ["MFS"]),
    "q2": ("neurology", 3, 4, 0.6, "Cerebellar ataxia", []),
    "q3": ("neurology", 4, 5, 0.9, "Gene X", []),
}
# (episode id, question, correct, tool calls, rejected actions, evidence recall, answer or
# None (truncated), ended)
RUN_A = [
    ("A-1", "q1", True, 3, 0, 1.0, "Marfan syndrome", True),
    ("A-2", "q1", True, 6, 1, 0.5, "MFS", True),
    ("A-3", "q2", True, 4, 0, 1.0, "Cerebellar ataxia", True),
    ("A-4", "q2", False, 2, 0, 0.0, "ataxia, cerebellar", True),
    ("A-5", "q3", False, 5, 2, 0.25, "Gene Y", True),
    ("A-6", "q3", False, 8, 0, 0.0, None, True),
]
RUN_B = [
    ("B-1", "q1", True, 2, 0, 1.0, "Marfan syndrome", True),
    ("B-2", "q2", False, 3, 0, 0.0, "Ataxia", True),
    ("B-3", "q3", False, 1, 0, 0.0, "X gene", True),
    ("B-4", "q1", False, 1, 0, 0.0, None, False),  # never ended (writer stopped)
]
ACTION = "I will call a tool"  # 5 tokens
REJECTED = "garbled"  # 1 token
OBS = "page text here"  # 3 tokens
ERROR = "Error (no_call): write a tool call"  # 6 tokens


def write_episode(store: EventStore, spec, agent: str) -> None:
    ep, qid, correct, calls, rejected, recall, answer, ended = spec
    specialty, hops, optimal, rarity, gold, aliases = QUESTIONS[qid]
    store.emit(
        EpisodeStarted(
            question_id=qid, seed=0, split="test", specialty=specialty, n_hops=hops,
            optimal_calls=optimal, answer=gold, aliases=aliases, prompt=PROMPT,
            config_hash="cfg", tags={"agent": agent}, item={"id": qid, "rarity": rarity},
        ),
        ep,
    )  # fmt: skip
    step = 0
    for _ in range(rejected):
        store.emit(ActionReceived(step=step, text=REJECTED), ep)
        store.emit(
            ActionRejected(step=step, kind="no_call", message="no tool call", observation=ERROR),
            ep,
        )
        step += 1
    searches = calls - 1 if answer is not None else calls
    for _ in range(searches):
        store.emit(ActionReceived(step=step, text=ACTION), ep)
        store.emit(ToolCalled(step=step, name="medical_search", arguments={"query": "x"}), ep)
        store.emit(
            ToolReturned(
                step=step, name="medical_search", observation=OBS, latency_ms=1.0, doc_ids=[]
            ),
            ep,
        )
        step += 1
    if answer is not None:
        store.emit(ActionReceived(step=step, text=f"<answer>{answer}</answer>"), ep)
        store.emit(ToolCalled(step=step, name="answer", arguments={"answer": answer}), ep)
        store.emit(AnswerSubmitted(step=step, answer=answer), ep)
        step += 1
    store.commit()
    if not ended:
        return
    store.emit(
        RewardAssigned(
            accuracy=float(correct), format=0.0, efficiency=0.0, total=float(correct),
            correct=correct, evidence_recall=recall, weights={},
        ),
        ep,
    )  # fmt: skip
    store.emit(
        EpisodeEnded(
            steps=step, terminated=answer is not None, truncated=answer is None,
            n_tool_calls=calls, n_format_errors=rejected,
        ),
        ep,
    )  # fmt: skip
    store.end_episode(ep)


def build_log(path) -> None:
    for run_id, agent, specs in (("run-A", "oracle", RUN_A), ("run-B", "heuristic", RUN_B)):
        with EventStore(path, run_id=run_id) as store:
            store.emit(
                RunStarted(
                    config={}, kg_source="hpo", kg_version="test", corpus_hash="c",
                    parser_version="1", reward_weights={}, seed=0,
                )
            )  # fmt: skip
            for spec in specs:
                write_episode(store, spec, agent)


def expected_tokens(spec) -> int:
    """Independent count (str.split) of prompt + actions + observations of one episode."""
    _, _, _, calls, rejected, _, answer, _ = spec
    searches = calls - 1 if answer is not None else calls
    n = len(PROMPT.split()) + rejected * (len(REJECTED.split()) + len(ERROR.split()))
    n += searches * (len(ACTION.split()) + len(OBS.split()))
    if answer is not None:
        n += len(f"<answer>{answer}</answer>".split())
    return n


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("evallog") / "events.duckdb"
    build_log(path)
    return path


@pytest.fixture(scope="module")
def result(log):
    return evaluation.evaluate(log, seed=7, n_bootstrap=500)


def test_groups_are_runs_side_by_side(result):
    assert [g.group for g in result.groups] == ["run-A", "run-B"]
    a, b = result.group("run-A"), result.group("run-B")
    assert (a.n_episodes, a.n_ended, a.n_questions) == (6, 6, 3)
    assert (b.n_episodes, b.n_ended, b.n_questions) == (4, 3, 3)


def test_accuracy_pass_at_k_and_tool_calls(result):
    a, b = result.group("run-A"), result.group("run-B")
    assert a.accuracy == 0.5
    assert b.accuracy == 0.25  # the unfinished episode counts as wrong
    # q1: 2/2 correct, q2: 1/2, q3: 0/2
    assert a.pass_at_k == pytest.approx({"pass@1": 0.5, "pass@2": 2 / 3})
    # run B has one sample of q2 and q3: only pass@1 = mean(1/2, 0, 0)
    assert b.pass_at_k == pytest.approx({"pass@1": 1 / 6})
    # research calls: the answer call is not counted (A-6 and B-4 never answered)
    research_a = [s[3] - (s[6] is not None) for s in RUN_A]
    assert research_a == [2, 5, 3, 1, 4, 8]
    assert a.mean_tool_calls == pytest.approx(23 / 6)
    assert a.median_tool_calls == 3.5
    assert b.mean_tool_calls == pytest.approx((1 + 2 + 0 + 1) / 4)
    # correct episodes A-1 (2 hops / 2 calls), A-2 (2/5), A-3 (3/3)
    assert a.tool_call_efficiency == pytest.approx(2.4 / 3)
    assert b.tool_call_efficiency == 1.0  # B-1: 2 hops, 1 research call: capped at 1


def test_format_errors_evidence_and_tokens(result):
    a = result.group("run-A")
    actions = sum(s[4] + s[3] for s in RUN_A)  # rejected + one action per tool call
    assert actions == 31
    assert a.format_error_rate == pytest.approx(3 / 31)
    assert a.format_error_episodes == pytest.approx(2 / 6)
    assert a.evidence_recall == pytest.approx(2.75 / 6)
    assert a.mean_tokens == pytest.approx(sum(expected_tokens(s) for s in RUN_A) / 6)
    assert expected_tokens(RUN_A[0]) == 4 + 2 * 8 + 2  # prompt, 2 searches, the answer
    assert a.mean_action_tokens == pytest.approx(
        sum(expected_tokens(s) - 4 - 3 * (s[3] - (s[6] is not None)) - 6 * s[4] for s in RUN_A) / 6
    )
    assert a.judged_accuracy is None and a.n_judged == 0


def test_seals_carry_token_sums_and_unsealed_episodes_are_counted_from_text(log, result):
    """Each ``episode_sealed`` holds its episode's token sums (counted again here with
    str.split); evaluation reads them, and counts the never-ended (unsealed) B-4 from its
    text events: run B's mean covers all four episodes."""
    con = connect(log)
    seals = {
        r[0]: (r[1], r[2])
        for r in con.execute(
            "SELECT payload->>'$.episode_id', CAST(payload->>'$.tokens' AS INTEGER), "
            "CAST(payload->>'$.action_tokens' AS INTEGER) FROM events "
            "WHERE type = 'episode_sealed'"
        ).fetchall()
    }
    con.close()
    ended = [s for s in RUN_A + RUN_B if s[7]]
    assert sorted(seals) == sorted(s[0] for s in ended)
    for spec in ended:
        tokens, action_tokens = seals[spec[0]]
        assert tokens == expected_tokens(spec)
        research = spec[3] - (spec[6] is not None)
        assert action_tokens == tokens - 4 - 3 * research - 6 * spec[4]
    assert "B-4" not in seals
    b = result.group("run-B")
    assert b.mean_tokens == pytest.approx(sum(expected_tokens(s) for s in RUN_B) / 4)


def test_breakdowns_by_specialty_hops_rarity_and_calls(result):
    a = result.group("run-A")
    assert {k: (v.n, v.accuracy) for k, v in a.by_specialty.items()} == {
        "cardiology": (2, 1.0),
        "neurology": (4, 0.25),
    }
    assert {k: (v.n, v.accuracy) for k, v in a.by_hops.items()} == {
        "2": (2, 1.0),
        "3": (2, 0.5),
        "4": (2, 0.0),
    }
    assert list(a.by_hops) == ["2", "3", "4"]
    assert {k: (v.n, v.accuracy) for k, v in a.by_rarity.items()} == {
        "common": (2, 1.0),
        "uncommon": (2, 0.5),
        "rare": (2, 0.0),
    }
    assert a.by_hops["4"].mean_tool_calls == 6.0  # 4 research calls, A-6: 8
    assert list(a.accuracy_by_calls) == ["1", "2", "3", "4", "5", "8"]
    assert a.accuracy_by_calls["2"].accuracy == 1.0 and a.accuracy_by_calls["1"].accuracy == 0.0


def test_bootstrap_ci_is_seeded_and_brackets_accuracy(log, result):
    a = result.group("run-A")
    lo, hi = a.accuracy_ci
    assert 0.0 <= lo < a.accuracy < hi <= 1.0
    again = evaluation.evaluate(log, seed=7, n_bootstrap=500).group("run-A")
    assert again.accuracy_ci == a.accuracy_ci
    assert evaluation.bootstrap_ci([1.0] * 5, seed=0) == (1.0, 1.0)
    values = [1.0] * 37 + [0.0] * 63  # with 100 values, the seed shows in the interval
    cis = {evaluation.bootstrap_ci(values, seed=s, n_resamples=200) for s in range(4)}
    assert len(cis) > 1
    assert evaluation.bootstrap_ci(values, seed=3) == evaluation.bootstrap_ci(values, seed=3)


@pytest.mark.parametrize("values", [[1.0] * 37 + [0.0] * 63, [0.5, 2.0, 2.0, 7.0, 1.0, 1.0, 9.0]])
def test_bootstrap_ci_matches_resampling_indices(values):
    """The interval drawn from value counts equals, within sampling noise, the textbook
    bootstrap written here: resample indices with replacement, take each resample's mean."""
    import numpy as np

    rng = np.random.default_rng(11)
    x = np.asarray(values)
    means = x[rng.integers(0, x.size, size=(20_000, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    got = evaluation.bootstrap_ci(values, seed=5, n_resamples=20_000)
    spread = x.std() / np.sqrt(x.size)
    assert got[0] == pytest.approx(lo, abs=0.2 * spread)
    assert got[1] == pytest.approx(hi, abs=0.2 * spread)


def test_pass_at_k_estimator():
    assert evaluation.pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)
    assert evaluation.pass_at_k(4, 0, 3) == 0.0
    assert evaluation.pass_at_k(4, 2, 3) == 1.0
    assert evaluation.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        evaluation.pass_at_k(2, 1, 3)


def test_filter_runs_and_group_by_tag(log):
    only_b = evaluation.evaluate(log, runs=["run-B"])
    assert [g.group for g in only_b.groups] == ["run-B"]
    by_agent = evaluation.evaluate(log, group_by="agent")
    assert [g.group for g in by_agent.groups] == ["heuristic", "oracle"]
    assert by_agent.group("oracle").accuracy == 0.5
    with pytest.raises(MedenvError, match="not found"):
        evaluation.evaluate(log, runs=["run-Z"])
    with pytest.raises(MedenvError, match="no event store"):
        evaluation.evaluate(log.parent / "missing.duckdb")
    with pytest.raises(MedenvError, match="group-by"):
        evaluation.evaluate(log, group_by="tags; DROP")


def test_same_numbers_through_the_episodes_view(log, result):
    """Cross-check with the store's own ``episodes`` view (a separate SQL path)."""
    con = connect(log)
    rows = con.execute(
        "SELECT run_id, avg(coalesce(correct, false)::INT), "
        "avg(n_tool_calls - (prediction IS NOT NULL)::INT) "
        "FROM episodes GROUP BY run_id ORDER BY run_id"
    ).fetchall()
    con.close()
    assert rows[0][1] == result.group("run-A").accuracy
    # the view counts the answer as a call, as the env does; eval reports research calls
    assert rows[0][2] == pytest.approx(result.group("run-A").mean_tool_calls)


def test_table_and_json(result):
    table = evaluation.format_table(result)
    lines = table.splitlines()
    assert lines[0].split() == ["metric", "run-A", "run-B"]
    acc = next(line for line in lines if line.startswith("accuracy "))
    assert acc.split()[1:] == ["50.0%", "25.0%"]
    md = evaluation.format_table(result, markdown=True)
    assert md.splitlines()[1].startswith("|---")
    data = json.loads(evaluation.to_json(result))
    assert data["groups"][0]["pass_at_k"]["pass@2"] == pytest.approx(2 / 3)
    assert not math.isnan(data["groups"][1]["accuracy_ci"][0])


def test_group_by_a_tag_no_episode_has_and_a_qa_set_of_other_questions(log, tmp_path):
    from medenv.synth.qa import QAItem

    with pytest.raises(MedenvError, match="no episode has the tag 'nope' to group by"):
        evaluation.evaluate(log, group_by="nope")
    others = [QAItem(id="zz", question="q", answer="a", answer_id="", kg_source="external")]
    with pytest.raises(MedenvError, match="none of the 1 questions of the QA set occurs"):
        evaluation.evaluate(log, qa=others)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
        (["--bootstrap", "0"], "--bootstrap must be between 1 and 100,000, got 0"),
        (["--bootstrap", "100000000"], "--bootstrap must be between 1 and 100,000"),
        (["--json", "--markdown"], "--json and --markdown are two output formats"),
        (["--report", "{tmp}/afile"], "--report {tmp}/afile: is a file, not a folder"),
        (["--report", "{tmp}/afile/r"], "afile is a file, not a folder"),
        (["--group-by", "nope"], "no episode has the tag 'nope'"),
        (["--qa", "{tmp}/qa.parquet"], "qa.parquet: a Parquet file"),
        (["--judge", "nope:model"], "unknown model backend 'nope'"),
        (["--judge", "/nonexistent/judge"], "no model folder at /nonexistent/judge"),
        # waited ~50 s on an unreachable hub first
        (["--judge", "nosuchjudge"], "--judge 'nosuchjudge' is not a judge medenv knows"),
    ],
    ids=[
        "seed",
        "bootstrap-0",
        "bootstrap-huge",
        "json-markdown",
        "report-file",
        "report-under-file",
        "group-by",
        "qa-parquet",
        "judge-backend",
        "judge-path",
        "judge-unknown",
    ],  # fmt: skip
)
def test_cli_eval_bad_arguments_are_one_line(log, tmp_path, capsys, flags, message):

    (tmp_path / "afile").write_text("x")
    (tmp_path / "qa.parquet").write_bytes(b"PAR1")
    argv = ["eval", "--db", str(log), *(f.format(tmp=tmp_path) for f in flags)]
    _, err = cli_error(argv, capsys)
    assert message.format(tmp=tmp_path) in err, err


def test_a_hub_judge_when_the_hub_is_offline_fails_before_loading(log, capsys, monkeypatch):
    # HF_HUB_OFFLINE set: transformers was imported and asked before the one-line error
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _, err = cli_error(["eval", "--db", str(log), "--judge", "transformers:org/nosuch"], capsys)
    assert "cannot load model 'org/nosuch': not a model folder, not in the Hugging Face " \
        "cache, and the hub is offline (HF_HUB_OFFLINE" in err, err


def test_token_counts_are_recorded_as_duckdb_counts_them(tmp_path):
    """Every text-bearing event records ``tokens`` when written, equal to DuckDB's own
    ``len(regexp_extract_all(text, '\\S+'))`` (RE2: an independent implementation) on
    texts mixing every kind of whitespace, Unicode and control characters."""
    import random

    rng = random.Random(3)
    alphabet = " \t\n\f\r\x0b\x1c\x85\xa0\u2028ab é日\x00<>{}\"'"
    texts = ["", " ", OBS, ACTION, PROMPT] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(40))) for _ in range(300)
    ]
    path = tmp_path / "tok.duckdb"
    with EventStore(path, run_id="t") as store:
        for i, text in enumerate(texts):
            store.emit(ActionReceived(step=i, text=text), "e")
            store.emit(ToolReturned(step=i, name="x", observation=text, latency_ms=0,
                                    doc_ids=[]), "e")  # fmt: skip
            store.emit(ActionRejected(step=i, kind="k", message="m", observation=text), "e")
            store.commit()
        store.emit(EpisodeStarted(question_id="q", seed=0, split="s", specialty="x", n_hops=1,
                                  optimal_calls=1, answer="a", aliases=[], prompt=texts[-1],
                                  config_hash="h", tags={}), "e2")  # fmt: skip
    con = connect(path)
    rows = con.execute(
        "SELECT CAST(payload->>'$.tokens' AS INTEGER), len(regexp_extract_all(coalesce("
        "payload->>'$.text', payload->>'$.observation', payload->>'$.prompt'), '\\S+')) "
        "FROM events WHERE type IN ('action_received', 'tool_returned', 'action_rejected', "
        "'episode_started')"
    ).fetchall()
    assert len(rows) == 3 * len(texts) + 1
    assert [r[0] for r in rows] == [r[1] for r in rows]
    assert len({r[0] for r in rows}) > 10


def test_logs_without_token_counts_give_the_same_token_figures(log, result, tmp_path):
    """A log written before the counts were recorded (no ``tokens`` in its events, none in
    its seals) falls back to counting the text."""
    import shutil

    import duckdb

    old = tmp_path / "old.duckdb"
    shutil.copy(log, old)
    con = duckdb.connect(str(old))
    assert con.execute("SELECT count(*) FROM events WHERE payload LIKE '%tokens%'").fetchone()[0]
    con.execute(  # the events' counts and the seals' sums
        "UPDATE events SET payload = regexp_replace(payload, ',\"(action_)?tokens\":[0-9]+', '', 'g')"
    )
    assert (
        con.execute("SELECT count(*) FROM events WHERE payload LIKE '%tokens%'").fetchone()[0] == 0
    )
    con.close()
    again = evaluation.evaluate(old, seed=7, n_bootstrap=500)
    for name in ("run-A", "run-B"):
        assert again.group(name).mean_tokens == result.group(name).mean_tokens
        assert again.group(name).mean_action_tokens == result.group(name).mean_action_tokens

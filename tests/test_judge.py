"""The optional judge: verdicts are events in the same store, cached, and change scores."""

from __future__ import annotations

import json

import pytest

from medenv import evaluation, judge
from medenv.errors import MedenvError
from medenv.events.store import EventStore, connect, read_episode
from tests.chat_server import ChatHandler, serve
from tests.test_eval import build_log, write_episode

# what the lexical judge says of the four answers of `build_log` that do not match by string
LEXICAL_VERDICTS = [("A-4", "true"), ("A-5", "false"), ("B-2", "false"), ("B-3", "true")]


class CountingJudge:
    """The built-in lexical judge, counting how often it is really called."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, messages: list[dict]) -> str:
        self.calls += 1
        return judge.lexical_judge(messages)


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "events.duckdb"
    build_log(path)
    return path


def verdict_rows(path):
    con = connect(path)
    rows = con.execute(
        "SELECT run_id, episode_id, payload->>'$.episode_id', payload->>'$.correct', "
        "payload->>'$.model', payload->>'$.prompt_hash', payload->>'$.cached' "
        "FROM events WHERE type = 'judge_verdict' ORDER BY payload->>'$.episode_id', ts"
    ).fetchall()
    con.close()
    return rows


def test_lexical_judge_and_verdict_parsing():
    m = judge.judge_messages("Q?", "Marfan syndrome", ["MFS"], "syndrome, Marfan")
    assert judge.lexical_judge(m) == "CORRECT"
    assert judge.lexical_judge(judge.judge_messages("Q?", "Marfan syndrome", ["MFS"], "mfs")) == (
        "CORRECT"
    )
    assert judge.lexical_judge(judge.judge_messages("Q?", "Cerebellar ataxia", [], "Ataxia")) == (
        "INCORRECT"
    )
    assert judge.parse_verdict("<think>maybe correct</think> INCORRECT.") is False
    assert judge.parse_verdict("Verdict: correct") is True
    assert judge.parse_verdict("no idea") is None
    k1 = judge.cache_key("q", "a", "b", "m1")
    assert k1 == judge.cache_key("q", "a", "b", "m1") != judge.cache_key("q", "a", "b", "m2")


def test_verdicts_are_events_and_change_judged_accuracy(log):
    gen = CountingJudge()
    summary = judge.judge_log(log, gen, model="lexical", progress=False)
    # unmatched answers: A-4 "ataxia, cerebellar", A-5 "Gene Y", B-2 "Ataxia", B-3 "X gene"
    assert (summary.candidates, summary.judged, summary.cached) == (4, 4, 0)
    assert summary.correct == 2 and gen.calls == 4
    rows = verdict_rows(log)
    assert [(r[2], r[3]) for r in rows] == LEXICAL_VERDICTS
    assert all(r[0].startswith("judge-") and r[1] is None for r in rows)  # a run of its own
    assert {r[4] for r in rows} == {"lexical"} and {r[5] for r in rows} == {judge.PROMPT_HASH}
    result = evaluation.evaluate(log)
    a, b = result.group("run-A"), result.group("run-B")
    assert a.accuracy == 0.5 and a.judged_accuracy == pytest.approx(4 / 6)
    assert b.accuracy == 0.25 and b.judged_accuracy == 0.5
    assert (a.n_judged, b.n_judged) == (2, 2)
    assert "judged accuracy" in evaluation.format_table(result)
    # the judged episodes still replay-read cleanly (verdicts are not episode events)
    assert [e.type for e in read_episode(log, "A-4")][-1] == "episode_ended"


def test_second_pass_is_cached_and_deterministic(log):
    gen = CountingJudge()
    judge.judge_log(log, gen, model="lexical", progress=False)
    before = evaluation.evaluate(log)
    again = judge.judge_log(log, gen, model="lexical", progress=False)
    assert (again.judged, again.already) == (0, 4) and gen.calls == 4
    assert evaluation.evaluate(log) == before
    # a new episode with an answer already judged for the same question: cache hit
    with EventStore(log, run_id="run-C") as store:
        write_episode(store, ("C-1", "q2", False, 2, 0, 0.0, "Ataxia", True), "heuristic")
    third = judge.judge_log(log, gen, model="lexical", progress=False)
    assert (third.judged, third.cached, third.correct) == (1, 1, 0) and gen.calls == 4
    assert verdict_rows(log)[-1][6] == "true"  # marked cached
    # another judge model is a different cache key: judged afresh
    other = judge.judge_log(log, gen, model="lexical-v2", progress=False)
    # B-2 and C-1 share (question, gold, answer): one call serves both within the pass
    assert (other.judged, other.cached) == (5, 1) and gen.calls == 8


def test_judge_reads_runs_filter_and_rejects_missing_store(log, tmp_path):
    s = judge.judge_log(log, CountingJudge(), model="lexical", runs=["run-B"], progress=False)
    assert (s.candidates, s.correct) == (2, 1)
    with pytest.raises(MedenvError, match="no event store"):
        judge.judge_log(tmp_path / "nope.duckdb", CountingJudge(), model="x", progress=False)


class JudgeServer(ChatHandler):
    """An OpenAI-compatible /v1/chat/completions that grades with the lexical judge (so
    verdicts are known) and wraps its word in a reasoning block. Counts requests."""

    def reply(self, body: dict) -> dict:
        verdict = judge.lexical_judge(body["messages"])
        return {"role": "assistant", "content": f"<think>compare names</think>\n{verdict}"}


@pytest.fixture
def judge_server():
    with serve(JudgeServer) as url:
        yield url


def test_agent_backend_as_judge_through_the_cli(log, judge_server, capsys):
    """`medenv eval --judge openai:URL#MODEL`: an agent backend judges; verdicts are events."""
    from medenv.cli import main

    spec = f"openai:{judge_server}#judge-model"
    assert main(["eval", "--db", str(log), "--judge", spec, "--no-progress", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(JudgeServer.requests) == 4  # the four answers that did not match by string
    sent = JudgeServer.requests[0]
    assert sent["model"] == "judge-model" and sent["messages"][0]["content"] == judge.JUDGE_SYSTEM
    rows = verdict_rows(log)
    assert [(r[2], r[3]) for r in rows] == LEXICAL_VERDICTS
    assert {r[4] for r in rows} == {spec}
    groups = {g["group"]: g for g in data["groups"]}
    assert groups["run-A"]["judged_accuracy"] == pytest.approx(4 / 6)
    # a second evaluation reuses the recorded verdicts: the judge is not called again
    assert main(["eval", "--db", str(log), "--judge", spec, "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == data and len(JudgeServer.requests) == 4


JUDGE_SECRET = "sk-judge-9d1e44a0b7c3"


def test_judge_api_key_from_a_named_env_var_reaches_only_the_header(
    log, judge_server, capsys, monkeypatch
):
    """`medenv eval --judge openai:URL#MODEL --api-key-env NAME`: the key is sent as the
    bearer token and appears in no output and nowhere in the event store."""
    from medenv.cli import main
    from tests.cli import cli_error

    monkeypatch.setenv("JUDGE_PROVIDER_KEY", JUDGE_SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    JudgeServer.authorization.clear()
    spec = f"openai:{judge_server}#judge-model"
    argv = ["eval", "--db", str(log), "--judge", spec, "--no-progress", "--json"]
    assert main([*argv, "--api-key-env", "JUDGE_PROVIDER_KEY"]) == 0
    out, err = capsys.readouterr()
    assert JudgeServer.authorization and set(JudgeServer.authorization) == {
        f"Bearer {JUDGE_SECRET}"
    }
    assert JUDGE_SECRET not in out + err
    for path in log.parent.rglob("*"):
        if path.is_file():
            assert JUDGE_SECRET.encode() not in path.read_bytes(), path
    # the flag needs an openai judge
    _, line = cli_error(["eval", "--db", str(log), "--api-key-env", "X"], capsys)
    assert "--api-key-env applies to --judge openai:URL#MODEL only" in line
    _, line = cli_error(
        ["eval", "--db", str(log), "--judge", "lexical", "--api-key-env", "X"], capsys
    )
    assert "--api-key-env applies to --judge openai:URL#MODEL only" in line

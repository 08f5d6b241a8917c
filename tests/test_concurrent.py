"""`rollout --concurrency N`: LLM episodes in flight in one process (AsyncOpenAI) against a
real local OpenAI-compatible server. Same seeds -> the same per-episode results as N=1; no
event lost or mixed between interleaved episodes; one-line errors."""

from __future__ import annotations

import hashlib
import json
import re
import socket

import pytest
from medenv.agents.rollout import AgentSpec, rollout

from medenv.events.store import connect
from tests.chat_server import ResearcherHandler, serve
from tests.cli import cli_error
from tests.raw_events import raw_event_rows


class JitteryResearcher(ResearcherHandler):
    """The scripted researcher, answering after 0-30 ms chosen by the request's hash, so
    concurrent episodes finish out of order."""

    def reply(self, body: dict) -> dict:
        digest = hashlib.sha256(json.dumps(body["messages"]).encode()).digest()
        self.delay = digest[0] / 255 * 0.03
        return super().reply(body)


@pytest.fixture(scope="module")
def url():
    with serve(JitteryResearcher) as base:
        yield base


def _spec(url: str) -> AgentSpec:
    return AgentSpec("llm", {"model": f"openai:{url}#m", "backend_options": {"max_tokens": 64}})


def _episodes(db) -> dict[tuple[str, int], dict]:
    """Per (question id, seed): the episode's actions, observations and outcome, read with
    plain SQL over the events table (not the store's views)."""
    rows = raw_event_rows(db)
    by_ep: dict[str, list] = {}
    for run_id, ep, seq, kind, payload in rows:
        if ep is not None:
            by_ep.setdefault(ep, []).append((run_id, seq, kind, json.loads(payload)))
    out = {}
    for ep, events in by_ep.items():
        start = events[0][3]
        out[(start["question_id"], start["seed"])] = {
            "episode_id": ep,
            "run_ids": {e[0] for e in events},
            "seqs": [e[1] for e in events],
            "kinds": [e[2] for e in events],
            "prompt": start["prompt"],
            "actions": [e[3]["text"] for e in events if e[2] == "action_received"],
            "observations": [e[3]["observation"] for e in events if e[2] == "tool_returned"],
            "calls": [(e[3]["name"], e[3]["arguments"]) for e in events if e[2] == "tool_called"],
            "reward": [e[3]["total"] for e in events if e[2] == "reward_assigned"],
        }
    return out


@pytest.fixture(scope="module")
def runs(url, tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrent")
    results = {}
    for n in (1, 6):
        db = root / f"c{n}.duckdb"
        r = rollout(_spec(url), episodes=14, db=db, seed=5, concurrency=n, progress=False)
        results[n] = (r, db)
    return results


def test_same_seeds_same_episodes_at_any_concurrency(runs):
    (r1, db1), (r6, db6) = runs[1], runs[6]
    assert r1.ran == r6.ran == 14
    assert (r1.correct, r1.mean_tool_calls) == (r6.correct, r6.mean_tool_calls)
    e1, e6 = _episodes(db1), _episodes(db6)
    assert set(e1) == set(e6) and len(e1) == 14
    keys = ("prompt", "actions", "observations", "calls", "reward", "kinds")
    for key in e1:
        assert {k: e1[key][k] for k in keys} == {k: e6[key][k] for k in keys}


def test_interleaved_episodes_lose_and_mix_no_events(runs):
    _, db = runs[6]
    episodes = _episodes(db)
    con = connect(db)
    try:
        ((n_runs,),) = con.execute("SELECT count(DISTINCT run_id) FROM events").fetchall()
        ((n_started,),) = con.execute(
            "SELECT count(*) FROM events WHERE type = 'run_started'"
        ).fetchall()
    finally:
        con.close()
    assert n_runs == 1 and n_started == 1  # one run, announced once
    assert len({e["episode_id"] for e in episodes.values()}) == len(episodes)
    quoted = re.compile(r'"([^"]+)"')
    for ep in episodes.values():
        assert ep["seqs"] == list(range(len(ep["seqs"])))  # nothing lost, nothing foreign
        assert ep["kinds"][0] == "episode_started" and ep["kinds"][-1] == "episode_ended"
        # the researcher's first search is its own question's first quoted phrase
        question = ep["prompt"].rpartition("Question:")[2]
        assert ep["calls"][0] == ("medical_search", {"query": quoted.findall(question)[0]})
        # its second search is a title from its own first result list
        assert f"{ep['calls'][1][1]['query']} | " in ep["observations"][0]


def test_rerun_resumes_nothing_left(url, runs):
    _, db = runs[6]
    again = rollout(_spec(url), episodes=14, db=db, seed=5, concurrency=6, progress=False)
    assert (again.ran, again.skipped) == (0, 14)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--agent", "oracle", "--concurrency", "4"], "use it with --agent llm"),
        (["--agent", "llm", "--model", "tiny", "--concurrency", "4"], "openai:URL#MODEL"),
        (
            [
                "--agent",
                "llm",
                "--model",
                "openai:http://127.0.0.1:1/v1#m",
                "--concurrency",
                "4",
                "--workers",
                "2",
            ],
            "not both",
        ),  # fmt: skip
        (
            ["--agent", "llm", "--model", "openai:http://127.0.0.1:1/v1#m", "--concurrency", "0"],
            "at least 1",
        ),  # fmt: skip
    ],
)
def test_bad_concurrency_flags_are_one_line(tmp_path, capsys, argv, message):
    _, err = cli_error(["rollout", *argv, "--db", str(tmp_path / "x.duckdb"), "--no-progress"],
                       capsys)  # fmt: skip
    assert message in err


def test_unreachable_server_is_one_line(tmp_path, capsys):
    model = f"openai:http://127.0.0.1:{_free_port()}/v1#m"
    _, err = cli_error(["rollout", "--agent", "llm", "--model", model, "--concurrency", "2",
                        "--episodes", "2", "--db", str(tmp_path / "x.duckdb"), "--no-progress"],
                       capsys)  # fmt: skip
    assert "cannot reach" in err

"""`medenv serve`: MedResearch-v0 over HTTP (OpenEnv contract), driven by `RemoteEnv`
clients on the loopback: 32 concurrent sessions lose or mix no event, served episodes equal
local ones, the session limit, one-line errors."""

from __future__ import annotations

import argparse
import json
import socket
import time

import pytest

pytest.importorskip("fastapi", reason="needs the serve extra (pip install 'medenv[serve]')")
pytest.importorskip("uvicorn", reason="needs the serve extra (pip install 'medenv[serve]')")

from medenv.errors import MedenvError  # noqa: E402
from medenv.serve import Sessions  # noqa: E402
from medenv.serve_client import RemoteEnv  # noqa: E402
from tests.cli import cli_error  # noqa: E402
from tests.raw_events import raw_event_rows  # noqa: E402
from tests.serve_load import run_load, start_server  # noqa: E402


@pytest.fixture(scope="module")
def items():
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set

    return [it for it in read_qa_set(default_qa_set(progress=False)) if it.split == "test"][:40]


@pytest.fixture(scope="module")
def load(items, tmp_path_factory):
    db = tmp_path_factory.mktemp("serve") / "served.duckdb"
    sessions = Sessions(db, max_sessions=32, env_kwargs={"qa": items})
    with start_server(sessions) as url:
        clients = run_load(url, 32, 2, [it.id for it in items])
        health = RemoteEnv(url).health()
    sessions.shutdown()
    return db, clients, health


def test_32_concurrent_sessions_lose_and_mix_no_event(load):
    db, clients, health = load
    assert health["active_sessions"] == 0 and health["max_sessions"] == 32
    rows = raw_event_rows(db)
    assert len({r[0] for r in rows}) == 1  # one run
    assert sum(r[3] == "run_started" for r in rows) == 1
    by_ep: dict[str, list] = {}
    for _run, ep, seq, kind, payload in rows:
        if ep is not None:
            by_ep.setdefault(ep, []).append((seq, kind, json.loads(payload)))
    played = [(c["session"], e) for c in clients for e in c["episodes"]]
    assert len(played) == 64 and len(by_ep) == 64
    assert len({c["session"] for c in clients}) == 32
    for session, ep in played:
        events = by_ep[ep["episode_id"]]
        assert [s for s, _, _ in events] == list(range(len(events)))  # none lost
        start = events[0][2]
        assert events[0][1] == "episode_started" and events[-1][1] == "episode_ended"
        assert start["tags"]["session"] == session  # recorded under its own session
        assert (start["question_id"], start["seed"]) == (ep["question_id"], ep["seed"])
        calls = [p for _, k, p in events if k == "tool_called"]
        sent = [a if isinstance(a, dict) else None for a in ep["sent"]]
        assert [{"name": c["name"], "arguments": c["arguments"]} for c in calls[:2]] == sent[:2]
        returned = [p["observation"] for _, k, p in events if k == "tool_returned"]
        assert returned[:2] == ep["received"][:2]  # what this client was told, nobody else


def test_served_episodes_equal_local_ones(load, items):
    import gymnasium as gym

    import medenv.env  # noqa: F401

    _, clients, _ = load
    env = gym.make("MedResearch-v0", qa=items, db=None)
    try:
        for ep in clients[0]["episodes"] + clients[31]["episodes"]:
            env.reset(seed=ep["seed"], options={"question_id": ep["question_id"]})
            got = [env.step(a)[0] for a in ep["sent"]]
            assert got == ep["received"]
    finally:
        env.close()


def test_session_limit_unknown_session_and_bad_action(items, tmp_path):
    sessions = Sessions(tmp_path / "limit.duckdb", max_sessions=2, env_kwargs={"qa": items})
    with start_server(sessions) as url:
        a, b, c = RemoteEnv(url), RemoteEnv(url), RemoteEnv(url)
        a.reset(seed=1)
        b.reset(seed=2)
        # the 503 says how places free up (abandoned clients held them silently)
        with pytest.raises(MedenvError, match="HTTP 503.*session limit reached.*clients must "
                           "POST /close, and idle sessions close after 3600 s"):  # fmt: skip
            c.reset(seed=3)
        a.close()  # frees a place
        c.reset(seed=3)
        stale = RemoteEnv(url)
        stale.session_id = "nope"
        with pytest.raises(MedenvError, match="HTTP 404.*no session 'nope'"):
            stale.step("<answer>x</answer>")
        obs, reward, terminated, truncated, info = b.step("not a tool call")
        assert info["error"] and not terminated  # malformed actions are the env's business
        b.close()
        with pytest.raises(MedenvError, match="HTTP 400.*unknown reset option"):
            RemoteEnv(url).reset(seed=4, options={"colour": "red"})
        assert RemoteEnv(url).health()["active_sessions"] == 1  # the failed one is gone
        c.close()
    sessions.shutdown()


def test_busy_port_and_unreachable_server_are_one_line(capsys, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        _, err = cli_error(["serve", "--port", str(port), "--db", str(tmp_path / "x.duckdb")],
                           capsys)  # fmt: skip
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert not (tmp_path / "x.duckdb").exists()
    with pytest.raises(MedenvError, match="cannot reach http://127.0.0.1:"):
        RemoteEnv(f"http://127.0.0.1:{port}", timeout=2).reset()


def test_serve_takes_the_kg_flags_and_checks_them_before_listening(capsys, tmp_path):
    db = tmp_path / "kg.duckdb"
    _, err = cli_error(["serve", "--source", "edgelist", "--path", str(tmp_path / "kg.csv"),
                        "--db", str(db)], capsys)  # fmt: skip
    assert "--source edgelist needs --qa" in err
    _, err = cli_error(["serve", "--source", "edgelist", "--path", str(tmp_path / "kg.csv"),
                        "--qa", str(tmp_path), "--db", str(db)], capsys)  # fmt: skip
    assert f"{tmp_path / 'kg.csv'}: file not found" in err
    assert not db.exists()


def test_a_reset_with_a_bad_seed_or_option_is_400_and_keeps_no_session(items, tmp_path):
    # gymnasium's seed error (and a non-number hops) used to be HTTP 500 and leave the
    # session it opened: max_sessions bad requests locked every client out with 503s
    sessions = Sessions(tmp_path / "bad.duckdb", max_sessions=1, env_kwargs={"qa": items})
    with start_server(sessions) as url:
        for seed, options in (("x", None), (-1, None), (1, {"hops": "x"}), (1, "x")):
            with pytest.raises(MedenvError, match="HTTP 400"):
                RemoteEnv(url).reset(seed=seed, options=options)
        with pytest.raises(MedenvError, match="HTTP 400") as caught:  # detail clipped
            RemoteEnv(url).reset(seed=1, options={"question_id": "q" * 100_000})
        assert len(str(caught.value)) < 2500 and "more characters]" in str(caught.value)
        assert RemoteEnv(url).health()["active_sessions"] == 0
        good = RemoteEnv(url)
        good.reset(seed=1)  # the one place is free
        good.close()
    sessions.shutdown()


def test_a_bad_session_limit_is_refused_before_the_serving_line(capsys, tmp_path):
    out, err = cli_error(["serve", "--max-sessions", "0", "--db", str(tmp_path / "x.duckdb")],
                         capsys)  # fmt: skip
    assert err == "medenv serve: error: --max-sessions must be at least 1, got 0"
    assert "serving" not in out  # it said "serving ... on http://..." and then failed
    # nan compares false with everything: it passed the check and served, never timing out
    _, err = cli_error(["serve", "--session-timeout", "nan", "--db", str(tmp_path / "x.duckdb")],
                       capsys)  # fmt: skip
    assert err == "medenv serve: error: --session-timeout must be >= 0 seconds (0: never), got nan"
    _, err = cli_error(["serve", "--session-timeout", "-1", "--db", str(tmp_path / "x.duckdb")],
                       capsys)  # fmt: skip
    assert err == "medenv serve: error: --session-timeout must be >= 0 seconds (0: never), got -1.0"


def test_idle_sessions_time_out_by_default_and_0_means_never(items):
    """Sessions had no idle timeout unless --session-timeout was given: a client that
    vanished held its place (and its env) until the server stopped."""
    from medenv.commands.serve import add_parser
    from medenv.serve import DEFAULT_SESSION_TIMEOUT

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    add_parser(commands)
    assert parser.parse_args(["serve"]).session_timeout == DEFAULT_SESSION_TIMEOUT == 3600
    help_text = " ".join(commands.choices["serve"].format_help().split())
    assert "idle this many seconds (default 3600: an hour; 0: never)" in help_text
    assert Sessions(None, env_kwargs={"qa": items}).session_timeout == 3600
    assert Sessions(None, session_timeout=0, env_kwargs={"qa": items}).session_timeout is None
    sessions = Sessions(None, max_sessions=2, session_timeout=0.4, env_kwargs={"qa": items})
    with start_server(sessions) as url:
        idle, busy = RemoteEnv(url), RemoteEnv(url)
        idle.reset(seed=1)
        busy.reset(seed=2)
        for _ in range(10):  # 1 s: busy's requests keep it open; idle times out
            busy.state()
            time.sleep(0.1)
        assert RemoteEnv(url).health()["active_sessions"] == 1
        with pytest.raises(MedenvError, match=f"HTTP 404.*session '{idle.session_id}' was "
                           r"closed after \d+ s idle \(the server's --session-timeout is "
                           r"0.4 s\): POST /reset opens a new one"):  # fmt: skip
            idle.step("<answer>x</answer>")
        busy.step("<answer>x</answer>")
        # with no request at all, the server's sweep closes it (and frees the place)
        deadline = time.monotonic() + 5
        while RemoteEnv(url).health()["active_sessions"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert RemoteEnv(url).health()["active_sessions"] == 0
    sessions.shutdown()



def test_hostile_requests_are_one_line_4xx_and_the_server_lives_on(items):
    """Round 17's sweep: a ``session_id`` that is a list or an object was an HTTP 500 with a
    traceback (unhashable) on /reset, /step and /close; a body of any size was read whole
    into memory; FastAPI's validation errors were a list of objects, not one line; a
    ``seed`` of ``true`` was played as seed 1 and logged as ``true``, which replay and
    export then refused to read."""
    import requests

    from medenv.serve import MAX_BODY_BYTES

    sessions = Sessions(None, max_sessions=1, env_kwargs={"qa": items})
    with start_server(sessions) as url:
        answers = []
        for path in ("/reset", "/step", "/close"):
            for sid in (["a"], {"a": 1}):
                answers.append(requests.post(url + path, json={"session_id": sid, "action": "x"}))
        answers.append(requests.post(url + "/step", data=b"{nope",
                                     headers={"Content-Type": "application/json"}))  # fmt: skip
        answers.append(requests.get(url + "/step"))
        answers.append(requests.post(url + "/reset", json={"seed": True}))
        big = b'{"action": "' + b"a" * MAX_BODY_BYTES + b'"}'
        answers.append(requests.post(url + "/step", data=big))  # Content-Length: at once
        answers.append(requests.post(url + "/step", data=iter([big])))  # chunked: counted
        codes = [r.status_code for r in answers]
        assert codes == [422] * 6 + [422, 405, 400, 413, 413], [r.text for r in answers]
        details = [r.json()["detail"] for r in answers]
        assert all(isinstance(d, str) and "\n" not in d for d in details), details
        assert details[0] == "session_id must be a string, got list"
        assert details[6].startswith("1: JSON decode error (Expecting property name")
        assert details[8] == "seed must be a whole number or None, got True"
        assert details[9] == f"request body over {MAX_BODY_BYTES:,} bytes"
        health = requests.get(url + "/health").json()
        assert health["status"] == "healthy" and health["active_sessions"] == 0
    sessions.shutdown()


def test_remote_actions_of_any_type_read_as_a_local_env_reads_them(items):
    """`RemoteEnv.step` sent bytes, sets and other non-JSON values to ``json=`` (a client-side
    TypeError) and the server refused a list of calls (HTTP 422) that a local env plays;
    now each is sent as the env itself reads it, and the answers equal a local env's."""
    import gymnasium as gym

    import medenv.env  # noqa: F401

    actions = [
        b"<answer>x</answer>",  # a local env reads its repr
        [{"name": "medical_search", "arguments": {"query": "fever"}}],
        {"name": "medical_search", "arguments": {"query": {"fever"}}},  # a set: not JSON
        5,
        "lone \ud800 surrogate",
    ]
    with pytest.raises(MedenvError, match="timeout must be a positive number of seconds"):
        RemoteEnv("http://127.0.0.1:1", timeout=-1)
    local = gym.make("MedResearch-v0", qa=items, db=None)
    sessions = Sessions(None, max_sessions=1, env_kwargs={"qa": items})
    with start_server(sessions) as url:
        remote = RemoteEnv(url)
        for action in actions:
            remote.reset(seed=3)
            local.reset(seed=3)
            assert remote.step(action)[0] == local.step(action)[0], action
        with pytest.raises(MedenvError, match="cannot send /reset"):
            remote.reset(seed=3, options={"split": {"train"}})
        remote.close()
    sessions.shutdown()
    local.close()

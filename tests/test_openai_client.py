"""The OpenAI-compatible backend as a hosted API sees it: the API key from ``--api-key-env``
(default ``OPENAI_API_KEY``) reaches the server's ``Authorization`` header and nothing else;
``parallel_tool_calls`` follows the env's ``parallel_calls``. A real local HTTP server."""

from __future__ import annotations

import json

import pytest
from medenv.agents.backend_openai import OpenAIBackend

from medenv.cli import main
from tests.chat_server import ChatHandler, serve

SECRET = "sk-test-3f9a1c77e2b54d0c"


class KeyServer(ChatHandler):
    """Answers every chat with the first listed tool's call, then a final answer."""

    def reply(self, body: dict) -> dict:
        if body["messages"][-1]["role"] == "user":
            return {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {
                            "name": "medical_search",
                            "arguments": json.dumps({"query": "marfan"}),
                        },
                    }
                ],
            }
        return {"role": "assistant", "content": "<answer>Marfan syndrome</answer>"}


@pytest.fixture
def server():
    with serve(KeyServer) as url:
        yield url


def _rollout(server, db, *extra) -> int:
    argv = ["rollout", "--agent", "llm", "--model", f"openai:{server}#m", "--episodes", "2",
            "--db", str(db), "--no-progress", *extra]  # fmt: skip
    return main(argv)


def test_api_key_from_named_env_var_reaches_only_the_header(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MY_PROVIDER_KEY", SECRET)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    db = tmp_path / "k.duckdb"
    assert _rollout(server, db, "--api-key-env", "MY_PROVIDER_KEY") == 0
    assert KeyServer.authorization and set(KeyServer.authorization) == {f"Bearer {SECRET}"}
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    for path in tmp_path.rglob("*"):  # the store, its shards and any spill files
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in repr(OpenAIBackend(server, "m", api_key_env="MY_PROVIDER_KEY"))


def test_default_key_variable_and_no_key(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET + "-default")
    assert _rollout(server, tmp_path / "d.duckdb") == 0
    assert set(KeyServer.authorization) == {f"Bearer {SECRET}-default"}
    KeyServer.authorization.clear()
    monkeypatch.delenv("OPENAI_API_KEY")
    assert _rollout(server, tmp_path / "n.duckdb") == 0
    assert set(KeyServer.authorization) == {None}  # local servers: no header at all


def test_api_key_env_only_for_openai_models(tmp_path, capsys):
    from tests.cli import cli_error

    _, line = cli_error(["rollout", "--agent", "oracle", "--api-key-env", "X", "--db",
                         str(tmp_path / "x.duckdb")], capsys)  # fmt: skip
    assert "--api-key-env only applies to --agent llm" in line


@pytest.mark.parametrize("parallel", [False, True])
def test_parallel_tool_calls_follow_the_env(server, tmp_path, parallel, monkeypatch):
    from medenv.agents.rollout import AgentSpec, rollout

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = AgentSpec("llm", {"model": f"openai:{server}#m"})
    rollout(spec, episodes=1, db=tmp_path / "p.duckdb", progress=False,
            env_kwargs={"parallel_calls": parallel})  # fmt: skip
    sent = [body.get("parallel_tool_calls") for body in KeyServer.requests]
    assert sent and set(sent) == {parallel}
    assert all(body["tools"] for body in KeyServer.requests)

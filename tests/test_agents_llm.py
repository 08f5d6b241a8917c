"""LLM agent: chat prompting with tool schemas, tool-call parsing, context management,
and its backends (a real local OpenAI-compatible HTTP server, the real tiny model)."""

from __future__ import annotations

import json
import re

import pytest
from medenv.agents.backend_openai import OpenAIBackend, reply_text
from medenv.agents.llm import TRUNCATED, LLMAgent, make_backend
from medenv.agents.messages import assistant_message
from medenv.agents.text import split_action

from medenv.errors import MedenvError
from tests.chat_server import ChatHandler, serve

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "medical_search",
            "description": "Search the medical collection.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "answer",
            "description": "Submit the final answer.",
            "parameters": {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
            },
        },
    },
]
INFO = {"tools": json.dumps(TOOLS), "step": 0, "budget": 12}


class ChatServer(ChatHandler):
    """A deterministic /v1/chat/completions: searches the question's last word, then
    answers with the first capitalised word of the tool response. Records requests."""

    def reply(self, body: dict) -> dict:
        if body.get("model") != "test-model":
            return {"error": {"message": "unknown model"}}
        last = body["messages"][-1]
        if last["role"] == "user":
            query = last["content"].rstrip("?").split()[-1]
            return {
                "role": "assistant",
                "content": None,
                "reasoning_content": "I should search first.",
                "tool_calls": [
                    {
                        "id": "call_x",
                        "type": "function",
                        "function": {
                            "name": "medical_search",
                            "arguments": json.dumps({"query": query}),
                        },
                    }
                ],
            }
        words = [w for w in last["content"].split() if w[:1].isupper()]
        return {
            "role": "assistant",
            "content": f"<think>\nFound it.\n</think>\n<answer>{words[0]}</answer>",
        }


@pytest.fixture(scope="module")
def server():
    with serve(ChatServer) as url:
        yield url


def test_openai_backend_round_trip(server):
    ChatServer.requests.clear()
    agent = LLMAgent(OpenAIBackend(server, "test-model"))
    agent.reset(None, seed=1)
    first = agent.act("Which gene is linked to Marfan?", INFO)
    think, calls, answer = split_action(first)
    assert think == "I should search first."
    assert calls == [{"name": "medical_search", "arguments": {"query": "Marfan"}}]
    assert answer is None
    second = agent.act("1. FBN1 is a gene associated with Marfan syndrome", {**INFO, "step": 1})
    assert split_action(second)[2] == "FBN1"
    # what went over the wire: tools, system prompt, the call with an id, the tool reply
    req = ChatServer.requests[-1]
    assert req["tools"] == TOOLS and req["seed"] == 1
    roles = [m["role"] for m in req["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    call = req["messages"][2]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"query": "Marfan"}
    assert req["messages"][3]["tool_call_id"] == call["id"]
    assert req["messages"][3]["content"].startswith("1. FBN1")


def test_openai_backend_errors_are_clear(server):
    with pytest.raises(MedenvError, match="HTTP 400"):
        OpenAIBackend(server, "other-model").generate([{"role": "user", "content": "hi"}], TOOLS)
    with pytest.raises(MedenvError, match="cannot reach"):
        OpenAIBackend("http://127.0.0.1:9/v1", "m", timeout=2).generate(
            [{"role": "user", "content": "hi"}], TOOLS
        )
    with pytest.raises(MedenvError, match="openai:URL#MODEL"):
        make_backend("openai:http://localhost:8000/v1")


def test_model_specs_that_cannot_load_are_named_before_loading(tmp_path):
    with pytest.raises(MedenvError, match="unknown model backend 'openi' in 'openi:x#m'"):
        make_backend("openi:x#m")
    for spec in ("/nonexistent/model", "./ckpt", "~/none/here", "a/b/c", "/tmp/a:b/model"):
        with pytest.raises(MedenvError, match=f"no model folder at {re.escape(spec)}"):
            make_backend(spec)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(MedenvError, match="is a file; expected a model folder"):
        make_backend(str(tmp_path / "weights.bin"))
    with pytest.raises(MedenvError, match="no model folder at"):
        make_backend(f"transformers:{tmp_path / 'missing'}")


def test_reply_text_keeps_malformed_arguments_for_the_env():
    text = reply_text(
        {"content": "", "tool_calls": [{"function": {"name": "browse", "arguments": "{bad"}}]}
    )
    assert "<tool_call>" in text and "{bad" in text
    assert split_action(text)[1] == []  # malformed: not silently "fixed"


def test_assistant_message_structures_tool_calls_and_answers():
    msg = assistant_message(
        '<think>\nhm\n</think>\n<tool_call>\n{"name": "medical_search", "arguments": {"query": "x"}}\n</tool_call>'
    )
    assert msg["content"] == "<think>\nhm\n</think>"
    assert msg["tool_calls"][0]["function"] == {
        "name": "medical_search",
        "arguments": {"query": "x"},
    }
    final = assistant_message("<think>\nok\n</think>\n<answer>FBN1</answer>")
    assert final == {"role": "assistant", "content": "<think>\nok\n</think>\n<answer>FBN1</answer>"}


class _CharBackend:
    """A backend whose token count is characters / 4 (the HTTP backend's estimate)."""

    def __init__(self, limit: int) -> None:
        self.max_context_tokens = limit
        self.max_tokens = 16
        self.seen: list[list[dict]] = []
        self.inner = OpenAIBackend("http://unused/v1", "m")

    def count_tokens(self, messages, tools):
        return self.inner.count_tokens(messages, tools)

    def generate(self, messages, tools):
        self.seen.append([dict(m) for m in messages])
        n = len(self.seen)
        return f'<tool_call>\n{{"name": "medical_search", "arguments": {{"query": "q{n}"}}}}\n</tool_call>'


def test_context_management_truncates_old_tool_outputs_first():
    backend = _CharBackend(limit=700)
    agent = LLMAgent(backend, system_prompt="Be brief.", keep_chars=20)
    agent.reset()
    agent.act("Question?", INFO)
    big = "x" * 1600  # each tool output alone is ~400 tokens: two do not fit
    agent.act("A" + big, {**INFO, "step": 1})
    agent.act("B" + big, {**INFO, "step": 2})
    last = backend.seen[-1]
    tool_turns = [m["content"] for m in last if m["role"] == "tool"]
    assert tool_turns[0].startswith(TRUNCATED)  # the oldest was truncated
    assert tool_turns[1].startswith("B" + "x" * 100)  # the newest is kept (whole or cut)
    assert backend.count_tokens(last, TOOLS) <= 700 - 16
    # a newest output too big on its own is cut to fit, never dropped
    agent.act("C" + "y" * 4000, {**INFO, "step": 3})
    last = backend.seen[-1]
    assert backend.count_tokens(last, TOOLS) <= 700 - 16
    assert [m for m in last if m["role"] == "tool"][-1]["content"].startswith("Cyyy")
    assert last[0] == {"role": "system", "content": "Be brief."}
    assert last[1] == {"role": "user", "content": "Question?"}


def test_context_too_small_for_the_question_is_a_clear_error():
    agent = LLMAgent(_CharBackend(limit=60), system_prompt="Be brief.")
    agent.reset()
    with pytest.raises(MedenvError, match="question alone"):
        agent.act("Q" * 2000, INFO)


@pytest.fixture(scope="module")
def tiny_backend():
    from medenv.agents.tiny import tiny_model_path

    backend = make_backend("tiny", max_new_tokens=24, max_context_tokens=1024)  # as --model tiny
    assert backend.model.name_or_path == str(tiny_model_path())
    return backend


def test_transformers_backend_with_tiny_model(tiny_backend):
    agent = LLMAgent(tiny_backend, keep_chars=10)
    agent.reset(seed=0)
    text = agent.act("Which gene is associated with Marfan syndrome?", INFO)
    assert isinstance(text, str) and "<|im_end|>" not in text
    n0 = tiny_backend.count_tokens(agent.messages, agent.tools)
    assert n0 > 50  # the chat template rendered the tool schemas
    for step in range(1, 4):  # long tool outputs: the context is kept within the model's budget
        agent.act("Marfan syndrome presents with tall stature. " * 40, {**INFO, "step": step})
        assert tiny_backend.count_tokens(agent.messages[:-1], agent.tools) <= 1024 - 24
    assert any(
        m["content"].startswith(TRUNCATED)
        for m in agent.messages
        if m["role"] == "tool" or m["role"] == "user"
    )
    # greedy decoding is deterministic
    again = LLMAgent(tiny_backend)
    again.reset(seed=0)
    assert again.act("Which gene is associated with Marfan syndrome?", INFO) == text


@pytest.mark.gpu
def test_vllm_backend_in_process():
    pytest.importorskip("vllm")
    from medenv.agents.backend_vllm import VLLMBackend
    from medenv.agents.tiny import tiny_model_path

    backend = VLLMBackend(str(tiny_model_path()), max_tokens=16, gpu_memory_utilization=0.3)
    agent = LLMAgent(backend)
    agent.reset(seed=0)
    assert isinstance(agent.act("Which gene is associated with Marfan syndrome?", INFO), str)


def test_llm_agent_rollout_through_the_env_against_the_server(server, tmp_path):
    """`medenv rollout --agent llm` with an OpenAI-compatible endpoint, end to end."""
    from medenv.cli import main
    from medenv.events.store import connect

    db = tmp_path / "llm.duckdb"
    argv = ["rollout", "--agent", "llm", "--model", f"openai:{server}#test-model",
            "--split", "test", "--episodes", "3", "--db", str(db), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    con = connect(db)
    try:
        rows = con.execute(
            "SELECT episode_id, type, payload FROM events ORDER BY episode_id, seq"
        ).fetchall()
    finally:
        con.close()
    by_episode: dict[str, list[tuple[str, dict]]] = {}
    for episode, kind, payload in rows:
        if episode:
            by_episode.setdefault(episode, []).append((kind, json.loads(payload)))
    assert len(by_episode) == 3
    for events in by_episode.values():
        kinds = [k for k, _ in events]
        calls = [p["name"] for k, p in events if k == "tool_called"]
        assert calls[0] == "medical_search"  # the server's call reached the tool
        assert "tool_returned" in kinds and "answer_submitted" in kinds
        assert kinds[-1] == "episode_ended" and "action_rejected" not in kinds
    assert main(argv) == 0  # resumable: nothing left to run


class GuidedServer(ChatHandler):
    """Searches the question's first quoted name, then answers with a name from the
    tool response; records what it was shown."""

    requests: list[dict] = []

    def reply(self, body: dict) -> dict:
        last = body["messages"][-1]
        if last["role"] == "user":
            names = re.findall(r'"([^"]+)"', last["content"].split("Question:")[-1])
            call = {"name": "medical_search", "arguments": json.dumps({"query": names[0]})}
            return {
                "role": "assistant",
                "content": "<think>\nFollow [E0] first.\n</think>",
                "tool_calls": [{"id": "c", "type": "function", "function": call}],
            }
        title = re.search(r"^1\. (.*?) \|", last["content"], re.M)
        answer = title.group(1) if title else "unknown"
        return {"role": "assistant", "content": f"<answer>{answer}</answer>"}


def test_guidance_masks_every_entity_and_stays_out_of_the_logged_prompt(kg, tmp_path):
    """`medenv rollout --agent llm --guidance` against a local OpenAI-compatible server: the
    model sees the relation path with entities masked; the log and the SFT export do not."""
    from medenv.agents.llm import GUIDANCE_HEADER
    from medenv.training.export import export, load_episodes

    from medenv.cli import main
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set

    items = {it.id: it for it in read_qa_set(default_qa_set(progress=False))}
    GuidedServer.requests = []
    db = tmp_path / "guided.duckdb"
    with serve(GuidedServer) as url:
        argv = ["rollout", "--agent", "llm", "--model", f"openai:{url}#m", "--guidance",
                "--split", "test", "--episodes", "3", "--db", str(db), "--no-progress"]  # fmt: skip
        assert main(argv) == 0
    firsts = [r["messages"] for r in GuidedServer.requests if r["messages"][-1]["role"] == "user"]
    assert len(firsts) == 3
    episodes = load_episodes(db)
    for ep in episodes:
        item = items[ep.question_id]
        shown = next(m[1]["content"] for m in firsts if ep.prompt in m[1]["content"])
        guidance = shown[len(ep.prompt) :]
        assert GUIDANCE_HEADER in guidance and f"[E{item.n_hops}] is the answer" in guidance
        for i, hop in enumerate(item.hops):  # the relation path, in order
            assert f"{i + 1}. [E{i}]" in guidance and hop.relation.replace("_", " ") in guidance
        for entity in item.chain:  # every entity masked: no name, synonym or id
            node = kg.node(entity)
            for label in (node.name, *node.synonyms, entity):
                assert label.lower() not in guidance.lower()
        assert GUIDANCE_HEADER not in ep.prompt and ep.guided  # the log keeps the plain prompt
    stats = export(db, tmp_path / "out", ["sft"], select=False)
    rows = [json.loads(line) for line in (tmp_path / "out" / "sft.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and stats["selected"]["guided"] == 1.0
    for row in rows:
        assert row["guided"] is True and row["grounded"] is not None
        assert all(GUIDANCE_HEADER not in (m["content"] or "") for m in row["messages"])


def test_guidance_through_the_transformers_backend(tiny_backend, kg):
    from medenv.agents.llm import GUIDANCE_HEADER, guidance_text

    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set

    item = read_qa_set(default_qa_set(progress=False))[0]
    agent = LLMAgent(tiny_backend, guidance=True)
    agent.reset(item, seed=0)
    text = agent.act(f"Question: {item.question}", INFO)
    assert isinstance(text, str)
    assert agent.messages[1]["content"].endswith(guidance_text(item))
    plain = LLMAgent(tiny_backend)
    plain.reset(item, seed=0)
    plain.act(f"Question: {item.question}", INFO)
    assert GUIDANCE_HEADER not in plain.messages[1]["content"]
    # the chat template renders the guidance into the model's input
    grow = tiny_backend.count_tokens(agent.messages[:2], agent.tools)
    assert grow > tiny_backend.count_tokens(plain.messages[:2], plain.tools)
    with pytest.raises(MedenvError, match="gold chain"):
        agent.reset(None)


@pytest.mark.gpu
def test_guidance_through_vllm():
    pytest.importorskip("vllm")
    from medenv.agents.backend_vllm import VLLMBackend
    from medenv.agents.tiny import tiny_model_path

    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set

    item = read_qa_set(default_qa_set(progress=False))[0]
    backend = VLLMBackend(str(tiny_model_path()), max_tokens=16, gpu_memory_utilization=0.3)
    agent = LLMAgent(backend, guidance=True)
    agent.reset(item, seed=0)
    assert isinstance(agent.act(f"Question: {item.question}", INFO), str)
    assert "[E0]" in agent.messages[1]["content"]

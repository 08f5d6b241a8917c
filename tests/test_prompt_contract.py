"""The prompt contract (`medenv.prompt`): train -> save -> rollout renders what was trained.

A few SFT steps of the tiny model on real oracle rows save a contract with the checkpoint;
the rollout's LLM agent, built the way ``medenv rollout --agent llm`` builds it, reads it
back; fed the same episode, it renders exactly the token ids TRL trained on (the prefix of
the row's training tokens up to each assistant turn). The rendering rule has a second,
independent implementation here, tried on the real rows.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import msgspec
import pytest

from tests.test_sft import oracle_rows, torch_threads

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

TRAINED_AS = dict(keep_system=False, template_tools=False, max_tool_chars=150,
                  task_prompt="question")  # fmt: skip


def _without_think(text: str) -> str:
    while (start := text.find("<think>")) >= 0 and (end := text.find("</think>", start)) >= 0:
        rest = text[end + len("</think>") :]
        text = text[:start] + rest.lstrip()
    return text


def reference_render(row: dict, system: str | None, tools_on: bool, cut: int | None,
                     think: bool = True, question: bool = False):  # fmt: skip
    """Second implementation of the rendering rule, written from the contract's words."""
    messages = [] if system is None else [{"role": "system", "content": system}]
    users = 0
    for m in row["messages"]:
        if m["role"] == "system":
            continue
        m = dict(m)
        if m["role"] == "user":
            users += 1
            found = re.match(r"(?s).*(Question:.*)", m["content"]) if question else None
            if users == 1 and found:
                m["content"] = found.group(1)
        if m["role"] == "tool" and cut is not None:
            text = m.get("content") or ""
            if len(text) > cut:
                m["content"] = text[:cut].rstrip() + "\n[...cut]"
        if m["role"] == "assistant" and not think:
            m["content"] = _without_think(m.get("content") or "")
        messages.append(m)
    return messages, (row.get("tools") or []) if tools_on else []


@pytest.fixture(scope="module")
def rows():
    return oracle_rows()[:40]


@pytest.fixture(scope="module")
def checkpoint(rows, tmp_path_factory):
    from medenv.training.sft import SFTTrainConfig, train_sft

    out = tmp_path_factory.mktemp("contract") / "sft"
    config = SFTTrainConfig(out=str(out), model="tiny", max_steps=2, batch_size=2,
                            learning_rate=1e-3, eval_fraction=0.25, max_rows=12,
                            progress=False, **TRAINED_AS)  # fmt: skip
    with torch_threads():
        result = train_sft(config, rows=rows)
    return out, result


def test_render_matches_an_independent_implementation(rows):
    from medenv.prompt import PromptContract, render_messages

    for system in (None, "Be brief."):
        for tools_on in (True, False):
            for cut in (None, 0, 37, 150):
                contract = PromptContract(
                    system_prompt=system, template_tools=tools_on, max_tool_chars=cut
                )
                for row in rows[:10]:
                    got = render_messages(row["messages"], row["tools"], contract)
                    assert got == reference_render(row, system, tools_on, cut)
    bare = PromptContract(system_prompt=None, keep_thinking=False)
    for row in rows[:10]:
        got, _ = render_messages(row["messages"], row["tools"], bare)
        assert got == reference_render(row, None, True, None, think=False)[0]
        assert not any("<think>" in (m.get("content") or "") for m in got)
    asked = PromptContract(system_prompt=None, task_prompt="question")
    for row in rows[:10]:
        got, _ = render_messages(row["messages"], row["tools"], asked)
        assert got == reference_render(row, None, True, None, question=True)[0]
        assert got[0]["content"].startswith("Question: ") and "Tools:" not in got[0]["content"]
    # a first turn without the marker is kept whole; later user turns are never cut
    plain = [{"role": "user", "content": "no marker here"}, {"role": "assistant", "content": "x"},
             {"role": "user", "content": "Tools: a\nQuestion: b"}]  # fmt: skip
    assert render_messages(plain, None, asked)[0] == plain


def test_checkpoint_saves_the_contract_it_trained_under(checkpoint, rows):
    from medenv.prompt import load_contract

    out, result = checkpoint
    contract = load_contract(out)
    assert contract is not None
    assert (contract.system_prompt, contract.template_tools, contract.max_tool_chars,
            contract.task_prompt) == (None, False, 150, "question")  # fmt: skip
    meta = json.loads((out / "medenv_sft.json").read_text())
    assert meta["prompt_contract"] == msgspec.to_builtins(contract)
    # the held-out curve starts before training and ends at the last step
    steps = [p["step"] for p in result.eval_curve]
    assert steps[0] == 0 and steps[-1] == result.steps == 2
    assert 0 < result.assistant_turns_with_loss <= 1


def _trained_ids(tokenizer, row: dict) -> list[int]:
    """The row's token ids as TRL's SFTTrainer tokenises it (its training template)."""
    from medenv.training.sft_rows import normalise_row
    from trl.chat_template_utils import get_training_chat_template

    norm = normalise_row(row)
    tools = json.loads(norm["tools"]) if norm.get("tools") else None
    return list(
        tokenizer.apply_chat_template(
            norm["messages"], tools=tools, tokenize=True, return_dict=True,
            chat_template=get_training_chat_template(tokenizer),
        )["input_ids"]
    )  # fmt: skip


def test_rollout_agent_renders_exactly_what_was_trained(checkpoint, rows):
    """The agent built as `medenv rollout --agent llm --model CKPT` builds it, fed one
    real episode's observations, reads at every turn the prefix of the training tokens."""
    from medenv.agents.factory import AgentSpec, make_agent
    from medenv.training.sft import SFTTrainConfig
    from medenv.training.sft_rows import prepare_row

    out, _ = checkpoint
    agent = make_agent(AgentSpec("llm", {"model": str(out), "prompt": {}, "adapt_prompt": False}))
    tokenizer = agent.backend.tokenizer
    for row in rows[:5]:
        trained = prepare_row(row, SFTTrainConfig(**TRAINED_AS))
        ids = _trained_ids(tokenizer, trained)
        agent.reset()
        checked = 0
        user = next(m for m in row["messages"] if m["role"] == "user")
        agent.observe(user["content"], {"tools": row["tools"]})
        for m in row["messages"][2:]:
            if m["role"] == "assistant":
                rendered = agent.backend.render_ids(agent.messages, agent.tools)
                assert rendered == ids[: len(rendered)], row["question_id"]
                checked += 1
                agent.messages.append(m)
            else:  # the full observation, as the env returns it: the agent cuts it
                agent.observe(m["content"], {})
        assert checked >= 2


def test_rollout_refuses_a_mismatch_in_one_line_unless_adapting(checkpoint, tmp_path):
    from medenv.agents.llm import model_contract

    from medenv.errors import MedenvError

    out, _ = checkpoint
    with pytest.raises(MedenvError, match="max_tool_chars = 150 but 300"):
        model_contract(str(out), {"max_tool_chars": 300})
    adapted = model_contract(str(out), {"max_tool_chars": 300}, adapt=True)
    assert adapted.max_tool_chars == 300 and adapted.system_prompt is None
    assert model_contract(str(out), {"max_tool_chars": 150}).max_tool_chars == 150
    proc = subprocess.run(
        [sys.executable, "-m", "medenv.cli", "rollout", "--agent", "llm", "--model", str(out),
         "--db", str(tmp_path / "x.duckdb"), "--episodes", "1", "--thinking", "on"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "enable_thinking" in lines[0] and "--adapt-prompt" in lines[0]


def test_a_model_without_a_contract_takes_the_flags(tmp_path):
    from medenv.agents.messages import SYSTEM_PROMPT

    from medenv.errors import DataError
    from medenv.prompt import CONTRACT_FILE, asked_parts, load_contract, resolve_contract

    assert load_contract(tmp_path) is None
    default = resolve_contract(None, {})
    assert default.system_prompt == SYSTEM_PROMPT and default.template_tools
    prompt = tmp_path / "sys.txt"
    prompt.write_text("Answer with one entity.\n")
    asked = asked_parts(system_prompt_file=str(prompt), template_tools=False, thinking="off")
    got = resolve_contract(None, asked)
    assert (got.system_prompt, got.template_tools, got.enable_thinking) == (
        "Answer with one entity.", False, False
    )  # fmt: skip
    (tmp_path / CONTRACT_FILE).write_text('{"system_prompt": 3}')
    with pytest.raises(DataError, match=CONTRACT_FILE):
        load_contract(tmp_path)


def test_grpo_reads_the_checkpoint_contract(checkpoint):
    from medenv.training.grpo import GRPOTrainConfig, grpo_contract, prompt_rows

    from medenv.errors import MedenvError
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set

    out, _ = checkpoint
    contract = grpo_contract(GRPOTrainConfig(model=str(out)))
    assert (contract.system_prompt, contract.template_tools, contract.max_tool_chars,
            contract.task_prompt) == (None, False, 150, "question")  # fmt: skip
    items = read_qa_set(default_qa_set(progress=False))[:3]
    rows = prompt_rows(GRPOTrainConfig(model=str(out)), contract, items)
    assert [m["role"] for m in rows[0]["prompt"]] == ["user"]  # trained without a system turn
    # the env's reset supplies the user turn, rendered as the contract says
    from medenv.trl import MedResearchTools

    tools = MedResearchTools(task_prompt=contract.task_prompt, qa=items)
    assert tools.reset(id=items[0].id) == "Question: " + items[0].question
    assert "Tools:" in MedResearchTools(qa=items).reset(id=items[0].id)
    with pytest.raises(MedenvError, match="template_tools"):
        grpo_contract(GRPOTrainConfig(model=str(out), template_tools=True))
    adapted = grpo_contract(GRPOTrainConfig(model=str(out), no_system=False, adapt_prompt=True,
                                            max_tool_chars=400))  # fmt: skip
    assert adapted.max_tool_chars == 400


def test_export_token_report_renders_rows_with_the_checkpoint_contract(checkpoint, rows, tmp_path):
    from medenv.training.token_lengths import row_token_lengths, write_token_report
    from transformers import AutoTokenizer

    out, _ = checkpoint
    report = write_token_report(rows[:6], str(out), tmp_path)
    assert report["prompt_contract"]["max_tool_chars"] == 150
    tok = AutoTokenizer.from_pretrained(str(out))
    raw = row_token_lengths(rows[:6], tok)  # as exported: system turn, tools, whole pages
    measured = [json.loads(x) for x in (tmp_path / "sft_token_lengths.jsonl").read_text().splitlines()]
    assert all(m["total"] < r.total for m, r in zip(measured, raw, strict=True))

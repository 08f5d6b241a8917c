"""SFT with TRL on real tool trajectories, with the offline tiny model.

Trajectories are built from real components: questions synthesised from the real HPO graph
(KISA), each chain entity looked up with the real ``medical_search`` tool over the real
world, then the answer (the masked-trajectory-guidance shape, MTG). The trained tiny model
is cached under ``$MEDENV_HOME/models/sft-fixture-<hash>`` keyed by data + config.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

N_QUESTIONS = 48
FIXTURE_CONFIG = dict(max_steps=120, learning_rate=1e-2, batch_size=4, warmup_steps=5,
                      max_length=1700, eval_fraction=0.15, logging_steps=1000, seed=0)  # fmt: skip


def _threads():
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)  # the test machine is shared; one thread is fastest there
    return old


def build_world_and_items(n: int = N_QUESTIONS):
    from medenv.synth.config import SynthConfig
    from medenv.synth.pipeline import synthesize
    from medenv.world import load_world

    world = load_world(progress=False)
    items = synthesize(world.kg, SynthConfig(n=n, seed=0), world=world, progress=False).items
    return world, sorted(items, key=lambda i: i.id)


def tool_trajectory(world, item) -> dict:
    """One MTG trajectory: search each chain entity with the real tool, then answer."""
    from medenv.env import render_prompt
    from medenv.tools.registry import execute, tool_schemas

    schemas = tool_schemas()
    messages = [{"role": "user", "content": render_prompt(item.question, schemas, 12)}]
    for node_id in item.chain[:-1]:
        name = world.kg.node(node_id).name
        result = execute(world, "medical_search", {"query": name})
        messages.append(
            {
                "role": "assistant",
                "content": f"<think>\nI need facts about {name}.\n</think>",
                "tool_calls": [
                    {"type": "function", "function": {"name": "medical_search", "arguments": {"query": name}}}
                ],
            }
        )
        messages.append({"role": "tool", "name": "medical_search", "content": result.text})
    messages.append(
        {
            "role": "assistant",
            "content": f"<think>\nThe chain resolves to {item.answer}.\n</think>\n<answer>{item.answer}</answer>",
        }
    )
    return {
        "messages": messages,
        "tools": schemas,
        "question_id": item.id,
        "specialty": item.specialty,
        "n_hops": item.n_hops,
    }


@pytest.fixture(scope="session")
def sft_rows():
    world, items = build_world_and_items()
    return [tool_trajectory(world, item) for item in items]


def trained_fixture(rows: list[dict]) -> Path:
    """Train (once, cached by data + config) the tiny model on ``rows``."""
    from medenv.paths import medenv_home
    from training.sft import SFTTrainConfig, train_sft
    from training.tiny import tiny_model_path

    key = hashlib.sha256(
        json.dumps([rows, FIXTURE_CONFIG, tiny_model_path().name], sort_keys=True).encode()
    ).hexdigest()[:12]
    out = medenv_home() / "models" / f"sft-fixture-{key}"
    if (out / "medenv_sft.json").exists():
        return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    old = _threads()
    try:
        train_sft(SFTTrainConfig(out=str(tmp), model="tiny", progress=False, **FIXTURE_CONFIG), rows=rows)
    finally:
        import torch

        torch.set_num_threads(old)
    tmp.rename(out)
    return out


@pytest.fixture(scope="session")
def trained(sft_rows) -> Path:
    return trained_fixture(sft_rows)


def test_rows_are_contract_format_and_load(sft_rows, tmp_path):
    from training.sft import load_sft_rows, split_rows

    path = tmp_path / "sft.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in sft_rows))
    loaded = load_sft_rows(tmp_path)
    assert loaded == sft_rows
    train, held = split_rows(loaded, 0.15, seed=0)
    assert held and train
    assert not {r["question_id"] for r in train} & {r["question_id"] for r in held}
    assert split_rows(loaded, 0.15, seed=0) == (train, held)  # deterministic


def test_bad_rows_name_file_and_line(tmp_path):
    from medenv.errors import DataError
    from training.sft import load_sft_rows

    path = tmp_path / "bad.jsonl"
    ok = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path.write_text(json.dumps(ok) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: invalid JSON"):
        load_sft_rows(path)
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: row has no assistant turn"):
        load_sft_rows(path)


def test_sft_lowers_heldout_loss(sft_rows, trained):
    from training.sft import eval_loss, split_rows
    from training.tiny import tiny_model_path

    _, held = split_rows(sft_rows, FIXTURE_CONFIG["eval_fraction"], seed=0)
    old = _threads()
    try:
        before = eval_loss(str(tiny_model_path()), held, max_length=FIXTURE_CONFIG["max_length"])
        after = eval_loss(str(trained), held, max_length=FIXTURE_CONFIG["max_length"])
    finally:
        import torch

        torch.set_num_threads(old)
    assert after < before - 1.0, (before, after)


def test_trained_model_emits_parseable_tool_calls(sft_rows, trained):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medenv.tools.parsing import parse_action
    from training.sft import split_rows

    _, held = split_rows(sft_rows, FIXTURE_CONFIG["eval_fraction"], seed=0)
    tok = AutoTokenizer.from_pretrained(trained)
    model = AutoModelForCausalLM.from_pretrained(trained)
    ok = 0
    for row in held:
        enc = tok.apply_chat_template(
            row["messages"][:1], tools=row["tools"], add_generation_prompt=True,
            return_tensors="pt", return_dict=True,
        )  # fmt: skip
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=64, do_sample=False)
        text = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        parsed = parse_action(text)
        ok += parsed.error is None and len(parsed.calls) == 1
    assert ok >= len(held) / 2, f"{ok}/{len(held)} held-out prompts gave a valid tool call"


def test_config_yaml_checks_keys(tmp_path):
    from medenv.errors import DataError
    from training.config import load_config
    from training.sft import SFTTrainConfig

    path = tmp_path / "sft.yaml"
    path.write_text("learning_rate: 0.001\nlora: true\n")
    cfg = load_config(SFTTrainConfig, path, max_steps=5, model=None)
    assert (cfg.learning_rate, cfg.lora, cfg.max_steps, cfg.model) == (0.001, True, 5, "tiny")
    path.write_text("learning_rat: 0.001\n")
    with pytest.raises(DataError, match="unknown config keys"):
        load_config(SFTTrainConfig, path)

"""SFT with TRL on real MTG trajectories, with the offline tiny model.

The data is the real pipeline's: the masked-trajectory-guidance oracle (`medenv.agents.oracle`)
answers questions of the default QA set in the real env over the real world, the episodes
go to a real DuckDB event store, and `medenv.training.export` turns them into SFT rows. The
trained tiny model is cached under ``$MEDENV_HOME/models/sft-fixture-<hash>`` keyed by the
rows, the config and the base model, so only a cold cache pays for training.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

N_EPISODES = 400  # the oracle rollout takes ~4 s; more questions, fewer epochs
# Short rows make the tiny model cheap to train: tool observations cut to 150 characters,
# tools described once (in the env's prompt, not again in the template), no system turn
# (GRPO prompts have none). `prompt_for` applies the same preprocessing at inference.
# The held-out loss is measured by the tests themselves: the trainer evaluates only at the
# start and the end (``eval_steps`` = ``max_steps``), not ten times during the run (a fifth
# of the fixture's CPU). Think text is dropped (``keep_thinking=False``): the oracle's queries
# quote the question's words, and 250 steps with think text left 0 of 25 held-out calls
# parseable (the tiny model loops inside the long query). Without it, measured on the held-out
# rows (CPU-s of training, one thread): 120 steps give 0/25 valid calls (loss 8.27 -> 1.53),
# 150 steps 25/25 (-> 1.42, 57 CPU-s), 180 steps 25/25 (-> 1.40, 63), 250 steps 25/25 (-> 1.34,
# 83). 180: a margin of 60 steps over the last failing count, ~20 CPU-s less than 250.
FIXTURE_CONFIG = dict(max_steps=180, learning_rate=7e-3, batch_size=2, warmup_steps=5,
                      max_length=1024, max_tool_chars=150, template_tools=False,
                      keep_system=False, eval_fraction=0.05, logging_steps=1000, seed=0,
                      eval_steps=180, keep_thinking=False)  # fmt: skip
THREADS = 2


@functools.lru_cache(maxsize=1)
def oracle_export() -> Path:
    """Roll the oracle out on ``N_EPISODES`` questions into a fresh store; export it (once)."""
    from medenv.agents.rollout import rollout
    from medenv.training.export import export

    from medenv.paths import build_lock

    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # the workers of one run share it
    if run is None:
        tmp = Path(tempfile.mkdtemp(prefix="medenv-sft-"))
    else:
        tmp = Path(tempfile.gettempdir()) / f"medenv-sft-{run}"
        if (tmp / "export" / "sft.jsonl").is_file():
            return tmp / "export"
    with build_lock(tmp):
        if not (tmp / "export" / "sft.jsonl").is_file():
            tmp.mkdir(exist_ok=True)
            rollout(
                "oracle", qa=None, episodes=N_EPISODES, db=tmp / "oracle.duckdb", seed=0,
                progress=False,
            )  # fmt: skip
            export(tmp / "oracle.duckdb", tmp / "export", ["sft", "rl"], hf=False)
    return tmp / "export"


def oracle_rows() -> list[dict]:
    from medenv.training.sft_rows import load_sft_rows

    return load_sft_rows(oracle_export() / "sft.jsonl")


def fixture_config(out: str = ""):
    from medenv.training.sft import SFTTrainConfig

    return SFTTrainConfig(out=out, model="tiny", progress=False, **FIXTURE_CONFIG)


class torch_threads:
    """Run a block with ``n`` torch threads (the test machine has 2 shared cores)."""

    def __init__(self, n: int = THREADS) -> None:
        self.n = n

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


def trained_fixture(rows: list[dict]) -> Path:
    """Train (once, cached by data + config + base model) the tiny model on ``rows``."""
    from medenv.agents.tiny import tiny_model_path
    from medenv.training.sft import train_sft

    from medenv.paths import build_lock, medenv_home

    key = hashlib.sha256(
        json.dumps([rows, FIXTURE_CONFIG, tiny_model_path().name], sort_keys=True).encode()
    ).hexdigest()[:12]
    out = medenv_home() / "models" / f"sft-fixture-{key}"
    if (out / "medenv_sft.json").exists():
        return out
    with build_lock(out):  # xdist workers train it once
        if (out / "medenv_sft.json").exists():
            return out
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        with torch_threads():
            train_sft(fixture_config(str(tmp)), rows=rows)
        tmp.rename(out)
    return out


@pytest.fixture(scope="session")
def sft_rows():
    return oracle_rows()


@pytest.fixture(scope="session")
def trained(sft_rows) -> Path:
    return trained_fixture(sft_rows)


def test_exported_rows_are_contract_format_and_split_by_question(sft_rows):
    from medenv.training.sft_rows import split_rows

    assert len(sft_rows) >= N_EPISODES * 0.9  # the oracle answers ~99% correctly
    for row in sft_rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles[:2] == ["system", "user"] and roles[-1] == "assistant"
        assert "<answer>" in row["messages"][-1]["content"]
        assert any(m.get("tool_calls") for m in row["messages"])
        assert {t["function"]["name"] for t in row["tools"]} >= {"medical_search", "browse"}
    train, held = split_rows(sft_rows, 0.05, seed=0)
    assert held and train
    assert not {r["question_id"] for r in train} & {r["question_id"] for r in held}
    assert split_rows(sft_rows, 0.05, seed=0) == (train, held)  # deterministic


def test_preprocessing_cuts_observations_only(sft_rows):
    from medenv.training.sft_rows import prepare_row, prompt_for

    from medenv.prompt import strip_thinking

    cfg = fixture_config()
    row = max(sft_rows, key=lambda r: sum(len(m.get("content") or "") for m in r["messages"]))
    prepared = prepare_row(row, cfg)
    assert prepared["tools"] == [] and prepared["messages"][0]["role"] == "user"
    kept = [m for m in row["messages"] if m["role"] != "system"]
    assert len(prepared["messages"]) == len(kept)
    for before, after in zip(kept, prepared["messages"], strict=True):
        if before["role"] == "tool":
            assert len(after["content"]) <= cfg.max_tool_chars + len("\n[...cut]")
            assert before["content"].startswith(after["content"].removesuffix("\n[...cut]"))
        elif before["role"] == "assistant":  # the loss: changed only by dropping think text
            assert after == {**before, "content": strip_thinking(before.get("content") or "")}
        else:
            assert after == before
    assert any(len(m["content"]) > cfg.max_tool_chars for m in kept if m["role"] == "tool")
    messages, tools = prompt_for(row, cfg)
    assert [m["role"] for m in messages] == ["user"] and tools is None


def test_bad_rows_name_file_and_line(tmp_path):
    from medenv.training.sft_rows import load_sft_rows

    from medenv.errors import DataError

    path = tmp_path / "bad.jsonl"
    ok = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path.write_text(json.dumps(ok) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: invalid JSON"):
        load_sft_rows(path)
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: row has no assistant turn"):
        load_sft_rows(path)
    # wrong field types are named here, not deep inside pyarrow or the chat template
    user, assistant = ok["messages"]
    for bad_message, words in (
        ({"role": "user", "content": 5}, "message 0: 'content' must be a string, got int"),
        ({**assistant, "tool_calls": "x"}, "message 0: 'tool_calls' must be a list"),
        (
            {**assistant, "tool_calls": [{"function": {"name": "f", "arguments": 3}}]},
            "message 0: tool call arguments must be an object or a string",
        ),
    ):
        row = {"messages": [bad_message, assistant]}
        path.write_text(json.dumps(ok) + "\n" + json.dumps(row) + "\n")
        with pytest.raises(DataError, match=rf"bad\.jsonl:2: {words}"):
            load_sft_rows(path)
    path.write_bytes(json.dumps(ok).encode() + b"\n\xff\xfe\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid UTF-8"):
        load_sft_rows(path)
    parquet = tmp_path / "rows.parquet"
    parquet.write_bytes(b"PAR1 cut short")
    with pytest.raises(DataError, match=r"rows\.parquet: cannot read Parquet"):
        load_sft_rows(parquet)


def test_sft_lowers_heldout_loss(sft_rows, trained):
    from medenv.agents.tiny import tiny_model_path
    from medenv.training.sft import eval_loss
    from medenv.training.sft_rows import split_rows

    _, held = split_rows(sft_rows, FIXTURE_CONFIG["eval_fraction"], seed=0)
    cfg = fixture_config()
    with torch_threads():
        before = eval_loss(str(tiny_model_path()), held, config=cfg)
        after = eval_loss(str(trained), held, config=cfg)
    assert after < before - 1.0, (before, after)


def test_trained_model_emits_parseable_tool_calls(sft_rows, trained):
    import torch
    from medenv.training.sft_rows import prompt_for, split_rows
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medenv.tools.parsing import parse_action

    _, held = split_rows(sft_rows, FIXTURE_CONFIG["eval_fraction"], seed=0)
    cfg = fixture_config()
    tok = AutoTokenizer.from_pretrained(trained)
    tok.padding_side = "left"  # one greedy batch (a third of the CPU of one prompt at a time,
    model = AutoModelForCausalLM.from_pretrained(trained)  # the same 25 replies when measured)
    prompts = []
    for row in held:
        messages, tools = prompt_for(row, cfg)
        prompts.append(
            tok.apply_chat_template(
                messages, tools=tools, add_generation_prompt=True, tokenize=False
            )
        )
    ok, texts = 0, []
    with torch_threads(), torch.no_grad():
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        out = model.generate(**enc, max_new_tokens=256, do_sample=False)
    for reply in out[:, enc["input_ids"].shape[1] :]:
        text = tok.decode(reply, skip_special_tokens=True)
        parsed = parse_action(text)
        ok += parsed.error is None and len(parsed.calls) == 1
        texts.append(text)
    assert ok >= len(held) / 2, (
        f"{ok}/{len(held)} held-out prompts gave a valid tool call: {texts[:3]}"
    )


def test_config_yaml_checks_keys(tmp_path):
    from medenv.training.config import load_config
    from medenv.training.sft import SFTTrainConfig

    from medenv.errors import DataError

    path = tmp_path / "sft.yaml"
    path.write_text("learning_rate: 0.001\nlora: true\nmax_tool_chars: 200\n")
    cfg = load_config(SFTTrainConfig, path, max_steps=5, model=None)
    assert (cfg.learning_rate, cfg.lora, cfg.max_steps, cfg.model, cfg.max_tool_chars) == (
        0.001,
        True,
        5,
        "tiny",
        200,
    )
    path.write_text("learning_rat: 0.001\n")
    with pytest.raises(DataError, match="unknown config keys"):
        load_config(SFTTrainConfig, path)
    # values of the wrong type are named with their key (YAML reads 1e-5 as a string)
    path.write_text("learning_rate: 1e-5\nmax_steps: 3\n")
    assert load_config(SFTTrainConfig, path).learning_rate == 1e-5
    path.write_text("max_steps: many\n")
    with pytest.raises(DataError, match=r"sft\.yaml: max_steps: Expected `int`, got `str`"):
        load_config(SFTTrainConfig, path)
    path.write_text("a: [\n")
    with pytest.raises(DataError, match=r"sft\.yaml:2: invalid YAML: expected the node") as err:
        load_config(SFTTrainConfig, path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_steps": 0}, "--max-steps must be at least 1 (or -1"),
        ({"max_steps": -5}, "--max-steps must be at least 1 (or -1"),
        ({"batch_size": 0}, "--batch-size must be at least 1, got 0"),
        ({"learning_rate": -1.0}, "--lr (learning_rate) must be > 0, got -1.0"),
        ({"learning_rate": float("nan")}, "--lr (learning_rate) must be > 0"),
        ({"epochs": 0}, "--epochs must be > 0, got 0"),
        ({"eval_fraction": 1.0}, "--eval-fraction must be in [0, 1), got 1.0"),
        ({"max_rows": 0}, "--max-rows must be at least 1, got 0"),
        ({"max_length": 0}, "--max-length must be at least 1, got 0"),
        ({"max_tool_chars": -5}, "--max-tool-chars must be >= 0, got -5"),
        ({"seed": -1}, "--seed must be >= 0, got -1"),
        ({"lora_dropout": 1.0}, "lora_dropout must be in [0, 1), got 1.0"),
        ({"model": " "}, "--model is empty"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else "-".join(v),
)
def test_sft_config_check_names_the_bad_setting(tmp_path, settings, message):
    from medenv.training.sft import SFTTrainConfig, train_sft

    from medenv.errors import MedenvError

    config = SFTTrainConfig(data=str(tmp_path / "none.jsonl"), out=str(tmp_path / "o"), **settings)
    with pytest.raises(MedenvError) as err:
        train_sft(config)  # before the (missing) data or any model is read
    assert message in str(err.value)
    assert SFTTrainConfig(out=str(tmp_path / "o")).check()  # the defaults pass


def test_labelled_loss_is_the_models_own_loss(sft_rows):
    """The CPU trainer's loss (LM head only at labelled positions) equals the model's own
    causal-LM loss (Transformers' ``ForCausalLMLoss`` over the full logits), value and
    gradient, on real rows of unequal length (left padding) with prompt tokens masked."""
    import torch
    from medenv.agents.tiny import tiny_model_path
    from medenv.training.lm import labelled_loss
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_path())
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path())
    texts = [tok.apply_chat_template(r["messages"][:3], tokenize=False) for r in sft_rows[:3]]
    enc = tok(texts, return_tensors="pt", padding=True)
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100
    labels[:, : labels.shape[1] // 2] = -100  # "the prompt": no loss on the first half
    inputs = {**enc, "labels": labels}
    with torch_threads():
        own = model(**inputs).loss
        own_grad = torch.autograd.grad(own, model.lm_head.weight)[0]
        mine, _ = labelled_loss(model, inputs)
        mine_grad = torch.autograd.grad(mine, model.lm_head.weight)[0]
        n = int((labels[:, 1:] != -100).sum())
        own_sum = model(**inputs, num_items_in_batch=torch.tensor(2 * n)).loss
        mine_sum, _ = labelled_loss(model, inputs, torch.tensor(2 * n))
    assert torch.allclose(own, mine, atol=1e-5), (own, mine)
    assert torch.allclose(own_grad, mine_grad, atol=1e-6)
    assert (
        torch.allclose(own_sum, mine_sum, atol=1e-5)
        and abs(float(mine_sum) * 2 - float(mine)) < 1e-4
    )

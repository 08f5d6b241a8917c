"""GRPO with TRL's environment_factory against the real MedResearch-v0 env (CPU, tiny model).

The policy starts from the SFT fixture of test_sft (the tiny model trained on exported
oracle trajectories, cached under $MEDENV_HOME), so it emits tool calls and answers;
rollouts run in the real env over the real world, logged to a real DuckDB event store.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_sft import FIXTURE_CONFIG, oracle_rows, torch_threads, trained_fixture

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

GRPO_TEST_CONFIG = dict(max_steps=2, num_generations=4, batch_size=4, max_completion_length=768,
                        max_tool_calling_iterations=4, env_max_steps=5, temperature=0.6,
                        learning_rate=1e-4,
                        max_tool_chars=FIXTURE_CONFIG["max_tool_chars"],
                        template_tools=FIXTURE_CONFIG["template_tools"], reward_evidence_recall=0.5,
                        seed=0)  # fmt: skip


def grpo_setup():
    """(world, 4 held-out QA items, SFT-trained start model)."""
    from medenv.training.sft_rows import split_rows

    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set
    from medenv.world import load_world

    rows = oracle_rows()
    start = trained_fixture(rows)
    _, held = split_rows(rows, FIXTURE_CONFIG["eval_fraction"], seed=0)
    ids = sorted(r["question_id"] for r in held)[:4]
    items = [i for i in read_qa_set(default_qa_set(progress=False)) if i.id in ids]
    return load_world(progress=False), items, start


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory):
    from medenv.training.grpo import GRPOTrainConfig, train_grpo

    world, items, start = grpo_setup()
    out = tmp_path_factory.mktemp("grpo")
    config = GRPOTrainConfig(out=str(out), model=str(start), progress=False, **GRPO_TEST_CONFIG)
    with torch_threads():
        result = train_grpo(config, world=world, qa_items=items)
    return config, start, result


def test_rollouts_reach_env_and_are_logged_with_training_step(grpo_run):
    from medenv.events.store import connect

    config, _, result = grpo_run
    assert result.steps == 2
    con = connect(result.db)
    started = con.execute(
        "select json_extract(payload, '$.tags.training_step')::INT, json_extract_string(payload, '$.tags.agent') "
        "from events where type = 'episode_started'"
    ).fetchall()
    assert len(started) == result.steps * config.batch_size
    assert {s for s, _ in started} == {0, 1}
    assert {a for _, a in started} == {"grpo"}
    n_actions = con.execute(
        "select count(*) from events where type = 'action_received'"
    ).fetchone()[0]
    assert n_actions > 0  # the model's tool calls / final messages were stepped in the env
    runs = {r[0] for r in con.execute("select distinct run_id from events").fetchall()}
    assert runs == set(result.run_ids)


def test_a_malformed_turn_is_a_penalised_step_not_the_end(grpo_run):
    """As in evaluation: after a rejected (malformed) action the episode goes on (the env
    is stepped again), unless the rejection hit the step budget."""
    from medenv.events.store import connect

    _, _, result = grpo_run
    con = connect(result.db)
    rows = con.execute(
        "select episode_id, type from events where type in ('action_received', "
        "'action_rejected', 'episode_ended') order by episode_id, seq"
    ).fetchall()
    episodes: dict = {}
    for episode, kind in rows:
        episodes.setdefault(episode, []).append(kind)
    rejected = [kinds for kinds in episodes.values() if "action_rejected" in kinds]
    assert rejected, "the tiny policy made no malformed turn in this run"
    # an action was received after a rejection in the same episode
    assert any(
        "action_received" in kinds[kinds.index("action_rejected") + 1 :] for kinds in rejected
    ), rejected
    saved = (Path(result.out) / "medenv_prompt.json").read_text()
    assert '"max_tool_chars": 150' in saved and '"template_tools": false' in saved


def test_reward_components_logged_per_step_and_vary_in_group(grpo_run):
    _, _, result = grpo_run
    assert [r["step"] for r in result.rewards] == [1, 2]
    for row in result.rewards:
        assert {"accuracy_mean", "format_mean", "efficiency_mean"} <= set(row)
    # malformed turns are penalised steps (the episode goes on), so a weak policy's format
    # term is often 0 for the whole group; the dense evidence-recall term still varies
    assert any(
        row[f"{c}_std"] > 0
        for row in result.rewards
        for c in ("accuracy", "format", "efficiency", "evidence_recall")
    )


def test_policy_parameters_change(grpo_run):
    import torch
    from transformers import AutoModelForCausalLM

    _, start, result = grpo_run
    before = AutoModelForCausalLM.from_pretrained(start).state_dict()
    after = AutoModelForCausalLM.from_pretrained(result.out).state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "no parameter moved"


@pytest.mark.gpu
def test_grpo_with_vllm_colocate(tmp_path):
    pytest.importorskip("vllm")
    from medenv.training.grpo import GRPOTrainConfig, train_grpo

    world, items, start = grpo_setup()
    config = GRPOTrainConfig(out=str(tmp_path), model=str(start), use_vllm=True, progress=False,
                             **GRPO_TEST_CONFIG)  # fmt: skip
    result = train_grpo(config, world=world, qa_items=items)
    assert result.steps == 2 and result.rewards


def test_activation_recomputation_is_off_for_small_models_unless_asked():
    """TRL recomputes activations by default; medenv turns it off below 50M parameters
    (the tiny model) and keeps an explicit setting either way."""
    import torch
    from medenv.training.grpo import GRPOTrainConfig, recompute_activations

    small = torch.nn.Linear(10, 10)  # 110 parameters
    big = torch.nn.Embedding(50_000_000, 1)  # 50M parameters
    assert recompute_activations(GRPOTrainConfig(), small) is False
    assert recompute_activations(GRPOTrainConfig(), big) is True
    assert recompute_activations(GRPOTrainConfig(gradient_checkpointing=True), small) is True
    assert recompute_activations(GRPOTrainConfig(gradient_checkpointing=False), big) is False


def test_recompute_switch_is_named_as_the_installed_transformers_names_it():
    """transformers renamed ``gradient_checkpointing`` to ``activation_checkpointing`` (the old
    name an alias); releases before the rename reject the new keyword, so medenv passes
    whichever the config class has, and the real TRL configs accept it."""
    import dataclasses

    from medenv.training.lm import recompute_kwarg
    from trl import GRPOConfig, SFTConfig

    @dataclasses.dataclass
    class Before:
        gradient_checkpointing: bool = True

    @dataclasses.dataclass
    class After(Before):
        activation_checkpointing: bool | None = None

    assert recompute_kwarg(Before, False) == {"gradient_checkpointing": False}
    assert recompute_kwarg(After, False) == {"activation_checkpointing": False}
    for config_class in (SFTConfig, GRPOConfig):
        for on in (False, True):
            args = config_class(
                output_dir="unused",
                report_to="none",
                bf16=False,
                **recompute_kwarg(config_class, on),
            )
            assert (
                bool(getattr(args, "activation_checkpointing", None) or args.gradient_checkpointing)
                is on
            )

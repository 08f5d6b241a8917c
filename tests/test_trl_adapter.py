"""`medenv.trl`: the TRL adapter, checked against the tool registry, the RL export's rows and
TRL's own ``GRPOTrainer(environment_factory=...)`` on the tiny model (CPU)."""

from __future__ import annotations

import functools
import inspect
import json
import os

import pytest
from medenv.agents.rollout import rollout
from medenv.training.export import export

from medenv.errors import MedenvError
from medenv.events.store import connect
from medenv.tools.registry import TOOL_NAMES, tool_schemas
from medenv.trl import MedResearchToolEnv, MedResearchTools, reward_functions

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


@pytest.fixture(scope="module")
def rl_export(tmp_path_factory):
    """Oracle rollouts on 4 questions, exported with ``--format rl``: (qa, rows, folder)."""
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set, write_qa_set

    base = tmp_path_factory.mktemp("trl")
    items = [i for i in read_qa_set(default_qa_set(progress=False)) if i.split == "train"][:4]
    qa = write_qa_set(base / "qa", items, {"source": "test"})
    db = base / "oracle.duckdb"
    rollout("oracle", qa=qa, db=db, seed=0, progress=False)
    export(db, base / "out", ["rl"])
    path = base / "out" / "rl_prompts.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return qa, rows, path, {i.id: i for i in items}


def _expected_transformers_schema(schema: dict) -> dict:
    """What a Google-docstring function stating ``schema`` yields: name, description, each
    argument's JSON type and description, the required list (bounds are not expressible)."""
    fn = schema["function"]
    params = fn["parameters"]
    return {"type": "function", "function": {
        "name": fn["name"],
        "description": fn["description"],
        "parameters": {
            "type": "object",
            "properties": {
                arg: {"type": spec["type"], "description": spec["description"]}
                for arg, spec in params["properties"].items()
            },
            "required": list(params["required"]),
        },
        "return": {"type": "string"},
    }}  # fmt: skip


def test_tool_methods_are_the_registry_tools(tmp_path):
    from transformers.utils import get_json_schema

    public = sorted(
        n
        for n, _ in inspect.getmembers(MedResearchToolEnv, predicate=inspect.isfunction)
        if not n.startswith("_")
    )
    assert public == sorted([*TOOL_NAMES, "get_reward", "reset"])  # no close/step/... tools
    env = MedResearchToolEnv(db=tmp_path / "s.duckdb")
    for schema in tool_schemas():
        name = schema["function"]["name"]
        assert get_json_schema(getattr(env, name)) == _expected_transformers_schema(schema)
    top_k = inspect.signature(env.medical_search).parameters["top_k"]
    assert top_k.default == 5 and top_k.annotation is int
    MedResearchToolEnv.close_all()


def test_reset_from_exported_rows_and_reward(rl_export, tmp_path):
    qa, rows, _, items = rl_export
    assert {r["id"] for r in rows} == set(items)
    db = tmp_path / "a.duckdb"
    env = MedResearchToolEnv(qa=qa, db=db, max_tool_chars=200)
    for row in rows:
        assert env.reset(**row) is None  # the exported prompt already holds the question
        assert env.env.unwrapped.item.id == row["id"]
    row = rows[0]
    empty = {"prompt": [{"role": "user", "content": ""}], "question_id": row["id"]}
    prompt = env.reset(**empty)
    assert items[row["id"]].question in prompt
    out = env.medical_search(query=items[row["id"]].answer)
    assert out.endswith("[...cut]") and len(out) <= 200 + len("\n[...cut]")
    assert env.answer(answer=items[row["id"]].answer).startswith("Final answer submitted")
    assert env.answer(answer="again") == "The episode is over: the answer was already submitted."
    reward = env.get_reward()
    with pytest.raises(MedenvError, match="no 'id'"):
        env.reset(prompt=[{"role": "user", "content": "What is X?"}])
    MedResearchToolEnv.close_all()
    con = connect(db)
    logged = con.execute(
        "SELECT reward, correct FROM episodes WHERE question_id = ? AND reward IS NOT NULL",
        [row["id"]],
    ).fetchall()
    con.close()
    assert logged == [(pytest.approx(reward), True)] and reward > 1.0


def test_grpo_trainer_with_environment_factory_on_exported_rows(rl_export, tmp_path):
    """As TRL's docs show: a dataset with a prompt column, ``environment_factory`` and the
    environment's own ``get_reward``; one step on the tiny model."""
    from datasets import load_dataset
    from medenv.agents.tiny import tiny_model_path
    from trl import GRPOConfig, GRPOTrainer

    qa, rows, path, _ = rl_export
    dataset = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path))
    db = tmp_path / "grpo.duckdb"
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2,
        num_generations=2, max_completion_length=48, max_tool_calling_iterations=2,
        report_to="none", save_strategy="no", disable_tqdm=True, bf16=False, logging_steps=1,
        seed=0, use_cpu=True,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=str(tiny_model_path()),
        args=args,
        train_dataset=dataset,
        environment_factory=functools.partial(MedResearchToolEnv, qa=qa, db=db, max_steps=4),
    )
    assert sorted(t.__name__ for t in trainer._env_tools[None]) == sorted(TOOL_NAMES)
    trainer.train()
    MedResearchToolEnv.close_all()
    assert trainer.state.global_step == 1
    assert any("rewards/MedResearchToolEnv/mean" in e for e in trainer.state.log_history)
    con = connect(db)
    episodes = con.execute(
        "SELECT question_id, reward FROM episodes WHERE reward IS NOT NULL"
    ).fetchall()
    con.close()
    ids = {r["id"] for r in rows}
    # every rollout ran on its row's question (a group of 2 per prompt) and was scored
    assert len(episodes) == 2 and {q for q, _ in episodes} <= ids
    assert len({q for q, _ in episodes}) == 1


def test_component_reward_functions_need_environments():
    assert [f.__name__ for f in reward_functions()] == [
        "accuracy",
        "format",
        "efficiency",
        "evidence_recall",
    ]
    with pytest.raises(MedenvError):
        reward_functions()[0](completions=["x"])
    assert not hasattr(MedResearchTools, "get_reward")

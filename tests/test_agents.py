"""Oracle (MTG), heuristic and random agents over the real env, world and default QA set."""

from __future__ import annotations

import re

import pytest

from agents.rollout import rollout
from medenv.errors import MedenvError
from medenv.tools.parsing import parse_action
from training.export import load_episodes


def _labels(kg, entity_id):
    node = kg.node(entity_id)
    return [lab for lab in (node.name, *node.synonyms) if lab]


def _mentions(text: str, label: str) -> bool:
    return re.search(r"(?<![\w])" + re.escape(label) + r"(?![\w])", text, re.I) is not None


@pytest.fixture(scope="session")
def qa_items():
    from medenv.synth import default_qa_set
    from medenv.synth.io import read_qa_set

    return read_qa_set(default_qa_set(progress=False))


@pytest.fixture(scope="session")
def oracle_run(tmp_path_factory, qa_items):
    db = tmp_path_factory.mktemp("oracle") / "oracle.duckdb"
    items = [it for it in qa_items if it.split == "train"][:40]
    result = rollout("oracle", qa=items, db=db, seed=3, progress=False)
    return result, load_episodes(db), {it.id: it for it in items}


def test_oracle_answers_correctly_and_efficiently(oracle_run):
    result, episodes, _ = oracle_run
    assert result.ran == 40 and len(episodes) == 40
    assert result.accuracy >= 0.9
    assert all(ep.n_format_errors == 0 for ep in episodes)
    assert all(ep.n_tool_calls <= 12 for ep in episodes)


def test_oracle_never_writes_a_name_before_a_tool_showed_it(oracle_run):
    """Every action is checked against the prompt and the observations before it: the
    answer, its aliases and every masked intermediate entity appear only once revealed."""
    from medenv.kg.cache import load_kg

    kg = load_kg("hpo")
    _, episodes, items = oracle_run
    checked = 0
    for ep in episodes:
        item = items[ep.question_id]
        hidden = {lab for e in item.chain[1:] for lab in _labels(kg, e)}
        hidden |= {item.answer, *item.aliases}
        context = ep.prompt
        for step in ep.steps:
            for label in hidden:
                if _mentions(step.text, label):
                    assert _mentions(context, label), (ep.question_id, step.step, label)
                    checked += 1
            context += "\n" + (step.observation or "")
    assert checked > 40  # names are used once revealed, so the check really ran


def test_oracle_writes_model_style_varied_actions(oracle_run):
    _, episodes, _ = oracle_run
    openings = set()
    for ep in episodes:
        for step in ep.steps:
            parsed = parse_action(step.text)
            assert parsed.error is None and len(parsed.calls) == 1
            assert step.text.startswith("<think>\n") and parsed.think
        openings.add(ep.steps[0].text.split(".")[0])
        assert ep.steps[-1].name == "answer" or ep.steps[-1].answer is not None
    assert len(openings) >= 3  # phrasing varies across episodes
    tools = {s.name for ep in episodes for s in ep.steps}
    assert {"medical_search", "browse"} <= tools


def test_oracle_is_deterministic_and_needs_a_chain(qa_items, tmp_path):
    import gymnasium as gym

    import medenv.env  # noqa: F401
    from agents.oracle import OracleAgent

    item = qa_items[0]
    env = gym.make("MedResearch-v0", qa=[item], db=None)
    texts = []
    for _ in range(2):
        obs, info = env.reset(seed=1, options={"question_id": item.id})
        agent = OracleAgent(env.unwrapped.world)
        agent.reset(env.unwrapped.item, seed=1)
        run = []
        done = False
        while not done:
            action = agent.act(obs, info)
            run.append(action)
            obs, _, term, trunc, info = env.step(action)
            done = term or trunc
        texts.append(run)
    assert texts[0] == texts[1]
    with pytest.raises(MedenvError, match="gold chain"):
        OracleAgent(env.unwrapped.world).reset(None)
    env.close()


def test_heuristic_and_random_agents_run_without_the_chain(qa_items, tmp_path):
    items = [it for it in qa_items if it.split == "validation"][:8]
    db = tmp_path / "base.duckdb"
    h = rollout("heuristic", qa=items, db=db, seed=0, progress=False)
    r = rollout("random", qa=items, db=db, seed=0, progress=False)
    assert h.ran == r.ran == 8
    eps = load_episodes(db)
    assert {ep.agent for ep in eps} == {"heuristic", "random"}
    heur = [ep for ep in eps if ep.agent == "heuristic"]
    assert all(ep.terminated and ep.prediction for ep in heur)
    assert all(ep.n_tool_calls <= 12 for ep in eps)
    # the heuristic's queries come from the question's quoted names only
    for ep in heur:
        first = ep.steps[0]
        assert first.name == "medical_search" and f'"{first.arguments["query"]}"' in ep.prompt

"""Oracle (MTG), heuristic and random agents over the real env, world and default QA set."""

from __future__ import annotations

import re

import pytest
from medenv.agents.rollout import rollout
from medenv.training.export import load_episodes

from medenv.errors import MedenvError
from medenv.tools.parsing import parse_action


def _labels(kg, entity_id):
    node = kg.node(entity_id)
    return [lab for lab in (node.name, *node.synonyms) if lab]


def _mentions(text: str, label: str) -> bool:
    return re.search(r"(?<![\w])" + re.escape(label) + r"(?![\w])", text, re.I) is not None


@pytest.fixture(scope="session")
def qa_items():
    from medenv.questions import default_qa_set
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
    from medenv.agents.oracle import OracleAgent

    import medenv.env  # noqa: F401

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


def test_evidence_lists_the_ids_of_one_name_in_id_order():
    """A name that names several entities (an OMIM and an Orphanet disease) lists them in id
    order, not in the iteration order of a set of strings, which follows PYTHONHASHSEED: the
    oracle tries candidates in listed order, so two runs of one seed took different
    trajectories on 2 of the default set's questions (found running the README's rollout
    block and `medenv rollout` side by side)."""
    from medenv.agents.evidence import Evidence

    from medenv.grounding.labels import LabelIndex

    ids = [f"X:{n:02d}" for n in (7, 3, 11, 1, 9, 5, 12, 2, 8, 4, 10, 6)]
    index = LabelIndex([(i, "Shared disease name") for i in ids] + [("Y:1", "Other name")])
    ev = Evidence(index, None, 'Which gene is linked to "Shared disease name" or "Other name"?')
    assert list(ev.order) == sorted(ids) + ["Y:1"]


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


@pytest.fixture(scope="module")
def traced(qa_items):
    """40 oracle episodes run by hand, keeping each agent's choice trace."""
    import gymnasium as gym
    from medenv.agents.oracle import OracleAgent

    import medenv.env  # noqa: F401

    # train items 40-79: the answerability limit of the level-2 default set (`max_candidates`)
    # leaves few ambiguous nodes; this slice holds some, where the oracle backtracks
    items = [it for it in qa_items if it.split == "train"][40:80]
    env = gym.make("MedResearch-v0", qa=items, db=None)
    out = []
    for it in items:
        obs, info = env.reset(seed=5, options={"question_id": it.id})
        agent = OracleAgent(env.unwrapped.world)
        agent.reset(env.unwrapped.item, seed=5)
        prompt, steps, done = obs, [], False
        while not done:
            action = agent.act(obs, info)
            obs, _, term, trunc, info = env.step(action)
            done = term or trunc
            steps.append((action, None if done else obs))
        out.append((it, prompt, steps, list(agent.trace), agent.search_hits, info["correct"]))
    env.close()
    return env.unwrapped.world.kg, out


_CLOSED: dict[int, object] = {}


def _fits(kg, item, node, head, entity):
    """Independent KG check: ``entity`` meets every fact the question states at ``node``,
    read as the question means it: under the ontology closure (`tests.closure_ref`; a
    described constraint such as "has immunological features" holds through the
    true-path rule, not as a literal edge)."""
    from tests.closure_ref import ClosedGraph

    closed = _CLOSED.get(id(kg))
    if closed is None:
        closed = _CLOSED[id(kg)] = ClosedGraph(kg.graph)
    hop = item.hops[node - 1]
    ok = entity in (
        kg.predecessors(head, hop.relation) if hop.inverse else kg.successors(head, hop.relation)
    )
    for c in item.constraints:
        if c.node == node:
            ok = ok and (
                closed.holds(c.entity, c.relation, entity)
                if c.inverse
                else closed.holds(entity, c.relation, c.entity)
            )
    return ok and kg.node(entity).type == kg.node(item.chain[node]).type


def test_oracle_choices_follow_the_evidence_not_the_label(traced):
    """0 unjustified choices: a choice made as the only fitting candidate really had no
    visible rival that fits (recomputed from the KG and the observations with the
    independent matcher); among several, the first listed was tried, gold or not."""
    from tests.grounding_ref import RefIndex

    kg, runs = traced
    ref = RefIndex(kg)
    n_single = n_order = wrong_tries = 0
    for item, prompt, steps, trace, _, _ in runs:
        if any(c.node == 0 for c in item.constraints):
            continue  # a described seed: entered at node 1 (tests/test_synth_obfuscation.py)
        path = {0: item.chain[0]}
        rejected: set[str] = set()
        for choice in trace:
            head = path[choice.node - 1]
            seen = [prompt] + [o for _, o in steps[: choice.step] if o]
            visible = {i for text in seen for _, ids in ref.find(text) for i in ids}
            rivals = {
                e
                for e in visible - {choice.chosen} - rejected - set(path.values())
                if _fits(kg, item, choice.node, head, e)
            }
            assert _fits(kg, item, choice.node, head, choice.chosen) or choice.reason == "explore"
            if choice.reason == "single":
                n_single += 1
                assert not rivals, (item.id, choice)
            elif choice.reason == "order":
                n_order += 1
                assert choice.candidates[0] == choice.chosen
            if choice.rejected:
                rejected.add(choice.chosen)
                wrong_tries += choice.reason == "order"
            else:
                path[choice.node] = choice.chosen
    assert n_single > 80 and n_order > 0
    assert wrong_tries > 0  # listed order, not the gold label, decides what is tried first


def test_oracle_is_grounded_correct_and_finds_with_the_questions_words(traced):
    from medenv.grounding import LabelIndex, check_episode

    kg, runs = traced
    index = LabelIndex.of_kg(kg)
    hits = [h for *_, found, _ in runs for h in found]
    assert sum(hits) / len(hits) >= 0.8  # the next entity is in the first search's results
    assert sum(ok for *_, ok in runs) >= 36  # 90%
    for item, prompt, steps, *_ in runs:
        assert check_episode(prompt, steps, index).grounded, item.id


def test_the_question_only_heuristic_rarely_answers_the_default_set(qa_items, tmp_path):
    """Issue 14: questions that need their chain. The heuristic (search the quoted names,
    answer a listed name) answered 15.4% of the v3 set's test split; on the default set it
    must stay a floor: at most 5% of the test split, while the oracle, which follows the
    chain, answers these same items (`test_oracle_answers_correctly_and_efficiently`)."""
    items = [it for it in qa_items if it.split == "test"]
    assert len(items) >= 150
    result = rollout("heuristic", qa=items, db=tmp_path / "h.duckdb", seed=0, progress=False)
    assert result.ran == len(items)
    assert result.correct / result.ran <= 0.05

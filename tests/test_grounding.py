"""Groundedness (`medenv.grounding`) against a second implementation (`tests.grounding_ref`):
both on the oracle's real trajectories (plain and exploring), on seeded violations of
each kind, on a hand-written episode, and as the `medenv eval` metric."""

from __future__ import annotations

import json
import re

import pytest
from medenv.agents.rollout import AgentSpec, rollout
from medenv.training.export import load_episodes

from medenv import evaluation
from medenv.grounding import LabelIndex, check_episode
from tests.grounding_ref import RefIndex, ref_check


@pytest.fixture(scope="module")
def indexes(kg):
    return LabelIndex.of_kg(kg), RefIndex(kg)


@pytest.fixture(scope="module")
def oracle_log(tmp_path_factory):
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set

    items = [it for it in read_qa_set(default_qa_set(progress=False)) if it.split == "train"]
    db = tmp_path_factory.mktemp("ground") / "oracle.duckdb"
    rollout(AgentSpec("oracle", {"explore": 0.5}), qa=items[40:70], db=db, seed=1, progress=False)
    rollout("heuristic", qa=items[40:46], db=db, seed=1, progress=False)
    return db, load_episodes(db)


def _steps(ep):
    return [(s.text, s.observation) for s in ep.steps]


def _kinds(report) -> set[str]:
    return {v.kind for v in report.violations}


def test_both_checks_pass_every_oracle_trajectory(oracle_log, indexes):
    index, ref = indexes
    episodes = [ep for ep in oracle_log[1] if ep.agent == "oracle"]
    assert len(episodes) == 30
    claims = 0
    for ep in episodes:
        report = check_episode(ep.prompt, _steps(ep), index)
        assert report.grounded, (ep.question_id, report.violations)
        assert ref_check(ep.prompt, _steps(ep), ref) == [], ep.question_id
        claims += report.n_claims
    assert claims > 60  # the oracle does state facts; they are all backed


def _unseen_label(kg, texts: str) -> str:
    low = texts.lower()
    for node in kg.nodes("disease"):
        if len(node.name) > 12 and node.name.lower() not in low and not node.name.isupper():
            return node.name
    raise AssertionError("no unseen label")


def _mutations(ep, kg):
    """(kind expected, mutated steps) for seeded violations of each kind."""
    steps = _steps(ep)
    everything = ep.prompt + "".join(f"{a}\n{o or ''}" for a, o in steps)
    first_think = re.search(r"<think>\n(.*?)\n</think>", steps[0][0], re.S)
    out = []
    label = _unseen_label(kg, everything)
    text = steps[0][0].replace(
        first_think.group(1), first_think.group(1) + f' It may be "{label}".'
    )
    out.append(("mention", [(text, steps[0][1]), *steps[1:]]))
    # a fact never shown: the answer and the seed named together before anything was read
    seed = re.findall(r'"([^"]+)"', ep.prompt.split("Question:")[-1])[-1]
    text = steps[0][0].replace(
        first_think.group(1), first_think.group(1) + f' "{seed}" is linked to "{ep.prediction}".'
    )
    out.append(("claim", [(text, steps[0][1]), *steps[1:]]))
    # an absence claimed about an entity no tool has shown by then (before any observation)
    text = steps[0][0].replace(
        first_think.group(1), first_think.group(1) + f' "{seed}" does not fit.'
    )
    out.append(("negation", [(text, steps[0][1]), *steps[1:]]))
    browse = [i for i, (a, _) in enumerate(steps) if '"browse"' in a]
    if browse:
        i = browse[0]
        a = re.sub(
            r'"url": "[^"]+"', '"url": "https://medref.medenv.org/entity/HP:9999999"', steps[i][0]
        )
        out.append(("url", [*steps[:i], (a, steps[i][1]), *steps[i + 1 :]]))
    return out


def test_seeded_violations_are_caught_by_both(oracle_log, indexes, kg):
    index, ref = indexes
    caught = {"mention": 0, "claim": 0, "negation": 0, "url": 0}
    tried = 0
    for ep in [e for e in oracle_log[1] if e.agent == "oracle"][:15]:
        for kind, steps in _mutations(ep, kg):
            tried += 1
            mine = _kinds(check_episode(ep.prompt, steps, index))
            theirs = set(ref_check(ep.prompt, steps, ref))
            assert mine == theirs, (ep.question_id, kind, mine, theirs)
            caught[kind] += kind in mine
    assert tried >= 45
    assert caught["mention"] == caught["negation"] == 15 and caught["url"] >= 5
    assert caught["claim"] >= 14  # seed and answer are (almost) never on one page


def test_hand_written_episode_rules(indexes):
    index, ref = indexes
    prompt = 'Question: Which gene is associated with "Marfan syndrome"?'
    obs = (
        'medical_search results for "Marfan syndrome":\n'
        "1. Marfan syndrome | https://medref.medenv.org/entity/OMIM:154700\n"
        "   Marfan syndrome is associated with the gene: FBN1.\n"
        "2. Ectopia lentis | https://medref.medenv.org/entity/HP:0001083\n"
        "   Ectopia lentis is a clinical feature of: Homocystinuria."
    )
    search = '<think>\nSearch it.\n</think>\n<tool_call>\n{"name": "medical_search", "arguments": {"query": "Marfan syndrome"}}\n</tool_call>'

    def answer(think):
        return f"<think>\n{think}\n</think>\n<answer>FBN1</answer>"

    cases = {
        '"FBN1" is the gene of "Marfan syndrome".': set(),  # one result states it
        '"FBN1" goes with "Homocystinuria".': {"claim"},  # different results
        '"Ectopia lentis" does not fit.': set(),  # a result titled with it was shown
        '"Homocystinuria" does not fit.': {"negation"},  # seen, never inspected
        'Maybe "Aortic root aneurysm".': {"mention"},  # never seen
        "The ACE gene is not it.": {"mention", "negation"},  # unseen, never inspected
        "I will ace this.": set(),  # ... so this is no mention of the gene ACE
    }
    for think, expected in cases.items():
        steps = [(search, obs), (answer(think), None)]
        assert _kinds(check_episode(prompt, steps, index)) == expected, think
        assert set(ref_check(prompt, steps, ref)) == expected, think
    # the answer itself must have been seen
    steps = [(search, obs), ("<answer>TGFBR2</answer>", None)]
    assert _kinds(check_episode(prompt, steps, index)) == {"mention"}


def test_a_gene_symbol_is_shown_only_as_a_whole_word(indexes, kg):
    """A gene symbol must occur as a word: "KRT10" shown does not show "KRT1" (both are
    HPO genes), although "KRT1" is a substring of it. Found by a README-only re-reading."""
    index, ref = indexes
    assert kg.find("KRT1") and kg.find("KRT10")
    prompt = 'Question: Which gene is implicated in "Ichthyosis"?'
    obs = (
        'medical_search results for "Ichthyosis":\n'
        "1. KRT10 | https://medref.medenv.org/entity/NCBIGene:3858\n"
        "   KRT10 is a gene associated with: Ichthyosis, cyclic, with epidermolytic hyperkeratosis."
    )
    search = '<tool_call>\n{"name": "medical_search", "arguments": {"query": "Ichthyosis"}}\n</tool_call>'
    for named, expected in (("KRT1", {"mention"}), ("KRT10", set())):
        steps = [(search, obs), (f"<answer>{named}</answer>", None)]
        assert _kinds(check_episode(prompt, steps, index)) == expected, named
        assert set(ref_check(prompt, steps, ref)) == expected, named


def test_recovery_is_detected_and_labelled(oracle_log, indexes):
    from medenv.agents.oracle import plans_explore

    index, _ = indexes
    episodes = [ep for ep in oracle_log[1] if ep.agent == "oracle"]
    planned = [ep for ep in episodes if ep.tags.get("explore")]
    for ep in episodes:  # the label in the log is the agent's own plan
        assert ep.tags["explore"] == plans_explore(0, 0.5, ep.question_id, ep.seed)
    recovered = [ep for ep in episodes if check_episode(ep.prompt, _steps(ep), index).recovered]
    assert len(planned) >= 8 and len(recovered) >= len(planned) // 2
    for ep in recovered:  # a tried candidate was named, checked and rejected, not answered
        report = check_episode(ep.prompt, _steps(ep), index)
        assert all(r.lower() != (ep.prediction or "").lower() for r in report.rejected)
        assert any("does not" in s.text or "dead end" in s.text for s in ep.steps)


def test_eval_reports_groundedness_for_any_agent(oracle_log):
    db, _ = oracle_log
    result = evaluation.evaluate(db, group_by="agent")
    oracle, heuristic = result.group("oracle"), result.group("heuristic")
    assert oracle.grounded == 1.0 and 0 < oracle.recovered < 1
    assert heuristic.grounded is not None  # computed for a non-oracle agent too
    table = evaluation.format_table(result)
    assert "grounded" in table and "100.0%" in table
    data = json.loads(evaluation.to_json(result))
    assert data["groups"][0]["grounded"] is not None

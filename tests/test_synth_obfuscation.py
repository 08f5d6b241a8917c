"""Obfuscation levels: constraints described in plain words instead of named, on real HPO.

Each description is re-read independently: the fact it states is checked on the networkx
graph with `tests.closure_ref` (organ system = an ``is_a`` ancestor that is an HPO
branch; inheritance and course = an annotation or a descendant of it), and the whole
question, descriptions included, must still admit exactly its answer under that second
reading of the closure, with no constraint that pins the answer past the chain.
"""

from __future__ import annotations

import re

import pytest
from medenv.agents.rollout import rollout

from medenv.errors import MedenvError
from medenv.events.episodes import load_episodes
from medenv.synth import SynthConfig, synthesize
from medenv.synth.quality import verbatim_names
from tests.cli import cli_error
from tests.closure_ref import ORGAN_SYSTEMS, ClosedGraph, admitted, shortcut_levels

VOCABULARY = {"inheritance", "clinical_course"}


@pytest.fixture(scope="module")
def plain_set(kg):
    return synthesize(kg, SynthConfig(n=24, seed=2, obfuscation=2), progress=False)


@pytest.fixture(scope="module")
def named_set(kg):
    return synthesize(kg, SynthConfig(n=24, seed=2, obfuscation=0), progress=False)


@pytest.fixture(scope="module")
def closed(kg):
    return ClosedGraph(kg.graph)


@pytest.fixture(scope="module")
def by_name(kg):
    out: dict[str, set[str]] = {}
    for n, node in kg.graph.nodes(data="node"):
        for label in (node.name, *node.synonyms):
            out.setdefault(label.casefold(), set()).add(n)
    return out


def _is_description(kg, c) -> bool:
    """A constraint the question words without a name: an organ-system branch, or a term of
    HPO's inheritance / clinical-course vocabularies (read independently of the code)."""
    kind = kg.node(c.entity).type
    return not c.inverse and (c.entity in ORGAN_SYSTEMS or kind in VOCABULARY)


def test_descriptions_are_true_facts_and_the_question_stays_unique(kg, plain_set, closed, by_name):
    described = 0
    # the brute-force reader scans every node of a level's type: a sample of the items
    # that carry descriptions (the shortest chains first) keeps the test fast
    sample = sorted(
        (i for i in plain_set.items if any(_is_description(kg, c) for c in i.constraints)),
        key=lambda i: (i.n_hops, i.id),
    )[:5]
    for item in sample:
        for c in item.constraints:
            u = item.chain[c.node]
            fact = (c.entity, c.relation, u) if c.inverse else (u, c.relation, c.entity)
            assert closed.holds(*fact), (item.id, c)
            if _is_description(kg, c):
                described += 1
                name = kg.node(c.entity).name
                assert f'"{name}"' not in item.question  # described, not named
        assert admitted(closed, by_name, item) == {item.answer_id}, item.id
        assert shortcut_levels(closed, by_name, item) == [], item.id
        assert item.effective_hops == item.n_hops
    assert described > 0


def test_named_entities_are_exactly_the_seed_and_the_named_constraints(kg, plain_set):
    for item in plain_set.items:
        named = [c for c in item.constraints if not _is_description(kg, c)]
        quoted = set(re.findall(r'"([^"]+)"', item.question))
        expect = {kg.node(c.entity).name for c in named}
        if not any(c.node == 0 for c in item.constraints):  # else the seed is described
            expect.add(kg.node(item.chain[0]).name)
        assert quoted == expect, item.question


def test_obfuscation_names_fewer_entities_than_level_zero(kg, plain_set, named_set):
    def share(items):
        return sum(verbatim_names(i.question) <= 1 for i in items) / len(items)

    assert share(plain_set.items) >= share(named_set.items) + 0.2
    for item in named_set.items:  # level 0 quotes every constraint entity
        for c in item.constraints:
            assert f'"{kg.node(c.entity).name}"' in item.question
    report = plain_set.manifest["obfuscation"]
    assert report["level"] == 2 and named_set.manifest["obfuscation"]["level"] == 0
    total = sum(len(i.constraints) for i in plain_set.items)
    assert report["described_constraints"] + report["named_constraints"] == total
    only = sum(all(_is_description(kg, c) for c in i.constraints) for i in plain_set.items)
    assert report["items_with_only_descriptions"] == only
    hist = plain_set.manifest["quality"]["verbatim_names"]["histogram"]
    assert sum(hist.values()) == len(plain_set.items)


def test_bad_obfuscation_level_is_one_line(tmp_path, capsys):
    with pytest.raises(MedenvError, match="obfuscation must be one of 0, 1, 2, got 3"):
        SynthConfig(obfuscation=3).check()
    argv = ["synth", "--n", "5", "--obfuscation", "-1", "--out", str(tmp_path / "qa")]
    _, line = cli_error(argv, capsys)
    assert "obfuscation must be one of 0, 1, 2, got -1" in line
    argv = ["synth", "--n", "5", "--obfuscation", "high", "--out", str(tmp_path / "qa")]
    _, line = cli_error(argv, capsys)  # not argparse's usage block
    assert "obfuscation must be one of 0, 1, 2, got 'high'" in line


def test_a_described_seed_is_not_named_and_the_question_stays_unique(
    kg, plain_set, closed, by_name
):
    """Constraints on node 0 describe the seed: its name is absent, every such fact is a
    true description of it, and the independent reader, starting from every node of the
    seed's type with those facts, still finds the answer alone, with no shortcut."""
    described = [i for i in plain_set.items if any(c.node == 0 for c in i.constraints)]
    assert described, "seed 2 gives a question with a described seed"
    for item in described:
        seed = kg.node(item.chain[0])
        for label in (seed.name, *seed.synonyms):
            assert label.casefold() not in item.question.casefold(), (item.id, label)
        for c in (c for c in item.constraints if c.node == 0):
            assert _is_description(kg, c) and closed.holds(seed.id, c.relation, c.entity)
        assert verbatim_names(item.question) == 1, item.question
        assert admitted(closed, by_name, item) == {item.answer_id}, item.id
        assert shortcut_levels(closed, by_name, item) == [], item.id
        assert item.effective_hops == item.n_hops
    report = plain_set.manifest["obfuscation"]
    assert report["items_with_described_seed"] == len(described)


def test_the_oracle_gives_up_honestly_on_a_described_seed_and_the_rollout_goes_on(
    kg, plain_set, tmp_path
):
    """The grounded oracle cannot start from a seed it is not told the name of: such an
    episode ends with a grounded give-up answer (scored wrong), the other episodes of the
    same rollout still run, and every action is logged."""
    described = [i for i in plain_set.items if any(c.node == 0 for c in i.constraints)]
    named = [i for i in plain_set.items if i not in described][:2]
    items = described[:1] + named
    db = tmp_path / "oracle.duckdb"
    rollout("oracle", qa=items, db=db, seed=0, progress=False)
    episodes = {e.question_id: e for e in load_episodes(db)}
    assert set(episodes) == {i.id for i in items}
    gave_up = episodes[described[0].id]
    assert gave_up.ended and gave_up.correct is False
    assert gave_up.prediction == "unknown"
    seed = kg.node(described[0].chain[0])
    assert all(seed.name.casefold() not in (s.text or "").casefold() for s in gave_up.steps)
    assert all(episodes[i.id].ended for i in named)

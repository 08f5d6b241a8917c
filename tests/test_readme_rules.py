"""The shipped default set against the question rules as README.md states them, read by
`tests.readme_rules` (written from the README alone, round 13): every item admits exactly
its answer under the closure and names no chain entity after its seed; "a kind of" is
strict (a reflexive reading admits the constraint entity or an organ-system root as a
second answer). And `medenv.grounding` against the README's four groundedness rules on
real oracle (exploring) and heuristic episodes, with an observation dropped, and on the
cases the README spells out (a gene symbol as a whole word, a negative sentence naming
two entities, a name containing "no")."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import pytest

from tests.readme_rules import ReadmeGrounding, ReadmeReader


@pytest.fixture(scope="module")
def shipped() -> list[dict]:
    raw = resources.files("medenv").joinpath("data/default_qa/hpo.jsonl.gz").read_bytes()
    return [json.loads(line) for line in gzip.decompress(raw).decode().splitlines()]


@pytest.fixture(scope="module")
def reader(kg) -> ReadmeReader:
    return ReadmeReader(kg)


def test_every_shipped_item_admits_exactly_its_answer(shipped, reader):
    assert len(shipped) == 2000
    wrong = [it["id"] for it in shipped if reader.admitted(it) != {it["answer_id"]}]
    assert wrong == []
    described = [it for it in shipped if not any(c["node"] == 0 for c in it["constraints"])]
    assert 0 < len(shipped) - len(described) < 100  # described seeds are read too


def test_no_shipped_question_names_a_chain_entity(shipped, reader):
    assert [it["id"] for it in shipped if reader.leaks(it)] == []
    # the reader does find a name: the answer's, pasted in natural order and plural
    it = next(x for x in shipped if "," in x["answer"])
    head, rest = it["answer"].split(",", 1)
    assert reader.leaks({**it, "question": f"{it['question']} ({rest} {head}s)"})


def test_no_shipped_item_uses_a_generic_node_or_one_concept_twice(shipped, reader, kg):
    """README Pipeline item 4, "No generic node" and "No concept twice" (synthesis version
    11; the version-10 set broke them in 4 + 75 items)."""
    assert [(it["id"], reader.degenerate(it)) for it in shipped if reader.degenerate(it)] == []
    # the reader finds what the README names
    assert "HP:0000118" in reader.generic()  # "Phenotypic abnormality"
    assert not reader.generic() & reader.organ_roots
    first = shipped[0]
    rooted = {**first, "chain": [*first["chain"][:-1], "HP:0000118"]}
    assert reader.degenerate(rooted) == ["generic HP:0000118"]
    (omim,) = [n.id for n in kg.find("Feingold syndrome 1") if n.type == "disease"][:1]
    (orpha,) = [n.id for n in kg.find("Feingold syndrome type 1") if n.type == "disease"][:1]
    assert omim != orpha and reader.one_concept(omim, orpha)
    deaf = [n.id for n in kg.find("Deafness, autosomal recessive 9")][:1]
    deaf += [n.id for n in kg.find("Deafness, autosomal recessive 110")][:1]
    assert len(deaf) == 2 and not reader.one_concept(*deaf)


def test_the_readings_the_readme_had_to_spell_out(shipped, reader):
    sample = shipped[::40]
    # dropping a fact widens the answer set: the reader is not vacuous
    loose = [it for it in sample if it["constraints"]][:25]
    wider = sum(len(reader.admitted({**it, "constraints": []})) > 1 for it in loose)
    assert wider > len(loose) // 2
    # "a subtype of X" read as X-or-a-subtype: many items gain a second answer
    isa = reader.step

    def reflexive(x, relation, inverse):
        out = isa(x, relation, inverse)
        return out | {x} if relation == "is_a" else out

    reader.step = reflexive
    try:
        widened = sum(reader.admitted(it) != {it["answer_id"]} for it in sample)
    finally:
        reader.step = isa
    assert widened > len(sample) // 4


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    from medenv.agents.rollout import AgentSpec, rollout
    from medenv.training.export import load_episodes

    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set

    items = [it for it in read_qa_set(default_qa_set(progress=False)) if it.split == "test"]
    db = tmp_path_factory.mktemp("readme") / "runs.duckdb"
    rollout(AgentSpec("oracle", {"explore": 0.5}), qa=items[:30], db=db, seed=2, progress=False)
    rollout("heuristic", qa=items[30:40], db=db, seed=2, progress=False)
    return load_episodes(db)


def _texts(ep):
    return ep.prompt, [s.text for s in ep.steps], [s.observation for s in ep.steps]


def test_groundedness_as_the_readme_states_it(episodes, kg):
    from medenv.grounding import check_texts

    reader = ReadmeGrounding(kg)
    assert len(episodes) == 40
    negative = 0
    for ep in episodes:
        prompt, actions, observations = _texts(ep)
        variants = [(actions, observations)]
        if len(actions) > 2:  # an observation lost: later names and claims lose their support
            variants.append((actions, [observations[0], "", *observations[2:]]))
        for acts, obs in variants:
            ours = check_texts(prompt, acts, obs, kg)
            theirs = reader.problems(prompt, acts, obs)
            assert {v.kind for v in ours.violations} == {k for _, k in theirs}, ep.question_id
        negative += any("does not fit" in a for a in actions)
    assert negative >= 5  # the exploring oracle's negative sentences are read too


def test_the_groundedness_cases_the_readme_spells_out(kg):
    from medenv.grounding import check_texts

    reader = ReadmeGrounding(kg)
    prompt = 'Question: Which gene is implicated in "Ichthyosis"?'
    obs = (
        'medical_search results for "Ichthyosis":\n'
        "1. KRT10 | https://medref.medenv.org/entity/NCBIGene:3858\n"
        "   KRT10 is a gene associated with: Ichthyosis, cyclic, with epidermolytic hyperkeratosis.\n"
        "2. Ultra-low vision with no light perception | https://medref.medenv.org/entity/HP:0032287\n"
        "   Ultra-low vision with no light perception (HP:0032287) is a phenotype entry."
    )
    search = '<tool_call>\n{"name": "medical_search", "arguments": {"query": "Ichthyosis"}}\n</tool_call>'
    cases = {
        "KRT10 it is.": set(),
        "KRT1 it is.": {"mention"},  # "KRT10" shown does not show "KRT1"
        '"KRT10" does not fit: its page does not list "Ichthyosis".': set(),  # a negation
        '"Ultra-low vision with no light perception" is listed.': set(),  # "no" in a name
        '"Ultra-low vision with no light perception" goes with "KRT10".': {"claim"},
    }
    for think, expected in cases.items():
        acts = [search, f"<think>\n{think}\n</think>\n<answer>KRT10</answer>"]
        assert {k for _, k in reader.problems(prompt, acts, [obs, None])} == expected, think
        ours = check_texts(prompt, acts, [obs, None], kg)
        assert {v.kind for v in ours.violations} == expected, think


def test_the_readme_reader_takes_its_type_nouns_from_the_readme():
    """The groundedness reader's type nouns are the README's list, word for word (the list
    is written out there in full, so the reader needs nothing from `medenv.grounding`)."""
    import re
    from pathlib import Path

    from tests.readme_rules import README_TYPE_NOUNS

    text = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    listed = text.split("`medenv.grounding.labels.TYPE_NOUNS`, all of them:", 1)[1]
    listed = listed.split(") are not looked up", 1)[0]
    assert frozenset(re.findall(r'"([^"]+)"', listed)) == README_TYPE_NOUNS

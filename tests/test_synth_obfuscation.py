"""Obfuscation levels: constraints described in plain words instead of named, on real HPO.

Each description is re-read independently: the fact it states is checked on the networkx
graph with `tests.closure_ref` (organ system = an ``is_a`` ancestor that is an HPO
branch; inheritance and course = an annotation or a descendant of it), and the whole
question, descriptions included, must still admit exactly its answer under that second
reading of the closure, with no constraint that pins the answer past the chain.
"""

from __future__ import annotations

import random
import re
from urllib.parse import unquote

import pytest
from medenv.agents.chain_facts import ChainFacts
from medenv.agents.oracle_described import CONFIRM_GOAL
from medenv.agents.rollout import rollout

from medenv.errors import MedenvError
from medenv.events.episodes import load_episodes
from medenv.grounding import check_texts
from medenv.synth import SynthConfig, synthesize
from medenv.synth.quality import verbatim_names
from medenv.tools.registry import execute
from medenv.world import load_world
from tests.cli import cli_error
from tests.closure_ref import ORGAN_SYSTEMS, ClosedGraph, admitted, levels, shortcut_levels

VOCABULARY = {"inheritance", "clinical_course"}
GOAL = "organ systems of its features, inheritance and clinical course"


@pytest.fixture(scope="module")
def plain_set(compact_kg):
    # n=32 (24 until synthesis version 11): its first described seed is item 31
    return synthesize(compact_kg, SynthConfig(n=32, seed=2, obfuscation=2), progress=False)


@pytest.fixture(scope="module")
def named_set(compact_kg):
    return synthesize(compact_kg, SynthConfig(n=24, seed=2, obfuscation=0), progress=False)


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


def test_organ_system_descriptions_admit_only_the_answer_read_plainly(kg, plain_set):
    """"Is a digestive abnormality" read as a plain reader reads it, the branch "Abnormality
    of the digestive system" included (`tests.readme_rules`, written from the README): every
    item that carries such a fact still admits exactly its answer."""
    import msgspec

    from tests.readme_rules import ReadmeReader

    reader = ReadmeReader(kg)
    organ = [
        msgspec.to_builtins(i)
        for i in plain_set.items
        if any(c.relation == "is_a" and not c.inverse and c.entity in ORGAN_SYSTEMS
               for c in i.constraints)
    ]  # fmt: skip
    assert len(organ) >= 5
    assert [i["id"] for i in organ if reader.admitted(i) != {i["answer_id"]}] == []


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


def _widest_middle(closed, by_name, item) -> int:
    """The most candidates a middle chain node (1..n-1) keeps, read by `tests.closure_ref`."""
    return max((len(s) for s in levels(closed, by_name, item)[1:-1]), default=0)


def test_every_middle_node_keeps_few_candidates(compact_kg, plain_set, named_set, closed, by_name):
    """Answerability (`SynthConfig.max_candidates`), re-read by the brute-force reader: a
    reader following the chain from the seed (named or described) holds at most that
    many candidates for any middle node; without the limit some chains of the same
    seed hold more, so the property is not vacuous."""
    limit = SynthConfig().max_candidates
    assert limit >= 1
    sample = sorted(
        (i for i in plain_set.items + named_set.items if i.n_hops >= 3),
        key=lambda i: (any(c.node == 0 for c in i.constraints), i.n_hops, i.id),
    )[:12]
    assert sample
    for item in sample:
        assert _widest_middle(closed, by_name, item) <= limit, item.id
    free = synthesize(compact_kg, SynthConfig(n=12, seed=2, max_candidates=0), progress=False)
    assert max(_widest_middle(closed, by_name, i) for i in free.items) > limit


def test_bad_obfuscation_level_is_one_line(tmp_path, capsys):
    with pytest.raises(MedenvError, match="obfuscation must be one of 0, 1, 2, got 3"):
        SynthConfig(obfuscation=3).check()
    argv = ["synth", "--n", "5", "--obfuscation", "-1", "--out", str(tmp_path / "qa")]
    _, line = cli_error(argv, capsys)
    assert "obfuscation must be one of 0, 1, 2, got -1" in line
    argv = ["synth", "--n", "5", "--obfuscation", "high", "--out", str(tmp_path / "qa")]
    _, line = cli_error(argv, capsys)  # not argparse's usage block
    assert "obfuscation must be one of 0, 1, 2, got 'high'" in line
    argv = ["synth", "--n", "5", "--max-candidates", "-2", "--out", str(tmp_path / "qa")]
    _, line = cli_error(argv, capsys)
    assert "max_candidates must be >= 0, got -2" in line


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


def test_the_oracle_resolves_a_described_seed_through_its_tools(kg, plain_set, closed, tmp_path):
    """The grounded oracle is not told the seed's name: it enters the chain at the one
    named clue, reads candidate pages, keeps the seed whose page shows the described
    properties, and answers correctly; every action is grounded (the second reading of
    `medenv.grounding`: the seed is named only after a tool showed it), and the other
    episodes of the same rollout run too."""
    described = [i for i in plain_set.items if any(c.node == 0 for c in i.constraints)]
    named = [i for i in plain_set.items if i not in described][:2]
    items = described[:1] + named
    db = tmp_path / "oracle.duckdb"
    rollout("oracle", qa=items, db=db, seed=0, progress=False)
    episodes = {e.question_id: e for e in load_episodes(db)}
    assert set(episodes) == {i.id for i in items}
    ep = episodes[described[0].id]
    assert ep.ended and ep.correct is True, ep.prediction
    report = check_texts(
        ep.prompt, [s.text for s in ep.steps], [s.observation for s in ep.steps], kg
    )
    assert report.grounded, report.violations
    # the seed it settled on: a page read for the described properties, of an entity
    # that has every one of them (second reading: the closed graph)
    reads = [
        unquote(s.arguments["url"].rsplit("/entity/", 1)[1])
        for s in ep.steps
        if s.name == "browse" and CONFIRM_GOAL in (s.text or "")
    ]
    assert reads, "no page was read for the described properties"
    own = [c for c in described[0].constraints if c.node == 0]
    assert any(all(closed.holds(e, c.relation, c.entity) for c in own) for e in reads), reads
    assert all(episodes[i.id].ended for i in named)


# -- every description is stated by a page the tools return (issue 14) ----------------
# Read independently of the describer and of `medenv.corpus.organ`: the organ systems of
# a phenotype are its ``is_a`` ancestors among HPO's 23 branches (`ClosedGraph`), a
# disease's the union over its annotated features; an inheritance or course description
# names a term on the disease's page. The check reads the text ``browse`` returns.


@pytest.fixture(scope="module")
def world():
    return load_world("hpo", "tantivy", seed=0, progress=False)


def _organs(kg, closed: ClosedGraph, entity: str) -> set[str]:
    """Organ-system branches above ``entity`` (second reading, see module docstring)."""
    kind = kg.node(entity).type
    if kind == "phenotype":
        return (closed.ancestors(entity) & ORGAN_SYSTEMS) - {entity}
    if kind == "disease":
        out: set[str] = set()
        for _, p, rel in kg.graph.out_edges(entity, keys=True):
            if rel == "has_phenotype":
                out |= ({p} | closed.ancestors(p)) & ORGAN_SYSTEMS
        return out
    return set()


def _browse(world, entity: str) -> str:
    url = world.corpus.get(f"med:{entity}").url
    result = execute(world, "browse", {"url": url, "goal": GOAL})
    assert result.ok, result.text
    return result.text


def _organ_line(text: str) -> str:
    """The organ-system lines of a page, as one string."""
    return " ".join(ln for ln in text.splitlines() if ln.startswith("Organ system"))


def test_pages_state_exactly_the_organ_systems_of_phenotypes_and_diseases(kg, world, closed):
    rng = random.Random(14)
    nodes = sorted(kg.graph.nodes)
    phenotypes = [n for n in nodes if kg.node(n).type == "phenotype"]
    diseases = [n for n in nodes if kg.node(n).type == "disease"]
    stated = 0
    for entity in rng.sample(phenotypes, 40) + rng.sample(diseases, 40):
        want = {kg.node(b).name for b in _organs(kg, closed, entity)}
        line = _organ_line(_browse(world, entity))
        got = {
            part.rsplit(" (", 1)[0]
            for ln in line.split("Organ system")[1:]
            for part in ln.split(": ", 1)[-1].strip().rstrip(".").split("; ")
        }
        assert got == want, (entity, line)
        stated += bool(want)
    assert stated > 40  # most entities lie under some branch: the check is not vacuous


def test_every_description_of_a_level_2_set_is_on_the_entity_page(kg, world, closed, plain_set):
    """For each described constraint (an organ-system branch, an inheritance or course
    term, read as such without the describer), the page ``browse`` returns for the chain
    entity names the described entity, and the fact holds in the second reading."""
    kinds: set[str] = set()
    for item in plain_set.items:
        for c in item.constraints:
            anchor = kg.node(c.entity)
            if c.inverse or not (
                c.entity in ORGAN_SYSTEMS or anchor.type in ("inheritance", "clinical_course")
            ):
                continue
            assert f'"{anchor.name}"' not in item.question  # described, not named
            entity = item.chain[c.node]
            text = _browse(world, entity)
            assert text.splitlines()[0] == f"Page: {kg.node(entity).name}"
            if c.entity in ORGAN_SYSTEMS:
                assert c.entity in _organs(kg, closed, entity), (item.id, c)
                assert anchor.name in _organ_line(text), (item.id, c, text[:400])
                kinds.add(f"organ:{kg.node(entity).type}")
            else:
                assert closed.holds(entity, c.relation, c.entity), (item.id, c)
                assert anchor.name in text, (item.id, c, text[:400])
                kinds.add(anchor.type)
    assert {"organ:phenotype", "organ:disease", "inheritance"} <= kinds, kinds


def test_the_oracle_reads_every_constraint_as_synthesis_verified_it(kg, plain_set, closed):
    """The oracle's KG truth (`ChainFacts`) reads a constraint under the closure: the gold
    chain fits every node, and a constraint's set agrees with the closed graph (networkx)
    on the gold entity and on a sample of other entities of the node's type."""
    rng = random.Random(3)
    by_type: dict[str, list[str]] = {}
    for n, node in kg.graph.nodes(data="node"):
        by_type.setdefault(node.type, []).append(n)
    checked = 0
    for item in plain_set.items:
        cf = ChainFacts(kg, item)
        for node in range(1, len(item.chain)):
            assert item.chain[node] in cf.fit_set(node, item.chain[node - 1]), (item.id, node)
            for f in cf.facts(node, item.chain[node - 1])[1:]:
                c = next(c for c in item.constraints if c.node == node and c.entity == f.anchor)
                kind = kg.node(item.chain[node]).type
                for u in [item.chain[node], *rng.sample(sorted(by_type[kind]), 20)]:
                    fact = (c.entity, c.relation, u) if c.inverse else (u, c.relation, c.entity)
                    assert (u in cf.rel(f)) == closed.holds(*fact), (item.id, c, u)
                    checked += 1
    assert checked > 100

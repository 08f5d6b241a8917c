"""KISA parts on small hand-built graphs: planted ambiguity, search bounds, rendering."""

from __future__ import annotations

import random
import re
from itertools import islice

import pytest

from medenv.errors import MedenvError
from medenv.kg.graph import KnowledgeGraph, Node
from medenv.kg.loaders.hpo import RELATIONS
from medenv.synth import SynthConfig, resolve_chain, synthesize
from medenv.synth.chain import search_chains
from medenv.synth.dedup import Deduplicator
from medenv.synth.index import GraphIndex
from medenv.synth.qa import Constraint, Hop, QAItem
from medenv.synth.rarity import rarity, seed_order
from medenv.synth.render import leaks, render_question
from medenv.synth.subgraph import extract_subgraph
from medenv.synth.uniqueness import Disambiguator


def _hpo_like(distinguish: bool) -> KnowledgeGraph:
    """Two diseases share the rare phenotype "Webbed toes"; each has its own gene.

    The chain "Webbed toes" <- D1 -> GENEA asks "which gene is associated with a disease
    presenting with webbed toes?": both genes fit. With ``distinguish``, D1 is autosomal
    recessive and D2 autosomal dominant, a fact that can pin D1 down.
    """
    kg = KnowledgeGraph("hpo", "test", RELATIONS)
    for node in (
        Node("HP:1", "phenotype", "Webbed toes", ("Syndactyly of toes",)),
        Node("HP:2", "phenotype", "Short stature"),
        Node("HP:3", "phenotype", "Cleft palate"),
        Node("HP:AR", "inheritance", "Autosomal recessive inheritance"),
        Node("HP:AD", "inheritance", "Autosomal dominant inheritance"),
        Node("OMIM:1", "disease", "Alpha syndrome"),
        Node("OMIM:2", "disease", "Beta syndrome"),
        Node("NCBIGene:1", "gene", "GENEA"),
        Node("NCBIGene:2", "gene", "GENEB"),
    ):
        kg.add_node(node)
    for d in ("OMIM:1", "OMIM:2"):
        kg.add_edge(d, "HP:1", "has_phenotype")
        kg.add_edge(d, "HP:2", "has_phenotype")
    kg.add_edge("OMIM:1", "NCBIGene:1", "associated_gene")
    kg.add_edge("OMIM:2", "NCBIGene:2", "associated_gene")
    kg.add_edge("HP:3", "HP:2", "is_a")
    if distinguish:
        kg.add_edge("OMIM:1", "HP:AR", "has_inheritance")
        kg.add_edge("OMIM:2", "HP:AD", "has_inheritance")
    return kg


CHAIN = ("HP:1", "OMIM:1", "NCBIGene:1")
STEPS = (("has_phenotype", True), ("associated_gene", False))
HOPS = (
    Hop("HP:1", "has_phenotype", "OMIM:1", True),
    Hop("OMIM:1", "associated_gene", "NCBIGene:1", False),
)


def test_planted_ambiguous_chain_is_fixed_with_a_distinguishing_fact():
    kg = _hpo_like(distinguish=True)
    assert resolve_chain(kg, chain=CHAIN, hops=HOPS) == {"NCBIGene:1", "NCBIGene:2"}
    constraints = Disambiguator(GraphIndex(kg)).disambiguate(CHAIN, STEPS, max_constraints=2)
    assert constraints == (Constraint(1, "has_inheritance", "HP:AR", False),)
    assert resolve_chain(kg, chain=CHAIN, hops=HOPS, constraints=constraints) == {"NCBIGene:1"}
    text = render_question(GraphIndex(kg), CHAIN, STEPS, constraints, random.Random(0))
    assert '"Autosomal recessive inheritance"' in text and '"Webbed toes"' in text
    assert not leaks(text, ["GENEA", "Alpha syndrome"])


def test_planted_ambiguous_chain_without_a_distinguishing_fact_is_dropped():
    kg = _hpo_like(distinguish=False)
    assert Disambiguator(GraphIndex(kg)).disambiguate(CHAIN, STEPS, max_constraints=3) is None
    # the whole pipeline never emits an ambiguous item from this graph
    res = synthesize(kg, SynthConfig(n=1, min_hops=2, max_hops=3, hub_degree=50), progress=False)
    for item in res.items:
        assert resolve_chain(kg, item) == {item.answer_id}
        assert item.chain != CHAIN
    assert res.manifest["drops"].get("ambiguous", 0) >= 1


def test_pipeline_on_the_fixable_graph_emits_only_unique_items():
    kg = _hpo_like(distinguish=True)
    res = synthesize(kg, SynthConfig(n=3, min_hops=2, max_hops=3, hub_degree=50), progress=False)
    for item in res.items:
        assert resolve_chain(kg, item) == {item.answer_id}
        if item.chain == CHAIN:
            assert item.constraints  # planted chain: fixed, not emitted as is


def test_same_name_nodes_count_as_candidates():
    kg = _hpo_like(distinguish=True)
    kg.add_node(Node("ORPHA:1", "disease", "Alpha syndrome"))
    kg.add_node(Node("HP:9", "phenotype", "Webbed toes"))  # a second node with the seed's name
    kg.add_node(Node("OMIM:9", "disease", "Gamma syndrome"))
    kg.add_node(Node("NCBIGene:9", "gene", "GENEC"))
    kg.add_edge("OMIM:9", "HP:9", "has_phenotype")
    kg.add_edge("OMIM:9", "HP:AR", "has_inheritance")
    kg.add_edge("OMIM:9", "NCBIGene:9", "associated_gene")
    cons = (Constraint(1, "has_inheritance", "HP:AR", False),)
    # a reader cannot tell the two "Webbed toes" apart: GENEC fits too
    assert resolve_chain(kg, chain=CHAIN, hops=HOPS, constraints=cons) == {
        "NCBIGene:1",
        "NCBIGene:9",
    }
    found = Disambiguator(GraphIndex(kg)).candidate_sets(CHAIN, STEPS, cons)[-1]
    assert found == {"NCBIGene:1", "NCBIGene:9"}


def test_n_larger_than_the_kg_supports_is_a_clear_error():
    kg = _hpo_like(distinguish=False)
    cfg = dict(min_hops=2, max_hops=3, hub_degree=50)
    # more items than eligible seed entities: refused before any search, and before a
    # world factory is called (building the corpus world can take half a minute)
    built = []
    with pytest.raises(MedenvError, match=r"n=8 is more than this KG supports: hpo has 7 eligible"):
        synthesize(kg, SynthConfig(n=8, **cfg), world=lambda: built.append(1), progress=False)
    assert built == []
    # enough seeds, but not enough of them give a verified item: refused after trying all
    with pytest.raises(
        MedenvError, match=r"n=7 is more than .* only \d verified items from all 7 seed.*ambiguous"
    ):
        synthesize(kg, SynthConfig(n=7, **cfg), progress=False)


def test_cli_on_a_small_edge_list_reports_n_too_large_and_writes_nothing(
    tmp_path, monkeypatch, capsys
):
    from medenv.cli import main

    monkeypatch.setenv("MEDENV_HOME", str(tmp_path / "home"))

    rows = [
        "source,relation,target,source_type,target_type,source_name,target_name",
        "D1,has_phenotype,P1,disease,phenotype,Alpha syndrome,Webbed toes",
        "D2,has_phenotype,P1,disease,phenotype,Beta syndrome,Webbed toes",
        "D1,associated_gene,G1,disease,gene,Alpha syndrome,GENEA",
        "D2,associated_gene,G2,disease,gene,Beta syndrome,GENEB",
    ]
    f = tmp_path / "small.csv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["synth", "--source", "edgelist", "--path", str(f), "--out", str(out), "--no-corpus"]
    assert main([*args, "--n", "5", "--no-progress"]) == 2  # 5 seeds, fewer unique items
    err = capsys.readouterr().err
    assert re.fullmatch(
        r"medenv synth: error: n=5 is more than this KG supports with these settings: "
        r"only \d verified items from all 5 seed entities .*\n",
        err,
    )
    assert not out.exists()


def _star() -> KnowledgeGraph:
    """P:0 is a feature of D:a and D:b; D:b has three more features (so it is less rare)."""
    kg = KnowledgeGraph("hpo", "star", RELATIONS)
    kg.add_node(Node("P:0", "phenotype", "Seed feature"))
    for d in ("D:a", "D:b"):
        kg.add_node(Node(d, "disease", f"Disease {d}"))
        kg.add_edge(d, "P:0", "has_phenotype")
    for k in range(3):
        kg.add_node(Node(f"P:{k + 1}", "phenotype", f"Feature {k + 1}"))
        kg.add_edge("D:b", f"P:{k + 1}", "has_phenotype")
    return kg


def test_chains_of_equal_length_are_ranked_by_rarity_then_ids():
    index = GraphIndex(_star())
    sub = extract_subgraph(index, "P:0", radius=1, node_cap=10, hub_degree=100)

    def ends(score) -> list[str]:
        found = search_chains(
            sub, min_hops=1, max_hops=1, budget=100, rarity=score, is_answer=lambda v: True
        )
        return [c.nodes[-1] for c in found.chains]

    rar = {i: rarity(index, i) for i in index.ids}
    assert rar["D:a"] > rar["D:b"]
    assert ends(rar) == ["D:a", "D:b"]  # the rarer end first
    assert ends({**rar, "D:b": 1.0}) == ["D:b", "D:a"]  # by rarity, not by id
    assert ends(lambda v: 0.5) == ["D:a", "D:b"]  # equal rarity: by ids
    assert ends(rar) == ends(rar)


def _item(question: str, answer_id: str, chain: tuple[str, ...]) -> QAItem:
    return QAItem(id=question, question=question, answer="x", answer_id=answer_id, chain=chain)


def test_deduplicator_rejects_same_chain_same_text_and_near_identical_text():
    dedup = Deduplicator(0.8)
    first = _item(
        "Which gene is linked to a disorder that presents with foo bar baz?", "G", ("a", "G")
    )
    assert not dedup.is_duplicate(first)
    dedup.add(first)
    assert dedup.is_duplicate(_item("Some other wording entirely?", "G", ("a", "G")))
    assert dedup.is_duplicate(_item(first.question.upper(), "H", ("b", "H")))
    near = "Which gene is linked to a disorder that presents with foo bar baz qux?"
    assert dedup.is_duplicate(_item(near, "G", ("c", "G")))
    assert not dedup.is_duplicate(_item(near, "H", ("c", "H")))  # another answer
    assert not dedup.is_duplicate(_item("What condition shows a rare sign?", "G", ("d", "G")))


def _dense(n: int = 40) -> KnowledgeGraph:
    """Every disease presents with every phenotype; phenotypes form an is_a chain."""
    kg = KnowledgeGraph("hpo", "dense", RELATIONS)
    for i in range(n):
        kg.add_node(Node(f"P:{i}", "phenotype", f"Phenotype {i}"))
        kg.add_node(Node(f"D:{i}", "disease", f"Disease {i}"))
    for i in range(n):
        for j in range(n):
            kg.add_edge(f"D:{i}", f"P:{j}", "has_phenotype")
        if i:
            kg.add_edge(f"P:{i}", f"P:{i - 1}", "is_a")
    return kg


@pytest.mark.parametrize("budget", [1, 25, 400])
def test_chain_search_respects_its_bounds_on_a_dense_graph(budget):
    kg = _dense()
    index = GraphIndex(kg)
    sub = extract_subgraph(index, "P:5", radius=3, node_cap=60, hub_degree=10_000)
    assert len(sub) == 60 and max(sub.depth.values()) <= 3
    rar = {i: rarity(index, i) for i in index.ids}
    found = search_chains(
        sub, min_hops=2, max_hops=4, budget=budget, rarity=rar, is_answer=lambda v: True, keep=5
    )
    assert found.expansions <= budget
    assert not found.exhausted  # this space is far larger than any of these budgets
    assert len(found.chains) <= 5
    for chain in found.chains:
        assert 2 <= chain.n_hops <= 4 and chain.nodes[0] == "P:5"
        assert len(set(chain.nodes)) == len(chain.nodes)
        assert all(n in sub.depth for n in chain.nodes)
        for a, b in zip(chain.steps, chain.steps[1:], strict=False):
            assert a != b  # no ladders
        if chain.n_hops >= 3:
            assert len({r for r, _ in chain.steps}) >= 2
        for i, (rel, inv) in enumerate(chain.steps):
            s, t = chain.nodes[i], chain.nodes[i + 1]
            assert kg.graph.has_edge(*((t, s) if inv else (s, t)), key=rel)
    if budget >= 400:
        assert found.chains[0].n_hops == 4  # longest first


def test_hub_cap_excludes_hubs_and_small_spaces_are_searched_exhaustively():
    kg = _dense(6)
    index = GraphIndex(kg)
    sub = extract_subgraph(index, "P:0", radius=4, node_cap=100, hub_degree=5)
    assert set(sub.depth) == {"P:0"}  # every neighbour has degree > 5
    sub = extract_subgraph(index, "P:0", radius=2, node_cap=100, hub_degree=100)
    found = search_chains(
        sub,
        min_hops=1,
        max_hops=2,
        budget=10_000,
        rarity=lambda v: 0.5,
        is_answer=lambda v: True,
        keep=3,
    )
    assert found.exhausted and found.chains[0].n_hops == 2


def test_seed_order_is_seeded_and_prefers_the_rare_tail(compact_kg):
    index = GraphIndex(compact_kg)
    kw = dict(seed_types=("phenotype", "disease", "gene"), hub_degree=150, rare_fraction=0.3)
    first = [
        s for s, _ in zip(seed_order(index, seed=1, rare_share=0.9, **kw), range(300), strict=False)
    ]
    again = [
        s for s, _ in zip(seed_order(index, seed=1, rare_share=0.9, **kw), range(300), strict=False)
    ]
    assert first == again
    assert sum(rare for _, rare in first) >= 240
    other = [
        s for s, _ in zip(seed_order(index, seed=2, rare_share=0.9, **kw), range(300), strict=False)
    ]
    assert first != other
    # rare_share steers the mix: all seeds from the rare tail, then none
    tail = list(islice(seed_order(index, seed=1, rare_share=1.0, **kw), 300))
    assert all(rare for _, rare in tail)
    common = list(islice(seed_order(index, seed=1, rare_share=0.0, **kw), 300))
    assert not any(rare for _, rare in common)


def test_an_answer_or_seed_type_the_graph_lacks_is_named_before_any_search():
    # a typo (--answer-type deases) read as "only 0 verified items ... no_chain" after a
    # scan of every seed (159 s on the HPO graph, 30 Nov 2026, load 2.5)
    kg = _hpo_like(distinguish=False)
    with pytest.raises(
        MedenvError, match=r"--answer-type deases: no node of these types in the hpo"
    ):
        synthesize(kg, SynthConfig(n=1, answer_types=("deases",)), progress=False)
    with pytest.raises(MedenvError, match=r"--seed-type x, y: .*\(its types: disease, gene, "):
        synthesize(kg, SynthConfig(n=1, seed_types=("x", "y")), progress=False)
    # a type missing among others is no error (the defaults name types one source lacks)
    cfg = SynthConfig(n=1, min_hops=2, max_hops=3, hub_degree=50, answer_types=("gene", "drug"))
    got = synthesize(_hpo_like(distinguish=True), cfg, progress=False)
    assert len(got.items) == 1

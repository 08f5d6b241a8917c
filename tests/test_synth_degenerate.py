"""Degenerate questions (round 14's audit): generic answers, two names of one concept in a
chain, described seeds that list every fact, and wording that lower-cases "X-linked".

Hand-made graphs with the HPO relations (`medenv.kg.loaders.hpo.RELATIONS`: ``is_a``
transitive) and the real HPO graph; the shipped default set is checked by
`tests/test_readme_rules.py` (README's reading) and here (the described seeds)."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import pytest

from medenv.kg.graph import KnowledgeGraph, Node
from medenv.kg.loaders.hpo import RELATIONS
from medenv.kg.semantics import RelationProperties
from medenv.synth import SynthConfig, synthesize
from medenv.synth.chain import search_chains
from medenv.synth.describe import BRANCH_WORDS, plain
from medenv.synth.generic import generic_nodes
from medenv.synth.index import GraphIndex
from medenv.synth.lexicon import BUILTIN
from medenv.synth.make_item import SEED_FACTS, make_item
from medenv.synth.namekey import NameKeys, index_keys, label_keys
from medenv.synth.qa import Constraint
from medenv.synth.specialty import SpecialtyMap
from medenv.synth.subgraph import extract_subgraph
from medenv.synth.uniqueness import Disambiguator


def _tree() -> KnowledgeGraph:
    """Root R subsumes 5 of the 7 phenotypes (R itself, A, A1, A2, B, C under it; D apart);
    each disease has one feature: D:1 the root's child A ("which feature is a broader
    category of a feature of D:1?" has one answer: R, the generic root)."""
    kg = KnowledgeGraph("hpo", "tree", RELATIONS)
    for pid, name in (
        ("P:R", "Phenotypic abnormality"),
        ("P:A", "Abnormality of the ear"),
        ("P:A1", "Lop ear"),
        ("P:A2", "Cup ear"),
        ("P:B", "Abnormality of the eye"),
        ("P:C", "Abnormality of the skin"),
        ("P:D", "Blood group"),
    ):
        kg.add_node(Node(pid, "phenotype", name))
    for child, parent in (
        ("P:A", "P:R"),
        ("P:B", "P:R"),
        ("P:C", "P:R"),
        ("P:A1", "P:A"),
        ("P:A2", "P:A"),
    ):
        kg.add_edge(child, parent, "is_a")
    for k, feature in enumerate(("P:A", "P:A1", "P:B", "P:C"), start=1):
        kg.add_node(Node(f"D:{k}", "disease", f"Disease {k}"))
        kg.add_edge(f"D:{k}", feature, "has_phenotype")
        kg.add_node(Node(f"G:{k}", "gene", f"GENE{k}"))
        kg.add_edge(f"D:{k}", f"G:{k}", "associated_gene")
    return kg


def test_a_node_over_half_its_type_is_generic_and_a_small_root_is_not():
    index = GraphIndex(_tree())
    # R: 5 descendants of 7 phenotypes; A: 2 of 7; D: a root of nothing
    assert generic_nodes(index) == {"P:R"}
    assert generic_nodes(index, share=0.25) == {"P:R", "P:A"}
    flat = _tree()  # the same edges, is_a declared plain (as in the Hetionet slice)
    flat.set_relation_properties("is_a", RelationProperties())
    assert generic_nodes(GraphIndex(flat)) == frozenset()


def test_hpo_generic_nodes_are_the_roots_of_its_subontologies(kg):
    found = generic_nodes(GraphIndex(kg))
    assert {"HP:0000118", "HP:0000005", "HP:0012823", "HP:0031797"} <= found
    assert not found & set(BRANCH_WORDS)  # the organ systems stay (25% at most)
    assert len(found) < 12


def test_synthesis_never_uses_a_generic_node():
    kg = _tree()
    res = synthesize(
        kg, SynthConfig(n=3, min_hops=1, max_hops=2, hub_degree=50, rare_share=0.0), progress=False
    )
    assert res.items
    for item in res.items:
        assert "P:R" not in item.chain
        assert all(c.entity != "P:R" for c in item.constraints)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Bile acid synthesis defect, congenital, 1", "Congenital bile acid synthesis defect type 1", True),
        ("Imerslund-Gräsbeck syndrome", "Imerslund-Grasbeck syndrome 2", True),
        ("Feingold syndrome type 1", "Feingold syndrome 1", True),
        ("Diamond-Blackfan anemia 13", "Diamond-Blackfan anemia", True),
        ("Deafness, autosomal recessive 9", "Deafness, autosomal recessive 110", False),
        ("Charcot-Marie-Tooth disease, type 2A", "Charcot-Marie-Tooth disease, type 2B", False),
        ("1-4 finger cutaneous syndactyly", "Cutaneous finger syndactyly", False),
        ("Type 2 diabetes mellitus", "Diabetes mellitus", False),
        ("HLA-B", "HLA-A", False),
    ],
)  # fmt: skip
def test_same_concept_by_name(a, b, same):
    keys = NameKeys(lambda n: (n,))
    assert keys.same_concept(a, b) is same
    assert keys.same_concept(b, a) is same


def test_label_keys_ignore_order_accents_case_and_the_word_type():
    assert label_keys("Spinocerebellar ataxia type 26") == (
        ("26", "ataxia", "spinocerebellar"),
        ("ataxia", "spinocerebellar"),
    )
    assert label_keys("Gräsbeck, X")[0] == label_keys("x grasbeck")[0]
    assert label_keys("Lop ear")[1] is None


def _catalogues() -> KnowledgeGraph:
    """Feature P of Orphanet's "Feingold syndrome type 1" (O), whose gene G is linked to
    OMIM's "Feingold syndrome 1" (M, the same disease) and to "Other syndrome" (X)."""
    kg = KnowledgeGraph("hpo", "catalogues", RELATIONS)
    kg.add_node(Node("P", "phenotype", "Short middle phalanx"))
    kg.add_node(Node("G", "gene", "MYCN"))
    for did, name in (
        ("O", "Feingold syndrome type 1"),
        ("M", "Feingold syndrome 1"),
        ("X", "Other syndrome"),
    ):
        kg.add_node(Node(did, "disease", name))
        kg.add_edge(did, "G", "associated_gene")
    kg.add_edge("O", "P", "has_phenotype")
    return kg


def test_a_chain_never_goes_back_to_its_concept_under_another_name():
    index = GraphIndex(_catalogues())
    sub = extract_subgraph(index, "P", radius=3, node_cap=20, hub_degree=50)

    def ends(same_concept) -> set[str]:
        found = search_chains(
            sub, min_hops=3, max_hops=3, budget=100, rarity=lambda v: 0.5,
            is_answer=lambda v: True, keep=10, same_concept=same_concept,
        )  # fmt: skip
        return {c.nodes[-1] for c in found.chains}

    assert ends(None) == {"M", "X"}  # P -> O -> G -> M: back to Feingold syndrome
    assert ends(index_keys(index).same_concept) == {"X"}


def test_x_linked_keeps_its_capital_in_a_description():
    kg = KnowledgeGraph("hpo", "words", RELATIONS)
    for nid, name in (
        ("I:X", "X-linked recessive inheritance"),
        ("I:A", "Autosomal dominant inheritance"),
        ("I:T", "Typified by somatic mosaicism"),
    ):
        kg.add_node(Node(nid, "inheritance", name))
    index = GraphIndex(kg)

    def words(entity):
        return plain(index, Constraint(node=1, relation="has_inheritance", entity=entity))

    assert words("I:X") == "follows X-linked recessive inheritance"
    assert words("I:A") == "follows autosomal dominant inheritance"
    assert words("I:T") == "is typified by somatic mosaicism"


def test_shipped_described_seeds_state_at_most_three_facts():
    raw = resources.files("medenv").joinpath("data/default_qa/hpo.jsonl.gz").read_bytes()
    items = [json.loads(line) for line in gzip.decompress(raw).decode().splitlines()]
    seeds = [sum(c["node"] == 0 for c in it["constraints"]) for it in items]
    assert any(seeds)
    assert max(seeds) <= SEED_FACTS


def test_a_constraint_never_names_a_chain_entitys_concept():
    """D1 and D2 share "Webbed toes" and have one gene each; the one fact that tells D1
    ("Alpha syndrome 2") apart is its feature "Alpha syndrome" (a phenotype named after
    the disease): naming it would name the chain's disease, so the item is dropped."""
    kg = KnowledgeGraph("hpo", "clash", RELATIONS)
    for node in (
        Node("P:1", "phenotype", "Webbed toes"),
        Node("P:2", "phenotype", "Alpha syndrome"),
        Node("D:1", "disease", "Alpha syndrome 2"),
        Node("D:2", "disease", "Beta syndrome"),
        Node("G:1", "gene", "GENEA"),
        Node("G:2", "gene", "GENEB"),
    ):
        kg.add_node(node)
    for d, g in (("D:1", "G:1"), ("D:2", "G:2")):
        kg.add_edge(d, "P:1", "has_phenotype")
        kg.add_edge(d, g, "associated_gene")
    kg.add_edge("D:1", "P:2", "has_phenotype")
    index = GraphIndex(kg)
    disamb = Disambiguator(index)
    chain, steps = ("P:1", "D:1", "G:1"), (("has_phenotype", True), ("associated_gene", False))
    cfg = SynthConfig(n=1, hub_degree=50)
    rar = {i: 0.5 for i in index.ids}
    args = (index, disamb, SpecialtyMap(index), rar, cfg, chain, steps, kg, BUILTIN)
    reason, item = make_item(*args)  # without the rule: the fact names "Alpha syndrome"
    assert reason == "ok" and [c.entity for c in item.constraints] == ["P:2"]
    assert make_item(*args, names=index_keys(index)) == ("ambiguous", None)

"""Ontology semantics: relation properties, the closure query, and uniqueness under it.

Small hand-built graphs whose closed facts are worked out by hand, plus the brute-force
reader of `tests.closure_ref` on the same graphs.
"""

from __future__ import annotations

import sys

import pytest

from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.kg.semantics import RelationProperties
from medenv.synth import resolve_chain
from medenv.synth.index import GraphIndex
from medenv.synth.qa import Constraint, Hop, QAItem
from medenv.synth.uniqueness import Disambiguator
from tests.closure_ref import HPO_SEMANTICS, ClosedGraph, admitted


def _ontology() -> KnowledgeGraph:
    """root <- organ <- {leaf1, leaf2}; D1 has leaf1 and the gene G1; D2 has organ and G2;
    D1 and D2 are both 'treated_by'-linked to X, but only D1 'presents' leaf2 via a
    second relation between the same types (disease -> phenotype)."""
    kg = KnowledgeGraph(
        "hpo",
        "t",
        [
            Relation("is_a", "is a kind of", "has as a kind"),
            Relation("has_phenotype", "presents with", "is seen in"),
            Relation("has_history", "has in the history", "is history in"),
            Relation("associated_gene", "is associated with", "is a gene of"),
        ],
    )
    for i, t in [("R", "root"), ("O", "organ"), ("L1", "leaf one"), ("L2", "leaf two")]:
        kg.add_node(Node(i, "phenotype", t))
    for d in ("D1", "D2", "D3"):
        kg.add_node(Node(d, "disease", d.lower()))
    for g in ("G1", "G2", "G3"):
        kg.add_node(Node(g, "gene", g.lower()))
    kg.add_edge("O", "R", "is_a")
    kg.add_edge("L1", "O", "is_a")
    kg.add_edge("L2", "O", "is_a")
    kg.add_edge("D1", "L1", "has_phenotype")
    kg.add_edge("D2", "O", "has_phenotype")
    kg.add_edge("D3", "L2", "has_history")  # same pair of types, another relation
    kg.add_edge("D1", "G1", "associated_gene")
    kg.add_edge("D2", "G2", "associated_gene")
    kg.add_edge("D3", "G3", "associated_gene")
    return kg


def test_hpo_relations_carry_the_true_path_rule():
    kg = _ontology()
    props = kg.relation_properties()
    assert props["is_a"].transitive and not props["is_a"].symmetric
    assert props["has_phenotype"].inherited_along == "is_a"
    assert "associated_gene" not in props


def test_related_follows_transitivity_and_the_true_path_rule():
    kg = _ontology()
    assert kg.related("L1", "is_a") == {"O", "R"}  # strict: not L1 itself
    assert kg.related("R", "is_a", inverse=True) == {"O", "L1", "L2"}
    assert kg.related("D1", "has_phenotype") == {"L1", "O", "R"}
    assert kg.related("O", "has_phenotype", inverse=True) == {"D1", "D2"}
    assert kg.related("L2", "has_phenotype", inverse=True) == set()  # D3 has it as history
    assert kg.related("L2", "has_history", inverse=True) == {"D3"}
    assert kg.related("D1", "associated_gene") == {"G1"}


def test_symmetric_relations_hold_both_ways():
    kg = KnowledgeGraph("hetionet", "t", [Relation("interacts", "interacts with", "x")])
    for g in "ABC":
        kg.add_node(Node(g, "gene", g))
    kg.add_edge("A", "B", "interacts")
    kg.add_edge("B", "C", "interacts")
    assert kg.relation_properties()["interacts"].symmetric
    assert kg.related("B", "interacts") == {"A", "C"}
    assert kg.related("B", "interacts", inverse=True) == {"A", "C"}
    assert kg.related("A", "interacts") == {"B"}  # symmetric, not transitive


def test_user_declared_properties_override_the_defaults():
    kg = KnowledgeGraph("edgelist", "t", [Relation("part_of", "is part of", "has part")])
    for n in "abc":
        kg.add_node(Node(n, "entity", n))
    kg.add_edge("a", "b", "part_of")
    kg.add_edge("b", "c", "part_of")
    assert kg.related("a", "part_of") == {"b"}
    kg.set_relation_properties("part_of", RelationProperties(transitive=True))
    assert kg.related("a", "part_of") == {"b", "c"}
    with pytest.raises(KeyError):
        kg.set_relation_properties("nope", RelationProperties(transitive=True))


def test_satisfying_answers_a_chain_query_under_the_closure():
    kg = _ontology()
    # genes of diseases that present with a kind of "organ" (L1, L2 or O itself through D2)
    found = kg.satisfying(
        ["O"],
        [("has_phenotype", True), ("associated_gene", False)],
        types=["phenotype", "disease", "gene"],
    )
    assert found == {"G1", "G2"}  # not G3: D3 has leaf two as history, not as phenotype
    only_kinds = kg.satisfying(
        ["R"],
        [("is_a", True)],
        types=["phenotype", "phenotype"],
        facts={1: [("is_a", False, ["O"])]},
    )
    assert only_kinds == {"L1", "L2"}


def _item(chain, hops, constraints=()):
    return QAItem(
        id="q",
        question="?",
        answer=chain[-1],
        answer_id=chain[-1],
        chain=tuple(chain),
        hops=tuple(hops),
        n_hops=len(hops),
        constraints=tuple(constraints),
    )


def test_closure_uniqueness_differs_from_the_literal_graph_and_both_honour_the_relation():
    kg = _ontology()
    # "Which gene is associated with a disease that presents with 'organ'?"
    item = _item(
        ["O", "D2", "G2"],
        [Hop("O", "has_phenotype", "D2", inverse=True), Hop("D2", "associated_gene", "G2")],
    )
    assert resolve_chain(kg, item, closure=False) == {"G2"}  # literal: unique
    assert resolve_chain(kg, item) == {"G1", "G2"}  # a clinician: D1 has leaf one, a kind
    closed = ClosedGraph(kg.graph, HPO_SEMANTICS)
    by_name = {kg.node(n).name: {n} for n in kg.graph.nodes}
    assert admitted(closed, by_name, item) == {"G1", "G2"}
    # two relations between disease and phenotype: the hop's relation decides
    hist = _item(
        ["L2", "D3", "G3"],
        [Hop("L2", "has_history", "D3", inverse=True), Hop("D3", "associated_gene", "G3")],
    )
    assert resolve_chain(kg, hist) == resolve_chain(kg, hist, closure=False) == {"G3"}
    assert admitted(closed, by_name, hist) == {"G3"}
    pheno = _item(
        ["L2", "D3", "G3"],
        [Hop("L2", "has_phenotype", "D3", inverse=True), Hop("D3", "associated_gene", "G3")],
    )
    assert resolve_chain(kg, pheno) == set() == admitted(closed, by_name, pheno)


def test_the_pipeline_adds_a_constraint_that_holds_under_the_closure():
    kg = _ontology()
    kg.add_node(Node("H", "history", "history item"))
    kg.add_edge("D1", "H", "has_history")
    disamb = Disambiguator(GraphIndex(kg))
    chain = ("O", "D1", "G1")
    steps = (("has_phenotype", True), ("associated_gene", False))
    sets = disamb.candidate_sets(chain, steps, ())
    assert sets[-1] == {"G1", "G2"}  # ambiguous under the closure
    cons = disamb.disambiguate(chain, steps, max_constraints=2)
    assert cons == (Constraint(node=1, relation="has_history", entity="H"),)
    item = _item(
        chain, [Hop("O", "has_phenotype", "D1", True), Hop("D1", "associated_gene", "G1")], cons
    )
    assert resolve_chain(kg, item) == {"G1"}
    closed = ClosedGraph(kg.graph, HPO_SEMANTICS)
    by_name = {kg.node(n).name: {n} for n in kg.graph.nodes}
    assert admitted(closed, by_name, item) == {"G1"}


def _walk(succ: dict[str, list[str]], start: str) -> set[str]:
    """Nodes reached over one or more steps, by a plain stack walk (the reference)."""
    seen: set[str] = set()
    todo = list(succ.get(start, ()))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(succ.get(n, ()))
    return seen


@pytest.mark.parametrize("shape", ["cycle", "deep", "diamond"])
def test_memoised_transitive_closure_matches_a_plain_walk(shape):
    """The closure memoises a node's set as the union of its neighbours' sets; a cycle
    (where that recursion would be wrong) and a chain deeper than Python's recursion
    limit fall back to a walk: all three agree with a plain walk, both directions."""
    kg = KnowledgeGraph("edgelist", "t", [Relation("part_of", "is part of", "has part")])
    kg.set_relation_properties("part_of", RelationProperties(transitive=True))
    if shape == "cycle":
        edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "a")]
    elif shape == "deep":  # deeper than the recursion limit by a margin (was 5,000: 4x the CPU)
        edges = [(f"n{i}", f"n{i + 1}") for i in range(sys.getrecursionlimit() + 300)]
    else:
        edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"), ("f", "c")]
    nodes = sorted({x for e in edges for x in e})
    for n in nodes:
        kg.add_node(Node(n, "entity", n))
    for s, t in edges:
        kg.add_edge(s, t, "part_of")
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for s, t in edges:
        up.setdefault(s, []).append(t)
        down.setdefault(t, []).append(s)
    closure = kg.closure()
    for n in nodes[:50] + nodes[-50:]:
        assert closure.related(n, "part_of") == _walk(up, n), n
        assert closure.related(n, "part_of", inverse=True) == _walk(down, n), n

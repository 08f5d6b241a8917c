"""A pickled `KnowledgeGraph` travels in its compact form (`medenv.kg.compact`) and comes
back the same graph: nodes, edges, attributes and every iteration order."""

from __future__ import annotations

import pickle

import pytest

from medenv.kg.cache import load_kg
from medenv.kg.graph import KnowledgeGraph, Node, Relation


@pytest.fixture(scope="module")
def hpo():
    return load_kg("hpo", progress=False)


def _small() -> KnowledgeGraph:
    """Edges added out of node order, attributes on some, a node with extra data."""
    kg = KnowledgeGraph("edgelist", "t", [Relation("r", "r", "r-1"), Relation("s", "s", "s-1")])
    for i in "dcba":
        kg.add_node(Node(i, "entity", f"name {i}", synonyms=(f"syn {i}",)))
    kg.add_edge("a", "b", "r")
    kg.add_edge("c", "b", "s", weight="0.5")
    kg.add_edge("d", "b", "r")
    kg.add_edge("a", "b", "s")
    kg.add_edge("b", "a", "r", evidence="x")
    kg.graph.nodes["c"]["extra"] = 1
    return kg


def _orders(kg: KnowledgeGraph) -> dict:
    """Everything observable through the public methods, in the order they return it."""
    return {
        "nodes": list(kg.nodes()),
        "edges": list(kg.edges()),
        "out": {n.id: kg.out_edges(n.id) for n in kg.nodes()},
        "in": {n.id: kg.in_edges(n.id) for n in kg.nodes()},
        "neighbors": {n.id: kg.neighbors(n.id) for n in kg.nodes()},
        "node_data": dict(kg.graph.nodes(data=True)),
        "stats": kg.stats(),
    }


@pytest.mark.parametrize("which", ["small", "hpo"])
def test_a_pickled_graph_comes_back_identical(which, hpo):
    kg = _small() if which == "small" else hpo
    back = pickle.loads(pickle.dumps(kg, protocol=5))
    assert back._graph is None  # compact until the graph is used
    assert back.num_nodes == kg.num_nodes and back.num_edges == kg.num_edges
    assert [n.id for n in back.nodes()] == [n.id for n in kg.nodes()]
    assert back._graph is None
    assert back == kg  # builds the networkx view
    assert _orders(back) == _orders(kg)
    g = back.graph
    for u, nbrs in list(g._succ.items())[:2000]:  # one key dict per pair, as networkx shares it
        for v, keys in nbrs.items():
            assert g._pred[v][u] is keys
    assert back.graph.number_of_edges() == kg.graph.number_of_edges()


def test_node_lookups_do_not_build_the_networkx_view(hpo):
    back = pickle.loads(pickle.dumps(hpo, protocol=5))
    some = next(iter(hpo.nodes()))
    assert some.id in back and back.get(some.id) == some and back.node(some.id) == some
    assert back.get("no such id") is None and "no such id" not in back
    with pytest.raises(KeyError, match="no such id"):
        back.node("no such id")
    assert back.find(some.name) == hpo.find(some.name)
    assert len(back) == len(hpo) and back._graph is None


def test_a_compact_graph_can_still_be_extended():
    back = pickle.loads(pickle.dumps(_small()))
    back.add_node(Node("e", "entity", "name e"))
    back.add_edge("e", "a", "r")
    assert back.num_edges == 6 and back.predecessors("a") == ["b", "e"]


def _edited() -> KnowledgeGraph:
    """Edges removed and added again, so ``_pred``'s order is not the order the edges
    were first added in (the compact form must keep it anyway)."""
    kg = _small()
    kg.graph.remove_edge("a", "b", key="r")
    kg.graph.remove_edge("a", "b", key="s")
    kg.add_edge("a", "b", "s")  # now last in _pred["b"], still first in _succ["a"]
    kg.add_edge("a", "a", "r")  # a self-loop
    return kg


@pytest.mark.parametrize("which", ["edited", "hetionet"])
def test_the_compact_form_keeps_every_order(which, shared_data):
    if which == "hetionet":
        kg = load_kg("hetionet", shared_data / "hetionet-slice", progress=False, cache=False)
    else:
        kg = _edited()
    g = kg.graph
    form = kg.compact_form()
    assert form.num_edges == g.number_of_edges() == kg.num_edges
    back = form.to_networkx()
    assert list(back._node.items()) == list(g._node.items())
    for u in g:  # every dict in the same order: targets, sources, keys, attributes
        assert list(back._succ[u].items()) == list(g._succ[u].items())
        assert list(back._pred[u].items()) == list(g._pred[u].items())
    assert type(form).of(back) == form  # one graph, one compact form
    # the arrays read as the edges: (source, target, relation) in successor order
    ids = [n.id for n in form.nodes]
    triples = list(zip(form.src.tolist(), form.dst.tolist(), form.relations(), strict=True))
    assert [(ids[s], ids[t], r) for s, t, r in triples] == list(g.edges(keys=True))


def test_stats_of_a_compact_graph_need_no_networkx_view(hpo):
    back = pickle.loads(pickle.dumps(hpo, protocol=5))
    stats = back.stats()
    assert back._graph is None
    assert hpo.graph is not None  # the networkx view: hpo.stats() counts over its edges
    assert stats == hpo.stats()
    assert sum(stats["relations"].values()) == hpo.graph.number_of_edges()

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


@pytest.fixture(scope="module")
def hpo_pickle(hpo) -> bytes:
    """The full HPO graph pickled once from its networkx view (the compact form made again
    from the view: ~2 CPU-s a pickling); each test unpickles its own copy. The same bytes as
    pickling the compact graph the cache gave (one graph, one compact form)."""
    as_loaded = pickle.dumps(load_kg("hpo", progress=False), protocol=5)
    assert hpo.graph is not None  # the networkx view
    data = pickle.dumps(hpo, protocol=5)
    assert data == as_loaded
    return data


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


def _adjacency_difference(a: KnowledgeGraph, b: KnowledgeGraph) -> object:
    """What `_orders` reads, one level down, compared node by node: the nodes' data and, per
    node, its successors and predecessors with each pair's relations and attributes, all in
    iteration order (the public methods above are thin reads of these dicts). None when the
    same, else the first difference. On the full HPO graph ~1.5 CPU-s, where `_orders` of
    both graphs builds ~1.3 million `Edge` objects and lists (~7 CPU-s)."""
    ga, gb = a.graph, b.graph
    if list(ga._node.items()) != list(gb._node.items()):
        return "nodes"
    for u in ga:
        for side, da, db in (
            ("succ", ga._succ[u], gb._succ[u]),
            ("pred", ga._pred[u], gb._pred[u]),
        ):
            if list(da) != list(db):
                return (side, u)
            for v, keys in da.items():
                if list(keys.items()) != list(db[v].items()):
                    return (side, u, v)
    return None


def _public_orders_of(kg: KnowledgeGraph, ids: list[str]) -> dict:
    """`_orders`' per-node public reads, for the nodes ``ids``."""
    return {
        "out": {i: kg.out_edges(i) for i in ids},
        "in": {i: kg.in_edges(i) for i in ids},
        "neighbors": {i: kg.neighbors(i) for i in ids},
        "successors": {i: kg.successors(i) for i in ids},
        "predecessors": {i: kg.predecessors(i) for i in ids},
    }


@pytest.mark.parametrize("which", ["small", "hpo"])
def test_a_pickled_graph_comes_back_identical(which, request):
    if which == "small":
        kg = _small()
        back = pickle.loads(pickle.dumps(kg, protocol=5))
    else:
        kg, back = (
            request.getfixturevalue("hpo"),
            pickle.loads(request.getfixturevalue("hpo_pickle")),
        )
    assert back._graph is None  # compact until the graph is used
    assert back.num_nodes == kg.num_nodes and back.num_edges == kg.num_edges
    assert [n.id for n in back.nodes()] == [n.id for n in kg.nodes()]
    assert back._graph is None
    assert back == kg  # builds the networkx view
    if which == "small":
        assert _orders(back) == _orders(kg)
    else:  # every node's dicts in order, and the public reads themselves on every 50th node
        assert _adjacency_difference(back, kg) is None
        assert back.stats() == kg.stats()
        every = [n.id for n in kg.nodes()][::50]
        assert _public_orders_of(back, every) == _public_orders_of(kg, every)
        assert list(back.edges()) == list(kg.edges())
    g = back.graph
    for u, nbrs in list(g._succ.items())[:2000]:  # one key dict per pair, as networkx shares it
        for v, keys in nbrs.items():
            assert g._pred[v][u] is keys
    assert back.graph.number_of_edges() == kg.graph.number_of_edges()


def test_node_lookups_do_not_build_the_networkx_view(hpo, hpo_pickle):
    back = pickle.loads(hpo_pickle)
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


def test_stats_of_a_compact_graph_need_no_networkx_view(hpo, hpo_pickle):
    back = pickle.loads(hpo_pickle)
    stats = back.stats()
    assert back._graph is None
    assert hpo.graph is not None  # the networkx view: hpo.stats() counts over its edges
    assert stats == hpo.stats()
    assert sum(stats["relations"].values()) == hpo.graph.number_of_edges()

"""`GraphIndex` is built from the graph's edge arrays (`KnowledgeGraph.compact_form`), not
from the networkx view: it must equal the index read from the networkx view
(`tests.index_ref.NetworkxIndex`, the code it replaced) field by field, give synthesis
byte-identical items, and leave the networkx view unbuilt."""

from __future__ import annotations

import msgspec
import pytest

from bench.kg_scale import generate
from medenv.kg.cache import load_kg
from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.synth import pipeline
from medenv.synth.config import SynthConfig
from medenv.synth.index import GraphIndex
from medenv.synth.pipeline import synthesize
from tests.index_ref import NetworkxIndex


@pytest.fixture(scope="module")
def hpo_compact():
    """The default HPO graph as the cache gives it: compact, no networkx view yet."""
    kg = load_kg("hpo", progress=False)
    assert kg._graph is None
    return kg


@pytest.fixture(scope="module")
def primekg_like(tmp_path_factory):
    """A loader of a PrimeKG-shaped graph (`bench.kg_scale`) as the cache gives it: each
    call reads the cache file again, so the networkx view is not built yet."""
    home = tmp_path_factory.mktemp("home")
    path = generate(tmp_path_factory.mktemp("kg") / "kg.csv", 30_000, seed=5)

    def load() -> KnowledgeGraph:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MEDENV_HOME", str(home))
            kg = load_kg("edgelist", path, progress=False)
        assert kg._graph is None
        return kg

    load()  # builds and caches it
    return load


def _odd() -> KnowledgeGraph:
    """Self-loops, two relations on one pair, a node with no edges, ids whose sort order
    differs from insertion order, a synonym shared with another node's name."""
    kg = KnowledgeGraph("edgelist", "t", [Relation(r, r, r) for r in ("b_rel", "a_rel")])
    for i in ("z", "B", "a", "é", "lonely"):
        kg.add_node(Node(i, "thing" if i != "a" else "other", f"n {i}", synonyms=("n z",)))
    for s, t, r in [("z", "a", "b_rel"), ("z", "a", "a_rel"), ("a", "a", "b_rel"),
                    ("é", "B", "a_rel"), ("B", "z", "b_rel"), ("a", "z", "a_rel")]:  # fmt: skip
        kg.add_edge(s, t, r)
    return kg


def _assert_same_index(kg: KnowledgeGraph, every: int = 1) -> None:
    new = GraphIndex(kg)
    ref = NetworkxIndex(kg)
    assert new.ids == ref.ids
    assert list(new.node.items()) == list(ref.node.items())
    assert list(new.type.items()) == list(ref.type.items())
    assert list(new.degree.items()) == list(ref.degree.items())
    assert new.by_name == ref.by_name and new.max_degree == ref.max_degree
    assert list(new.adj) == list(ref.adj) and len(new.adj) == len(ref.adj)
    for node in ref.ids[::every]:  # key order and neighbour order of every group
        assert list(new.adj[node].items()) == list(ref.adj[node].items()), node
    assert new.type_reach() == ref.type_reach()
    with pytest.raises(KeyError):
        new.adj["no such node"]


def test_the_index_equals_the_networkx_index_on_a_small_odd_graph():
    _assert_same_index(_odd())


def test_the_index_equals_the_networkx_index_on_a_primekg_like_graph(primekg_like):
    _assert_same_index(primekg_like())


def test_the_index_equals_the_networkx_index_on_the_hpo_graph(hpo_compact):
    new = GraphIndex(hpo_compact)
    assert hpo_compact._graph is None  # built from the arrays alone
    _assert_same_index(hpo_compact, every=5)  # a fifth of the nodes' groups: seconds
    assert new.step("HP:0001250", "is_a", False) == NetworkxIndex(hpo_compact).step(
        "HP:0001250", "is_a", False
    )


def primekg_like_load(request) -> KnowledgeGraph:
    return request.getfixturevalue("primekg_like")()


def _items(kg: KnowledgeGraph, cfg: SynthConfig) -> bytes:
    return msgspec.json.encode(synthesize(kg, cfg, progress=False).items)


@pytest.mark.parametrize(
    ("which", "cfg"),
    [
        ("primekg_like", SynthConfig(n=15, seed=3)),
        ("hpo_compact", SynthConfig(n=12, seed=1)),
    ],
)
def test_synthesis_gives_the_same_items_from_either_index(which, cfg, request, monkeypatch):
    request.getfixturevalue(which)
    fresh = load_kg("hpo", progress=False) if which == "hpo_compact" else primekg_like_load(request)
    ours = _items(fresh, cfg)
    assert fresh._graph is None  # synthesis never built the networkx view
    monkeypatch.setattr(pipeline, "GraphIndex", NetworkxIndex)
    theirs = _items(fresh, cfg)
    assert ours == theirs and len(msgspec.json.decode(ours)) == cfg.n

"""The KG-scale generator (`bench.kg_scale`) and the edge-list loader's bulk path on it,
at a size that runs in seconds (the bench runs it at 4M edges)."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter

import pytest

from bench.kg_scale import NODE_TYPES, RELATIONS, generate
from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.kg.loaders.edgelist import load_edgelist

N = 20_000


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("scale") / "kg.csv", N, seed=3)


def _rows(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_generator_writes_n_distinct_edges_with_primekg_types_and_mix(small, tmp_path):
    rows = _rows(small)
    triples = {(r["x_type"], r["x_id"], r["relation"], r["y_type"], r["y_id"]) for r in rows}
    assert len(rows) == len(triples) == N
    types = {r["x_type"] for r in rows} | {r["y_type"] for r in rows}
    assert types == set(NODE_TYPES)
    total = sum(r[3] for r in RELATIONS.values())
    by_rel = Counter(r["relation"] for r in rows)
    for rel, (*_, primekg_rows) in RELATIONS.items():
        assert abs(by_rel[rel] - N * primekg_rows / total) <= len(RELATIONS), rel  # rounding
    for r in rows:  # endpoints have the relation's declared types
        assert (r["x_type"], r["y_type"]) == RELATIONS[r["relation"]][:2]
    again = generate(tmp_path / "again.csv", N, seed=3)
    other = generate(tmp_path / "other.csv", N, seed=4)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (small, again, other)]
    assert digest[0] == digest[1] != digest[2]


def _reference(path) -> KnowledgeGraph:
    """The PrimeKG layout read plainly (csv.DictReader, `add_node`/`add_edge`): a second
    reading of the loader's rules for these files (ids ``type::id``, snake-case types and
    relations, the first display relation names the relation)."""
    kg = KnowledgeGraph("edgelist", f"{path.name}@x")
    for r in _rows(path):
        ends = []
        for side in ("x", "y"):
            node_id = f"{r[side + '_type']}::{r[side + '_id']}"
            if node_id not in kg:
                kind = r[side + "_type"].replace("/", "_")
                kg.add_node(Node(node_id, kind, r[side + "_name"]))
            ends.append(node_id)
        rel = r["relation"].replace("-", "_").replace(" ", "_")
        words = r["display_relation"]
        if rel not in kg.relations:
            kg.add_relation(Relation(rel, f"is linked by {words} to", f"is linked by {words} from"))
        kg.add_edge(ends[0], ends[1], rel)
    return kg


def test_the_loader_builds_the_graph_a_plain_reading_builds(small):
    kg = load_edgelist(small, progress=False)
    ref = _reference(small)
    ref.version = kg.version
    assert kg.num_edges == N and kg.num_nodes == ref.num_nodes
    assert kg == ref
    assert kg.graph.number_of_edges() == N  # networkx's own count over the bulk-added edges
    some = next(iter(kg.edges()))
    assert kg.graph.has_edge(some.source, some.target, key=some.relation)
    assert some.target in kg.successors(some.source)
    assert some.source in kg.predecessors(some.target)

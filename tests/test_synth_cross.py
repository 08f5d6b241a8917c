"""Cross-source synthesis on HPO + the shared Hetionet slice: every item crosses a source
boundary (re-derived from the full single-source graphs), passes the single-source checks
(uniqueness re-verified independently, real path, no leak, evidence that states each
hop), reads naturally, and the oracle answers it through the tools.

The items come from a small real slice of the two sources (`cross_slice`: 5,435 of the
merged graph's 73,080 nodes, 862 of them aligned across the sources), merged by the
real `merge_graphs` and given a world (corpus + indexes) of its own: the whole merged
world took ~39 CPU-s to build on a cold cache; the slice and its world take ~5. The CLI
test synthesizes from the whole merged graph.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from medenv.corpus.answerability import hop_evidence
from medenv.corpus.facts import Adjacency
from medenv.corpus.pages import medical_page
from medenv.errors import MedenvError
from medenv.kg.align import source_of
from medenv.kg.cache import load_kg
from medenv.kg.graph import KnowledgeGraph
from medenv.kg.loaders.hetionet import METAEDGES
from medenv.kg.merge import merge_graphs
from medenv.synth import SynthConfig, resolve_chain, synthesize
from medenv.synth.render import NOUNS, PHRASES
from tests.test_synth import _admitted, _occurs, labels_index

N = 30
ANSWER_TYPES = ("disease", "gene", "phenotype", "compound", "pathway", "pharmacologic_class")
FBN1, MARFAN = "hpo:NCBIGene:2200", "hpo:OMIM:154700"  # test_aligned_page_lists_facts_...


def _induced(graph: KnowledgeGraph, keep: set[str]) -> KnowledgeGraph:
    """``graph``'s nodes in ``keep`` and every edge among them (same source and version)."""
    small = KnowledgeGraph(graph.source, graph.version, graph.relations.values())
    for node_id in sorted(keep):
        small.add_node(graph.node(node_id))
    for node_id in sorted(keep):
        for e in graph.out_edges(node_id):
            if e.target in keep:
                small.add_edge(e.source, e.target, e.relation, **e.attrs)
    return small


def cross_slice(merged, parts: dict, seeds: list[str], fan=(40, 8)):
    """A real slice of ``merged``: the ``seeds``, up to ``fan[0]`` neighbours of each, up to
    ``fan[1]`` neighbours of each of those (neighbours in a fixed pseudo-random order, so both
    sources appear); each kept node's members are cut from their source graph in ``parts``
    with their ``is_a`` ancestors there (HPO's hierarchy up to its organ-system branches,
    which decide specialties) and every edge among the kept nodes, and the slices are merged
    again by `merge_graphs`."""

    def order(node_id: str) -> bytes:
        return hashlib.sha256(node_id.encode()).digest()

    keep, frontier = set(seeds), list(seeds)
    for width in fan:
        reached = []
        for node_id in frontier:
            for other in sorted(merged.neighbors(node_id), key=order)[:width]:
                if other not in keep:
                    keep.add(other)
                    reached.append(other)
        frontier = reached
    kept: dict[str, set[str]] = {ns: set() for ns in parts}
    for node_id in keep:
        for member in merged.members.get(node_id, (node_id,)):
            kept[source_of(member)].add(member.split(":", 1)[1])
    for ns, graph in parts.items():
        todo = list(kept[ns]) if "is_a" in graph.relations else []
        while todo:
            for parent in graph.successors(todo.pop(), "is_a"):
                if parent not in kept[ns]:
                    kept[ns].add(parent)
                    todo.append(parent)
    return merge_graphs([_induced(g, kept[ns]) for ns, g in parts.items()])


@pytest.fixture(scope="module")
def het_path(shared_data):
    return shared_data / "hetionet-slice"


@pytest.fixture(scope="module")
def parts(kg, het_path):
    """The full single-source graphs (the crossings are re-derived from them)."""
    return {"hpo": kg, "hetionet": load_kg("hetionet", het_path, progress=False)}


@pytest.fixture(scope="module")
def world(het_path, parts):
    """The world of a slice of HPO + Hetionet: FBN1, Marfan syndrome and 118 more genes
    aligned across the two sources (pseudo-random), and their neighbourhoods."""
    from medenv.world import World

    merged = load_kg("hpo+hetionet", {"hetionet": het_path}, progress=False)
    genes = sorted(g for g in merged.members if g.startswith("hpo:NCBIGene:") and g != FBN1)
    genes.sort(key=lambda g: hashlib.sha256(g.encode()).digest())
    small = cross_slice(merged, parts, [FBN1, MARFAN, *genes[:118]])
    assert small.source == merged.source and small.version == merged.version
    assert 3_000 < small.num_nodes < 6_000 and len(small.members) > 500
    return World.for_kg(small)


@pytest.fixture(scope="module")
def result(world):
    config = SynthConfig(n=N, seed=1, min_crossings=1, answer_types=ANSWER_TYPES)
    return synthesize(world.kg, config, world=world, progress=False)


@pytest.fixture(scope="module")
def items(result):
    return result.items


def _stated_by(merged, parts, source, target, relation) -> set[str]:
    """The sources whose own graph has this edge between its members of the two ends
    (no medenv provenance code: the single-source graphs are asked directly)."""

    def members(node_id):
        return merged.members.get(node_id, (node_id,))

    out = set()
    for ns, g in parts.items():
        for s in members(source):
            for t in members(target):
                if source_of(s) == source_of(t) == ns:
                    s_id, t_id = s.split(":", 1)[1], t.split(":", 1)[1]
                    if g.graph.has_edge(s_id, t_id, key=relation):
                        out.add(ns)
    return out


def test_every_item_crosses_a_source_boundary(world, parts, items, result):
    merged = world.kg
    assert len(items) == N
    for item in items:
        hop_sources = []
        for hop in item.hops:
            s, t = (hop.tail, hop.head) if hop.inverse else (hop.head, hop.tail)
            hop_sources.append(_stated_by(merged, parts, s, t, hop.relation))
            assert hop_sources[-1], (item.id, hop)
        crossings = sum(a.isdisjoint(b) for a, b in zip(hop_sources, hop_sources[1:], strict=False))
        assert crossings >= 1, item.question
    counts = result.manifest["counts"]["by_crossings"]
    assert sum(counts.values()) == N and "0" not in counts


def test_items_pass_the_single_source_checks(world, items):
    kg = world.kg
    by_name = labels_index(kg)
    for item in items:
        assert _admitted(kg.graph, by_name, item) == {item.answer_id}, item.question
        assert resolve_chain(kg, item) == {item.answer_id}, item.question
        for i, hop in enumerate(item.hops):
            s, t = (hop.tail, hop.head) if hop.inverse else (hop.head, hop.tail)
            assert (hop.head, hop.tail) == item.chain[i : i + 2]
            assert kg.graph.has_edge(s, t, key=hop.relation)
        for node_id in item.chain[1:]:
            node = kg.node(node_id)
            for label in (node.name, *node.synonyms):
                assert not _occurs(label, item.question), (label, item.question)
        # answerable from the tools: every hop has pages that state it, found by search
        assert len(item.evidence) == item.n_hops and all(item.evidence)
        assert item.evidence == hop_evidence(world, item)


def test_questions_read_naturally_and_drug_answers_are_pharmacology(world, items):
    for item in items:
        q = item.question
        assert " entity " not in q and "  " not in q, q
        assert not re.search(r"\bthe (\w+) the \1\b", q), q  # "the gene the gene"
        kind = world.kg.node(item.answer_id).type
        assert (item.specialty == "pharmacology") == (kind in ("compound", "pharmacologic_class"))
        assert item.specialty != "general"
    assert {world.kg.node(i.answer_id).type for i in items} - {"disease", "gene", "phenotype"}


def test_every_hetionet_relation_is_worded_both_ways():
    nouns = {n for options in NOUNS.values() for n in options}
    for meta in METAEDGES.values():
        for head in (True, False):
            options = PHRASES[(meta.relation.name, head)]
            for verb, override in options:
                # the object's noun follows the verb, so the verb must not end in one
                assert not any(verb.endswith(f" {n}") for n in nouns), verb
                assert override is None or override.startswith(verb)


def test_aligned_page_lists_facts_from_both_sources(world):
    page = medical_page(Adjacency(world.kg), "hpo:NCBIGene:2200").text
    assert "Sources: hpo as NCBIGene:2200; hetionet as Gene::2200" in page
    assert "Marfan syndrome" in page  # HPO: diseases of FBN1
    het = [world.kg.node(t).name for t in world.kg.successors("hpo:NCBIGene:2200")]
    assert het and any(name in page for name in het)  # Hetionet: processes, pathways, ...


def test_min_crossings_bounds_and_cli(tmp_path, het_path, capsys):
    from medenv.cli import main

    with pytest.raises(MedenvError, match="min-crossings must be in 0..max-hops-1"):
        SynthConfig(min_crossings=4, max_hops=4).check()
    out = tmp_path / "x"
    args = ["synth", "--source", "hpo+hetionet", "--path", f"hetionet={het_path}"]
    args += ["--min-crossings", "2", "--n", "2", "--no-corpus", "--no-progress", "--out", str(out)]
    assert main([*args, "--answer-type", "gene,compound", "--max-hops", "4"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["min_crossings"] == 2
    crossings = manifest["counts"]["by_crossings"]  # 2 items: 111 seeds tried, 3: 702
    assert set(crossings) <= {"2", "3"} and sum(crossings.values()) == 2


def test_oracle_answers_cross_source_items_through_the_tools(world, items, tmp_path):
    from medenv.agents.rollout import rollout

    result = rollout(
        "oracle",
        qa=items[:12],
        db=tmp_path / "o.duckdb",
        env_kwargs={"world": world, "source": "hpo+hetionet"},
        progress=False,
    )
    assert result.ran == 12 and result.accuracy >= 11 / 12

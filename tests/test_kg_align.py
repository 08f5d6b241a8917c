"""Entity alignment at merge time: identifiers, the name matcher, the user alignment file,
the report, and the gene alignment of HPO + the shared Hetionet slice re-derived from the
raw files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medenv.cli import main
from medenv.errors import DataError, MedenvError
from medenv.kg.align import AlignOptions, name_candidates, normalise
from medenv.kg.cache import load_kg
from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.kg.ids import curie, parse_curie
from medenv.kg.loaders.edgelist import load_edgelist
from medenv.kg.loaders.hpo import data_dir
from medenv.kg.merge import merge_graphs
from medenv.kg.provenance import chain_crossings
from tests.cli import cli_error

REL = Relation("linked", "is linked to", "is linked from")


def graph(source: str, nodes: list[Node], edges: list[tuple[str, str]] = ()) -> KnowledgeGraph:
    kg = KnowledgeGraph(source, "1", [REL])
    for n in nodes:
        kg.add_node(n)
    for s, t in edges:
        kg.add_edge(s, t, "linked")
    return kg


# -- identifiers ---------------------------------------------------------------------------
def test_curies_are_normalised_and_unknown_namespaces_refused():
    assert curie("MSH:D005483") == "MESH:D005483"
    assert curie("snomedct_us:82525005") == "SNOMEDCT:82525005"
    assert curie("ncbigene:2200") == "NCBIGene:2200"
    assert curie("Orphanet:558") == "ORPHA:558"
    assert curie("Fyler:4010") is None and curie("UMLS:") is None and curie("2200") is None
    with pytest.raises(MedenvError, match="unknown identifier namespace 'FOO'"):
        parse_curie("FOO:1")
    with pytest.raises(MedenvError, match="malformed identifier"):
        parse_curie("NCBIGene")


def test_loaders_declare_their_identifiers(kg, shared_data):
    assert kg.node("NCBIGene:2200").xrefs == ("NCBIGene:2200",)
    assert kg.node("OMIM:154700").xrefs == ("OMIM:154700",)
    seizure = kg.node("HP:0001250").xrefs
    assert seizure[0] == "HP:0001250" and any(x.startswith("UMLS:") for x in seizure)
    assert not any(x.startswith("Fyler") for n in kg.nodes() for x in n.xrefs)
    het = load_kg("hetionet", shared_data / "hetionet-slice", progress=False)
    assert het.node("Gene::2200").xrefs == ("NCBIGene:2200",)
    assert het.node("Symptom::D005483").xrefs == ("MESH:D005483",)
    assert het.node("Disease::DOID:9352").xrefs == ("DOID:9352",)
    assert het.node("Compound::DB00331").xrefs == ("DRUGBANK:DB00331",)


# -- the alignment rules on small graphs -----------------------------------------------------
def test_shared_identifier_merges_nodes_and_keeps_every_edge():
    a = graph(
        "a",
        [Node("g1", "gene", "FBN1", xrefs=("NCBIGene:2200",)), Node("d1", "disease", "Marfan")],
        [("d1", "g1")],
    )
    b = graph(
        "b",
        [Node("G", "gene", "fibrillin 1", ("FBN-1",), "a gene", ("NCBIGene:2200", "HGNC:3603"))],
        [],
    )
    b.add_node(Node("C", "compound", "X"))
    b.add_edge("C", "G", "linked")
    m = merge_graphs([a, b])
    assert m.num_nodes == 3 and m.canonical("b:G") == "a:g1"
    node = m.node("a:g1")
    assert node.name == "FBN1" and node.synonyms == ("fibrillin 1", "FBN-1")
    assert node.definition == "a gene" and node.xrefs == ("NCBIGene:2200", "HGNC:3603")
    assert m.predecessors("a:g1") == ["a:d1", "b:C"]
    assert m.node_sources("a:g1") == ("a", "b") and m.node_sources("b:C") == ("b",)
    assert m.edge_sources("b:C", "a:g1", "linked") == ("b",)
    # d1 -(a)- g1 -(b)- C crosses once; the report counts that 2-hop path
    assert chain_crossings(m, ("a:d1", "a:g1", "b:C"), (("linked", False), ("linked", True))) == 1
    assert m.report["cross_source_2hop_paths"] == 1
    assert m.report["aligned"] == {"gene": {"id": 1}}
    side_by_side = merge_graphs([a, b], options=AlignOptions(ids=False))
    assert side_by_side.num_nodes == 4 and not side_by_side.members


def test_an_edge_both_sources_state_is_one_edge_with_every_attribute():
    """Two aligned ends joined by one relation in both sources: one edge, the first source's
    attributes winning (the second adds what is missing), both sources named. The merged
    adjacency, in order, equals one built edge by edge with networkx's own ``add_edge`` (a
    reference for `merge_graphs`' direct writes); the source graphs are left unchanged."""
    import networkx as nx

    near = Relation("near", "is near", "is near to")
    a, b = KnowledgeGraph("a", "1", [REL, near]), KnowledgeGraph("b", "1", [REL, near])
    for kg, tag in ((a, ""), (b, "B")):
        kg.add_node(Node(f"g1{tag}", "gene", f"G1{tag}", xrefs=("NCBIGene:1",)))
        kg.add_node(Node(f"g2{tag}", "gene", f"G2{tag}", xrefs=("NCBIGene:2",)))
        kg.add_node(Node(f"x{tag}", "compound", "X"))
    a.add_edge("g1", "g2", "linked", score="0.9")
    a.add_edge("x", "g1", "near")
    b.add_edge("g2B", "g1B", "linked")  # the other direction: another edge
    b.add_edge("g1B", "g2B", "near")  # the same pair, another relation: a parallel edge
    b.add_edge("g1B", "g2B", "linked", score="0.1", by="b")  # stated by both sources
    b.add_edge("xB", "g2B", "linked")
    m = merge_graphs([a, b])
    assert m.num_nodes == 4 and m.num_edges == 5
    assert m.edge_sources("a:g1", "a:g2", "linked") == ("a", "b")
    assert m.edge_sources("a:g1", "a:g2", "near") == ("b",)
    assert m.graph.edges["a:g1", "a:g2", "linked"] == {"score": "0.9", "by": "b"}
    ref = nx.MultiDiGraph()
    ref.add_nodes_from(m.graph.nodes(data=True))
    for ns, g in (("a", a), ("b", b)):
        for s, t, key, data in g.graph.edges(keys=True, data=True):
            s2, t2 = m.canonical(f"{ns}:{s}"), m.canonical(f"{ns}:{t}")
            if ref.has_edge(s2, t2, key):
                for k, v in data.items():
                    ref.edges[s2, t2, key].setdefault(k, v)
            else:
                ref.add_edge(s2, t2, key=key, **data)
    for side in ("_succ", "_pred"):
        mine, theirs = getattr(m.graph, side), getattr(ref, side)
        assert list(mine) == list(theirs)
        for u in mine:
            assert [(v, list(kd.items())) for v, kd in mine[u].items()] == [
                (v, list(kd.items())) for v, kd in theirs[u].items()
            ], (side, u)
            for v, kd in mine[u].items():  # one key dict shared by both sides, as networkx
                assert kd is (m.graph._pred[v][u] if side == "_succ" else m.graph._succ[v][u])
    assert a.graph.edges["g1", "g2", "linked"] == {"score": "0.9"}
    assert b.graph.edges["g1B", "g2B", "linked"] == {"score": "0.1", "by": "b"}


def test_type_conflicts_and_ambiguous_identifiers_are_reported_not_merged():
    a = graph("a", [Node("p", "phenotype", "Alzheimer", xrefs=("DOID:10652",))])
    a.add_node(Node("x1", "gene", "X", xrefs=("HGNC:1",)))
    a.add_node(Node("x2", "gene", "X2", xrefs=("HGNC:1",)))
    b = graph("b", [Node("d", "disease", "Alzheimer's disease", xrefs=("DOID:10652",))])
    b.add_node(Node("y", "gene", "Y", xrefs=("HGNC:1",)))
    m = merge_graphs([a, b])
    assert not m.members and m.num_nodes == 5
    assert m.report["conflicts"] == 1 and m.report["ambiguous_ids"] == 1
    assert m.report["conflict_examples"][0] == {
        "key": "DOID:10652",
        "nodes": ["a:p", "b:d"],
        "types": ["phenotype", "disease"],
        "reason": "types",
    }


def test_name_matcher_is_off_by_default_one_to_one_and_type_compatible():
    a = graph("a", [Node("p1", "phenotype", "Flushing"), Node("p2", "phenotype", "Pain")])
    a.add_node(Node("p3", "phenotype", "Ache", ("pain",)))
    a.add_node(Node("g", "gene", "Fever"))
    b = graph("b", [Node("s1", "symptom", "FLUSHING."), Node("s2", "symptom", "Pain")])
    b.add_node(Node("s3", "symptom", "Fever"))
    assert not merge_graphs([a, b]).members
    m = merge_graphs([a, b], options=AlignOptions(names=True))
    # Flushing ~ FLUSHING. (phenotype ~ symptom); "pain" names two HPO-side nodes: not
    # one-to-one; Fever is a gene on one side and a symptom on the other: incompatible
    assert m.members == {"a:p1": ("a:p1", "b:s1")} and m.methods == {"a:p1": "name"}
    assert normalise("Type-2  Diabetes!") == "type 2 diabetes"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_user_alignment_file_overrides_ids_and_names(tmp_path):
    a = graph("a", [Node("g", "gene", "A1", xrefs=("NCBIGene:1",)), Node("d", "disease", "Z")])
    b = graph("b", [Node("G", "gene", "B1", xrefs=("NCBIGene:1",)), Node("D", "disease", "Q")])
    b.add_node(Node("H", "gene", "A1"))
    file = _write(tmp_path / "al.csv", "left,right,match\na:d,b:D,same\na:g,b:G,distinct\n")
    m = merge_graphs([a, b], options=AlignOptions(names=True, file=str(file)))
    # the file joins d~D and forbids g~G (shared id); the name matcher then joins g~H
    assert m.members == {"a:d": ("a:d", "b:D"), "a:g": ("a:g", "b:H")}
    assert m.methods == {"a:d": "file", "a:g": "name"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("left,right\na:g,c:G\n", 2, "unknown namespace 'c'"),
        ("left,right\na:g,b:nope\n", 2, "no node 'b:nope'"),
        ("left,right\na:g,b:D\n", 2, "type conflict: 'a:g' is a gene, 'b:D' is a disease"),
        ("left,right\n# a comment\na:g\n", 3, "expected 2 fields, got 1"),
        ("a,b\n", 1, "unexpected header"),
        ("left,right,match\na:g,b:G,maybe\n", 2, "match must be same or distinct"),
        ("left,right\na:g,a:g\n", 2, "from the same source"),
        ("left,right\na:g,b:G\na:g,b:H\n", 3, "two nodes of one source"),
        ("left,right,match\na:g,b:G,distinct\na:g,b:G,same\n", 2, "both same and distinct"),
    ],
)
def test_bad_alignment_files_name_file_and_line(tmp_path, text, line, message):
    a = graph("a", [Node("g", "gene", "A", xrefs=("NCBIGene:1",))])
    b = graph("b", [Node("G", "gene", "B"), Node("H", "gene", "C"), Node("D", "disease", "D")])
    file = _write(tmp_path / "al.csv", text)
    with pytest.raises(DataError) as err:
        merge_graphs([a, b], options=AlignOptions(file=str(file)))
    assert str(err.value).startswith(f"{file}:{line}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_edgelist_xref_columns_align_with_hpo(tmp_path, kg):
    rows = (
        "source,relation,target,source_type,target_type,source_xrefs,target_xrefs\n"
        "drugA,targets,geneA,drug,gene,DrugBank:DB1,ncbigene:2200;HGNC:3603\n"
        "drugA,targets,geneB,drug,gene,,NCBIGene:999999999\n"
    )
    el = load_edgelist(_write(tmp_path / "e.csv", rows), progress=False)
    assert el.node("geneA").xrefs == ("NCBIGene:2200", "HGNC:3603")
    assert el.node("drugA").xrefs == ("DRUGBANK:DB1",)
    # HPO's FBN1 and Marfan syndrome with their link (a small real part of the graph)
    hpo = KnowledgeGraph("hpo", kg.version, kg.relations.values())
    for node_id in ("NCBIGene:2200", "OMIM:154700"):
        hpo.add_node(kg.node(node_id))
    hpo.add_edge("OMIM:154700", "NCBIGene:2200", "associated_gene")
    m = merge_graphs([hpo, el])
    assert m.canonical("edgelist:geneA") == "hpo:NCBIGene:2200"
    assert "hpo:OMIM:154700" in m.predecessors("hpo:NCBIGene:2200", "associated_gene")
    assert "edgelist:drugA" in m.predecessors("hpo:NCBIGene:2200", "targets")
    bad = _write(tmp_path / "bad.csv", rows.replace("HGNC:3603", "GENECARDS:FBN1"))
    with pytest.raises(DataError, match=r"bad\.csv:2: unknown identifier namespace 'GENECARDS'"):
        load_edgelist(bad, progress=False)


def test_cli_reports_bad_alignment_input_in_one_line(tmp_path, shared_data, capsys):
    het = shared_data / "hetionet-slice"
    bad = _write(tmp_path / "al.csv", "left,right\nhpo:NCBIGene:2200,umls:C1\n")
    base = ["kg", "stats", "--source", "hpo+hetionet", "--path", f"hetionet={het}"]
    _, err = cli_error([*base, "--alignment", str(bad)], capsys)
    assert f"{bad}:2: unknown namespace 'umls'" in err
    _, err = cli_error([*base, "--alignment", str(tmp_path / "missing.csv")], capsys)
    assert "alignment file not found" in err
    _, err = cli_error(["kg", "stats", "--alignment", str(bad)], capsys)
    assert "needs a merged --source" in err


# -- HPO + the shared Hetionet slice, re-derived from the raw files -------------------------
def _raw_hpo_genes() -> set[str]:
    """NCBI ids of the genes HPO's files link to a disease that has an annotation."""
    folder = data_dir()
    diseases = set()
    for line in (folder / "phenotype.hpoa").read_text().splitlines():
        if line.startswith("#") or line.startswith("database_id"):
            continue
        f = line.split("\t")
        if f[2] != "NOT" and not re.fullmatch(r"0/[1-9][0-9]*", f[7]):  # a row stating a feature
            diseases.add(f[0])
    genes = set()
    for line in (folder / "genes_to_phenotype.txt").read_text().splitlines()[1:]:
        f = line.split("\t")
        if f[5] in diseases:
            genes.add(f[0])
    return genes


def _raw_hetionet_genes(folder: Path) -> set[str]:
    out = set()
    for line in (folder / "nodes.tsv").read_text().splitlines():
        node_id, _, kind = line.rstrip("\r").split("\t")
        if kind == "Gene":
            out.add(node_id.removeprefix("Gene::"))
    return out


@pytest.fixture(scope="module")
def merged(shared_data):
    return load_kg("hpo+hetionet", {"hetionet": shared_data / "hetionet-slice"}, progress=False)


def test_gene_alignment_by_ncbi_id_is_exact(merged, kg, shared_data):
    folder = shared_data / "hetionet-slice"
    expected = _raw_hpo_genes() & _raw_hetionet_genes(folder)
    assert len(expected) > 4000
    got = {}
    for canonical, members in merged.members.items():
        assert merged.node(canonical).type == "gene"
        assert canonical.startswith("hpo:NCBIGene:") and len(members) == 2
        ncbi = canonical.removeprefix("hpo:NCBIGene:")
        got[ncbi] = members[1]
    assert set(got) == expected
    assert all(member == f"hetionet:Gene::{n}" for n, member in got.items())
    het = load_kg("hetionet", folder, progress=False)
    assert merged.num_nodes == kg.num_nodes + het.num_nodes - len(expected)
    assert merged.num_edges == kg.num_edges + het.num_edges
    fbn1 = "hpo:NCBIGene:2200"
    assert merged.canonical("hetionet:Gene::2200") == fbn1
    assert "hpo:OMIM:154700" in merged.predecessors(fbn1, "associated_gene")  # from HPO
    assert merged.successors(fbn1, "participates_in_process")  # from Hetionet


def test_report_figures_rederived_from_the_single_source_graphs(merged, kg, shared_data):
    """Cross-source 2-hop paths through each aligned gene: one edge from HPO's gene, one
    from Hetionet's, other ends different (no edge is stated by both sources here)."""
    het = load_kg("hetionet", shared_data / "hetionet-slice", progress=False)

    def ends(g, node, ns) -> dict[str, int]:
        """Edges at ``node`` per other end (merged id); parallel edges count apart."""
        counts: dict[str, int] = {}
        others = [t for _, t, _ in g.graph.out_edges(node, keys=True)]
        others += [s for s, _, _ in g.graph.in_edges(node, keys=True)]
        for other in others:
            key = merged.canonical(f"{ns}:{other}")
            counts[key] = counts.get(key, 0) + 1
        return counts

    paths = mixed = 0
    for ncbi in (c.removeprefix("hpo:NCBIGene:") for c in merged.members):
        a = ends(kg, f"NCBIGene:{ncbi}", "hpo")
        b = ends(het, f"Gene::{ncbi}", "hetionet")
        paths += sum(a.values()) * sum(b.values()) - sum(a[u] * b.get(u, 0) for u in a)
        mixed += bool(a) and bool(b)
    report = merged.report
    assert report["cross_source_2hop_paths"] == paths > 50_000
    assert report["nodes_with_edges_from_several_sources"] == mixed
    assert report["aligned"] == {"gene": {"id": len(merged.members)}}
    assert report["conflict_examples"][0]["key"] == "DOID:10652"  # HP term vs DOID disease


def test_name_matcher_precision_on_genes(kg, shared_data):
    """Names only (no ids) on HPO vs Hetionet genes, scored against NCBI ids."""
    het = load_kg("hetionet", shared_data / "hetionet-slice", progress=False)
    nodes = {f"hpo:{n.id}": n for n in kg.nodes("gene")}
    nodes.update({f"hetionet:{n.id}": n for n in het.nodes("gene")})
    pairs = name_candidates(nodes, "hpo", "hetionet")
    right = sum(
        a.removeprefix("hpo:NCBIGene:") == b.removeprefix("hetionet:Gene::") for a, b in pairs
    )
    assert len(pairs) > 4000
    assert right / len(pairs) >= 0.99


def test_kg_stats_prints_the_alignment_report(merged, shared_data, capsys):
    het = shared_data / "hetionet-slice"
    assert main(["kg", "stats", "--source", "hpo+hetionet", "--path", f"hetionet={het}"]) == 0
    out = capsys.readouterr().out
    assert f"aligned:  {len(merged.members):,} nodes" in out
    assert "conflicts: 1 (types 1)" in out and "2-hop paths cross a source boundary" in out
    args = ["kg", "stats", "--source", "hpo+hetionet", "--path", str(het), "--json"]
    assert main(args) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["alignment"] == merged.report and stats["nodes"] == merged.num_nodes


def test_alignment_options_and_file_are_part_of_the_cache_key(tmp_path, shared_data):
    from medenv.kg.cache import cache_file

    path = {"hetionet": shared_data / "hetionet-slice"}
    file = _write(tmp_path / "al.csv", "left,right\n")
    base = cache_file("hpo+hetionet", path)
    names = cache_file("hpo+hetionet", path, align="names")
    with_file = cache_file("hpo+hetionet", path, alignment=file)
    assert len({base, names, with_file}) == 3
    _write(file, "left,right\nhpo:OMIM:154700,hetionet:Disease::DOID:0050432\n")
    assert cache_file("hpo+hetionet", path, alignment=file) != with_file
    with pytest.raises(DataError, match="alignment file not found"):
        cache_file("hpo+hetionet", path, alignment=tmp_path / "nope.csv")

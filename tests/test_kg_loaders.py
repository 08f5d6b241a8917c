"""Hetionet and edge-list loaders on real data (the shared Hetionet slice) and on small
files the tests write, including malformed input; `merge_graphs`."""

from __future__ import annotations

import gzip

import pytest

from medenv.errors import DataError, MedenvError
from medenv.kg.cache import cache_file, load_kg
from medenv.kg.loaders.edgelist import load_edgelist
from medenv.kg.loaders.hetionet import METAEDGES, load_hetionet
from medenv.kg.merge import merge_graphs

KINDS = {
    "anatomy",
    "biological_process",
    "cellular_component",
    "compound",
    "disease",
    "gene",
    "molecular_function",
    "pathway",
    "pharmacologic_class",
    "symptom",
}


@pytest.fixture(scope="session")
def hetionet_dir(shared_data):
    return shared_data / "hetionet-slice"


@pytest.fixture(scope="session")
def hetionet(hetionet_dir):
    return load_kg("hetionet", hetionet_dir, progress=False)


# -- Hetionet ----------------------------------------------------------------------------
def test_metaedge_table_matches_the_data(hetionet_dir):
    rows = (hetionet_dir / "metaedges.tsv").read_text().splitlines()[1:]
    abbreviations = {r.split("\t")[1]: r.split("\t")[0] for r in rows}
    assert set(METAEDGES) == set(abbreviations) and len(METAEDGES) == 24
    for abbreviation, full in abbreviations.items():
        parts = full.replace(" > ", " - ").split(" - ")
        m = METAEDGES[abbreviation]
        assert (m.source_kind, m.verb, m.target_kind) == tuple(parts)
        assert m.relation.forward and m.relation.inverse
    names = {m.relation.name for m in METAEDGES.values()}
    assert len(names) == 24  # one relation per metaedge


def test_hetionet_slice_kinds_counts_and_no_side_effects(hetionet):
    s = hetionet.stats()
    assert (s["source"], s["version"]) == ("hetionet", "v1.0")
    assert set(s["node_types"]) == KINDS  # no side_effect nodes by default
    assert s["node_types"]["compound"] == 1552 and s["node_types"]["disease"] == 137
    assert "causes_side_effect" not in s["relations"]
    assert s["relations"]["treats"] == 755 and s["relations"]["palliates"] == 390
    assert s["edges"] == 99_676 - 5_000  # every edge but the 5,000 CcSE
    assert len(s["relations"]) == 23


def test_hetionet_real_facts(hetionet):
    metformin = hetionet.node("Compound::DB00331")
    assert (metformin.name, metformin.type) == ("Metformin", "compound")
    assert "Disease::DOID:9352" in hetionet.successors("Compound::DB00331", "treats")
    assert hetionet.node("Disease::DOID:9352").name == "type 2 diabetes mellitus"
    assert "Symptom::D005483" in hetionet.successors("Disease::DOID:9352", "presents_symptom")
    assert "Gene::3290" in hetionet.successors("Disease::DOID:9352", "associated_gene")
    assert "Anatomy::UBERON:0000977" in hetionet.successors("Disease::DOID:1324", "localizes")
    assert [n.id for n in hetionet.find("METFORMIN")] == ["Compound::DB00331"]
    assert hetionet.verbalise("treats", inverse=True) == "is treated by"


def test_hetionet_keep_side_effects(hetionet_dir):
    kg = load_kg("hetionet", hetionet_dir, keep_side_effects=True, progress=False)
    s = kg.stats()
    assert s["relations"]["causes_side_effect"] == 5000
    assert s["node_types"]["side_effect"] == 5734
    assert kg.node("Side Effect::C0151632").type == "side_effect"
    assert "Side Effect::C0151632" in kg.successors("Compound::DB00425", "causes_side_effect")


def test_hetionet_cache_hit_returns_equal_graph(hetionet, hetionet_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path))
    file = cache_file("hetionet", hetionet_dir)
    assert not file.exists()
    built = load_kg("hetionet", hetionet_dir, progress=False)
    assert file.is_file()
    cached = load_kg("hetionet", hetionet_dir)
    assert cached is not built and cached == built == hetionet
    # another option is another cache entry
    assert cache_file("hetionet", hetionet_dir, keep_side_effects=True) != file


def _write_hetionet(folder, nodes: str, edges: str, gz: bool = True):
    folder.mkdir(exist_ok=True)
    (folder / "nodes.tsv").write_text(nodes, encoding="utf-8")
    if gz:
        with gzip.open(folder / "edges.sif.gz", "wt", encoding="utf-8") as fh:
            fh.write(edges)
    else:
        (folder / "edges.sif").write_text(edges, encoding="utf-8")
    return folder


NODES = (
    "id\tname\tkind\nCompound::DB1\tdrugA\tCompound\nDisease::D1\tillness\tDisease\n"
    "Side Effect::S1\tnausea\tSide Effect\n"
)


def test_hetionet_files_plain_and_gz(tmp_path):
    edges = (
        "source\tmetaedge\ttarget\nCompound::DB1\tCtD\tDisease::D1\n"
        "Compound::DB1\tCcSE\tSide Effect::S1\n"
    )
    gz = load_hetionet(_write_hetionet(tmp_path / "gz", NODES, edges), progress=False)
    plain_dir = _write_hetionet(tmp_path / "plain", NODES, edges, gz=False)
    plain = load_hetionet([plain_dir / "nodes.tsv", plain_dir / "edges.sif"], progress=False)
    assert gz == plain
    assert [(e.source, e.target, e.relation) for e in gz.edges()] == [
        ("Compound::DB1", "Disease::D1", "treats")
    ]
    kept = load_hetionet(plain_dir, keep_side_effects=True, progress=False)
    assert kept.num_edges == 2 and kept.node("Side Effect::S1").name == "nausea"


@pytest.mark.parametrize(
    ("edges", "line", "message"),
    [
        ("source\tmetaedge\ttarget\nCompound::DB1\tXyZ\tDisease::D1\n", 2, "unknown Hetionet"),
        ("source\tmetaedge\ttarget\nCompound::DB1\tCtD\tDisease::D9\n", 2, "unknown node"),
        (
            "source\tmetaedge\ttarget\nCompound::DB1\tCtD\tDisease::D1\nbroken line\n",
            3,
            "expected 3",
        ),
        ("source\tmetaedge\ttarget\nDisease::D1\tCtD\tDisease::D1\n", 2, "expects a Compound"),
        ("src\tmeta\ttgt\n", 1, "unexpected header"),
    ],
)
def test_hetionet_bad_edges_name_file_and_line(tmp_path, edges, line, message):
    folder = _write_hetionet(tmp_path / "h", NODES, edges)
    with pytest.raises(DataError, match=message) as err:
        load_hetionet(folder, progress=False)
    assert err.value.path.endswith("edges.sif.gz") and err.value.line == line


def test_hetionet_missing_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_hetionet(tmp_path / "nope")
    (tmp_path / "nodes.tsv").write_text(NODES)
    with pytest.raises(DataError, match="no Hetionet edge file"):
        load_hetionet(tmp_path)
    with pytest.raises(DataError, match="file not found"):
        load_hetionet([tmp_path / "nodes.tsv", tmp_path / "missing.sif"])


# -- edge list ---------------------------------------------------------------------------
SIMPLE = """source,relation,target,source_type,target_type,source_name,target_name,evidence
DB00331,treats,DOID:9352,drug,disease,Metformin,type 2 diabetes mellitus,FDA label
DB00331,binds,Gene:4709,drug,gene,Metformin,NDUFB3,
DOID:9352,associated gene,Gene:3290,disease,gene,,HSD11B1,GWAS
"""

PRIMEKG = """relation,display_relation,x_index,x_id,x_type,x_name,x_source,y_index,y_id,y_type,y_name,y_source
indication,indication,1,DB00331,drug,Metformin,DrugBank,2,5044,disease,"diabetes mellitus, type 2",MONDO
drug_protein,target,1,DB00331,drug,Metformin,DrugBank,3,4709,gene/protein,NDUFB3,NCBI
drug_protein,carrier,4,DB00331,drug,Metformin,DrugBank,5,6566,gene/protein,SLC16A1,NCBI
"""


def test_edgelist_simple_csv(tmp_path):
    f = tmp_path / "triples.csv"
    f.write_text(SIMPLE, encoding="utf-8")
    kg = load_edgelist(f, progress=False)
    assert kg.source == "edgelist" and kg.version.startswith("triples.csv@")
    assert kg.num_nodes == 4 and kg.num_edges == 3
    assert kg.node("DB00331") == kg.find("metformin")[0]
    assert kg.node("DB00331").type == "drug"
    assert kg.node("DOID:9352").name == "type 2 diabetes mellitus"  # first name wins
    [edge] = kg.out_edges("DB00331", "treats")
    assert edge.target == "DOID:9352" and edge.attrs == {"evidence": "FDA label"}
    assert kg.out_edges("DB00331", "binds")[0].attrs == {}
    assert "associated_gene" in kg.relations  # names are snake-cased
    assert kg.verbalise("associated_gene") == "is linked by associated gene to"
    assert kg.verbalise("treats", inverse=True) == "is linked by treats from"


def test_edgelist_tsv_minimal_columns_and_gz(tmp_path):
    f = tmp_path / "t.tsv.gz"
    with gzip.open(f, "wt", encoding="utf-8") as fh:
        fh.write("Source\tRelation\tTarget\n\na\tr\tb\nb\tr\tc\na\tr\tb\n")
    kg = load_edgelist(f, progress=False)
    assert kg.num_edges == 2  # the duplicate row adds nothing
    assert {n.type for n in kg.nodes()} == {"entity"} and kg.node("c").name == "c"


def test_edgelist_primekg_layout(tmp_path):
    f = tmp_path / "kg.csv"
    f.write_text(PRIMEKG, encoding="utf-8")
    kg = load_edgelist(f, progress=False)
    assert kg.node("drug::DB00331").name == "Metformin"
    assert kg.node("disease::5044").name == "diabetes mellitus, type 2"  # quoted comma
    assert kg.node("gene/protein::4709").type == "gene_protein"
    assert kg.successors("drug::DB00331", "indication") == ["disease::5044"]
    assert kg.verbalise("drug_protein") == "is linked by target to"
    carrier = kg.out_edges("drug::DB00331", "drug_protein")[1]
    assert carrier.target == "gene/protein::6566"
    assert carrier.attrs == {"display_relation": "carrier"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("source,relation,target\na,r,b\na,r\n", 3, "expected 3 fields, got 2"),
        ("source,relation,target\na,r,b\n,r,b\n", 3, "empty source"),
        ("source,relation,target,source_type\na,r,b,drug\na,s,c,gene\n", 3, "has type 'gene'"),
        ('source,relation,target\na,r,b\n"a,r,b\n', 3, "expected 3 fields"),
        ("head,tail,label\na,b,r\n", 1, "unknown column layout"),
    ],
)
def test_edgelist_malformed_rows_name_file_and_line(tmp_path, text, line, message):
    f = tmp_path / "bad.csv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as err:
        load_edgelist(f, progress=False)
    assert err.value.path == str(f) and err.value.line == line
    assert f"bad.csv:{line}:" in str(err.value)


@pytest.mark.parametrize("name", ["bytes.csv", "bytes.csv.gz"])
def test_edgelist_bytes_that_are_not_utf8_name_their_line(tmp_path, name):
    # line 701, well past the first block a text-mode reader would decode at once
    rows = [b"source,relation,target\n", *(b"a%d,r,b%d\n" % (i, i) for i in range(1, 1000))]
    rows[700] = b"caf\xe9,r,b\n"
    data = b"".join(rows)
    f = tmp_path / name
    f.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(DataError, match="not valid UTF-8") as err:
        load_edgelist(f, progress=False)
    assert err.value.path == str(f) and err.value.line == 701


def test_hetionet_bytes_that_are_not_utf8_name_their_line(tmp_path):
    folder = _write_hetionet(tmp_path / "h", NODES, "")
    rows = [b"source\tmetaedge\ttarget\n", *[b"Compound::DB1\tCtD\tDisease::D1\n"] * 999]
    rows[600] = b"Compound::DB1\tCtD\tDisease::D\xff\n"
    with gzip.open(folder / "edges.sif.gz", "wb") as fh:
        fh.write(b"".join(rows))
    with pytest.raises(DataError, match="not valid UTF-8") as err:
        load_hetionet(folder, progress=False)
    assert err.value.path.endswith("edges.sif.gz") and err.value.line == 601


def test_corrupt_gz_is_a_data_error(tmp_path):
    f = tmp_path / "broken.tsv.gz"
    f.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="cannot read") as err:
        load_edgelist(f, progress=False)
    assert err.value.path == str(f) and err.value.line == 1


def test_edgelist_empty_and_missing(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_edgelist(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty file"):
        load_edgelist(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("source,relation,target\n")
    with pytest.raises(DataError, match="no edges"):
        load_edgelist(tmp_path / "header.csv")


def test_failed_edgelist_build_caches_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path / "home"))
    f = tmp_path / "e.csv"
    f.write_text("source,relation,target\na,r,b\nc,r\n")
    with pytest.raises(DataError):
        load_kg("edgelist", f)
    assert list((tmp_path / "home").rglob("*.pkl")) == []
    f.write_text("source,relation,target\na,r,b\nc,r,d\n")  # fixed: new fingerprint
    kg = load_kg("edgelist", f)
    assert kg.num_edges == 2 and len(list((tmp_path / "home").rglob("*.pkl"))) == 1


def test_corrupt_cache_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path / "home"))
    f = tmp_path / "e.tsv"
    f.write_text("source\trelation\ttarget\na\tr\tb\n")
    file = cache_file("edgelist", f)
    file.parent.mkdir(parents=True)
    file.write_bytes(b"not a pickle")
    kg = load_kg("edgelist", f)
    assert kg.num_edges == 1
    assert load_kg("edgelist", f) == kg


# -- merge -------------------------------------------------------------------------------
def test_merge_graphs_namespaces_ids(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("source,relation,target\nx,r,y\n")
    b.write_text("source,relation,target\nx,r,z\n")
    ga, gb = load_edgelist(a, progress=False), load_edgelist(b, progress=False)
    merged = merge_graphs([ga, gb], namespaces=["one", "two"])
    assert merged.source == "one+two" and merged.version == f"{ga.version}+{gb.version}"
    assert {n.id for n in merged.nodes()} == {"one:x", "one:y", "two:x", "two:z"}
    assert merged.successors("two:x", "r") == ["two:z"]
    assert [n.id for n in merged.find("x")] == ["one:x", "two:x"]
    assert ga.num_nodes == 2  # inputs untouched
    with pytest.raises(MedenvError, match="distinct"):
        merge_graphs([ga, gb])  # both are "edgelist"
    with pytest.raises(MedenvError, match="at least one"):
        merge_graphs([])


def test_merge_graphs_rejects_conflicting_relation_words(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(
        "x_id,x_type,x_name,relation,display_relation,y_id,y_type,y_name\n"
        "1,t,n,r,reads one way,2,t,m\n"
    )
    b.write_text("source,relation,target\nx,r,y\n")
    with pytest.raises(MedenvError, match="reads differently"):
        merge_graphs(
            [load_edgelist(a, progress=False), load_edgelist(b, progress=False)], ["a", "b"]
        )


def test_hetionet_header_fields_with_spaces_around_them_are_read(tmp_path):
    """A header saved with a space after a column name (``kind ``) is the same header; the
    rows' fields are read as they are."""
    nodes = NODES.replace("id\tname\tkind", "id \tname\t kind ", 1)
    assert nodes != NODES
    edges = "source \tmetaedge\ttarget \nCompound::DB1\tCtD\tDisease::D1\n"
    folder = _write_hetionet(tmp_path / "h", nodes, edges)
    kg = load_hetionet(folder, progress=False)
    plain = load_hetionet(
        _write_hetionet(tmp_path / "p", NODES, edges.replace(" \t", "\t").replace(" \n", "\n")),
        progress=False,
    )
    assert kg.num_edges == plain.num_edges == 1 and kg.num_nodes == plain.num_nodes

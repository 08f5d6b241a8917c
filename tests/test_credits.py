"""Credit lines per KG source: an edge list is credited as the user's data; only a file in
PrimeKG's layout is credited to PrimeKG."""

from __future__ import annotations

from medenv.kg.credits import credit, credits
from medenv.kg.loaders.edgelist import load_edgelist


def test_edge_list_credit_names_the_file_and_not_primekg():
    line = credit("edgelist", "my_graph.tsv@0123456789ab")
    assert "my_graph.tsv@0123456789ab" in line and "User-supplied edge list" in line
    assert "credit the data's creators" in line
    assert "PrimeKG" not in line and "Chandak" not in line


def test_each_known_source_has_its_own_line():
    lines = {s: credit(s, "v1") for s in ("hpo", "hetionet", "edgelist")}
    assert "Human Phenotype Ontology" in lines["hpo"] and "Hetionet v1" in lines["hetionet"]
    assert len(set(lines.values())) == 3


def _write(path, rows):
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_the_loaded_layout_decides_the_edge_list_credit(tmp_path):
    """A simple-layout file is the user's data; a PrimeKG-layout file is credited to
    PrimeKG (Chandak et al.), naming the file it was read from."""
    simple = _write(
        tmp_path / "mine.csv",
        ["source,relation,target", "A,linked_to,B"],
    )
    prime = _write(
        tmp_path / "kg.csv",
        [
            "x_id,x_type,x_name,relation,display_relation,y_id,y_type,y_name",
            "1,disease,Alpha,disease_phenotype_positive,phenotype present,2,effect/phenotype,Beta",
        ],
    )
    [mine] = credits(load_edgelist(simple, progress=False))
    [theirs] = credits(load_edgelist(prime, progress=False))
    assert "User-supplied edge list (mine.csv@" in mine and "PrimeKG" not in mine
    assert "PrimeKG (Chandak et al., Sci. Data 2023)" in theirs and "kg.csv@" in theirs
    assert "CC BY 4.0" in theirs

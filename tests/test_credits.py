"""Credit lines per KG source: an edge list is credited as the user's data, not as PrimeKG."""

from __future__ import annotations

from medenv.kg.credits import credit


def test_edge_list_credit_names_the_file_not_a_fixed_source():
    line = credit("edgelist", "my_graph.tsv@0123456789ab")
    assert "my_graph.tsv@0123456789ab" in line and "User-supplied edge list" in line
    assert "if it is PrimeKG's kg.csv" in line  # PrimeKG only as a conditional example
    assert line.index("credit the data's creators") < line.index("PrimeKG")


def test_each_known_source_has_its_own_line():
    lines = {s: credit(s, "v1") for s in ("hpo", "hetionet", "edgelist")}
    assert "Human Phenotype Ontology" in lines["hpo"] and "Hetionet v1" in lines["hetionet"]
    assert len(set(lines.values())) == 3

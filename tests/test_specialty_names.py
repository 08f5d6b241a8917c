"""Specialties for any graph: names, ancestors and a user mapping file
(`medenv.synth.specialty_names`, used by `SpecialtyMap` where HPO's branches are absent)."""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest

from medenv.errors import DataError
from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.synth.index import GraphIndex
from medenv.synth.specialty import SPECIALTIES, SpecialtyMap
from medenv.synth.specialty_names import KEYWORDS, name_votes, read_mapping

# one regex per specialty (built once: compiling them per name cost 12 s of CPU on 47k names)
_PATTERNS = {
    specialty: re.compile(
        r"(?<![a-z0-9])(?:(?:" + "|".join(map(re.escape, words)) + r")(?![a-z0-9])"
        r"|(?:" + "|".join(map(re.escape, stems)) + r")[a-z0-9]*)"
    )
    for specialty, (words, stems) in KEYWORDS.items()
}


def _reference_votes(text: str) -> Counter:
    """A second implementation of the name rule: one regex per specialty, counting the
    words it matches (whole word, or a word beginning with a stem)."""
    votes: Counter = Counter()
    for specialty, pattern in _PATTERNS.items():
        n = len(pattern.findall(text.casefold()))
        if n:
            votes[specialty] = n
    return votes


def test_name_votes_match_a_regex_reference_on_every_hetionet_name(shared_data):
    """All 47,031 Hetionet node names (data the keyword table was not written around)."""
    with open(shared_data / "hetionet-slice" / "nodes.tsv", encoding="utf-8") as fh:
        names = [row["name"] for row in csv.DictReader(fh, delimiter="\t")]
    assert len(names) > 40_000
    voted = 0
    for name in names:
        votes = name_votes(name)
        assert votes == _reference_votes(name), name
        voted += bool(votes)
    assert voted > 2_000  # the rule says something about a real share of names


def _graph(edges, names) -> KnowledgeGraph:
    kg = KnowledgeGraph("edgelist", "t@0", [Relation("is_a", "is a", "has subtype")])
    kg.add_relation(Relation("treats", "treats", "is treated by"))
    for node_id, (kind, name) in names.items():
        kg.add_node(Node(node_id, kind, name))
    for s, rel, t in edges:
        kg.add_edge(s, t, rel)
    return kg


NAMES = {
    "D1": ("disease", "Xyz syndrome type 2"),  # no keyword: its ancestors decide
    "D2": ("disease", "Xyz syndrome"),  # no keyword either
    "D3": ("disease", "congenital heart defect"),  # cardiology
    "D4": ("disease", "renal cell carcinoma"),  # one vote each: tie -> SPECIALTIES order
    "D5": ("disease", "Plain thing"),  # nothing anywhere
    "C1": ("drug", "aspirin"),
}


def test_nearest_ancestors_with_a_vote_decide_and_ties_follow_the_specialty_order():
    kg = _graph(
        [("D1", "is_a", "D2"), ("D2", "is_a", "D3"), ("C1", "treats", "D5")],
        NAMES,
    )
    m = SpecialtyMap(GraphIndex(kg))
    assert not m.has_branches
    assert m.of("D3") == "cardiology"
    assert m.of("D1") == "cardiology"  # two levels up
    order = {s: i for i, s in enumerate(SPECIALTIES)}
    assert order["nephrology"] < order["hematology-oncology"]
    assert m.of("D4") == "nephrology"
    assert m.of("D5") is None
    assert m.of_chain(("D5", "D5")) == "general"
    assert m.of_chain(("D5", "D3")) == "cardiology"
    assert m.of_chain(("D3", "C1")) == "pharmacology"  # a drug answer, as before


def test_a_user_mapping_by_id_or_name_overrides_names_on_any_graph(tmp_path, compact_kg):
    f = tmp_path / "map.tsv"
    f.write_text(
        "node\tspecialty\n# comment\nD3\tDermatology\nplain thing\tneurology\n\n"
        "HP:0001250\tpulmonology\n",
        encoding="utf-8",
    )
    mapping = read_mapping(f, SPECIALTIES)
    m = SpecialtyMap(GraphIndex(_graph([], NAMES)), mapping)
    assert m.of("D3") == "dermatology"  # by id, over its name's cardiology
    assert m.of("D5") == "neurology"  # by name, case-insensitive
    assert m.of("D4") == "nephrology"  # unmapped: names as before
    # on HPO (with its branches) the mapping decides the nodes it names, nothing else
    hpo_index = GraphIndex(compact_kg)
    plain, mapped = SpecialtyMap(hpo_index), SpecialtyMap(hpo_index, mapping)
    assert plain.of("HP:0001250") == "neurology"  # Seizure
    assert mapped.of("HP:0001250") == "pulmonology"
    other = "HP:0000478"
    assert plain.of(other) == mapped.of(other) == "ophthalmology"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("D1,cardiology\nD2,cardio\n", 2, "unknown specialty 'cardio'"),
        ("D1,cardiology,extra\n", 1, "expected 2 fields (node, specialty), got 3"),
    ],
)
def test_a_bad_mapping_file_names_file_and_line(tmp_path, text, line, message):
    f = tmp_path / "bad.csv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as exc:
        read_mapping(f, SPECIALTIES)
    assert f"{f}:{line}" in str(exc.value) and message in str(exc.value)


@pytest.mark.parametrize("text", ["", "\n\n", "node,specialty\n# none yet\n"])
def test_a_mapping_file_that_maps_nothing_is_refused_not_ignored(tmp_path, text):
    f = tmp_path / "empty.csv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="maps nothing"):
        read_mapping(f, SPECIALTIES)


def test_synth_cli_refuses_a_bad_mapping_file_with_one_line(tmp_path, capsys):
    from tests.cli import cli_error

    f = tmp_path / "bad.csv"
    f.write_text("D1,cardio\n", encoding="utf-8")
    out = tmp_path / "out"
    _, err = cli_error(["synth", "--out", str(out), "--specialties", str(f)], capsys)
    assert f"{f}:1" in err and "unknown specialty 'cardio'" in err
    assert not out.exists()

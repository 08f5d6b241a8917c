"""Gene full names from a user's HGNC TSV (`medenv.kg.gene_names`, ``--gene-names``).

``tests/data/hgnc_excerpt.tsv`` is a hand-written excerpt of HGNC's complete set (10 genes,
their approved names as HGNC lists them); it is read a second time here with the csv module.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from medenv.cli import main
from medenv.errors import DataError
from medenv.kg.cache import cache_file, load_kg
from medenv.kg.gene_names import read_gene_names
from medenv.reward import is_correct
from medenv.synth.make_item import answer_aliases
from medenv.synth.qa import QAItem
from medenv.synth.render import LeakCheck
from medenv.worldspec import WorldSpec

EXCERPT = Path(__file__).resolve().parent / "data" / "hgnc_excerpt.tsv"


def _csv_names(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["symbol"]: r["name"] for r in csv.DictReader(fh, delimiter="\t")}


def test_read_gene_names_matches_the_file():
    names = read_gene_names(EXCERPT)
    assert names == _csv_names(EXCERPT)
    assert len(names) == 10
    assert names["FBN1"] == "fibrillin 1"
    assert names["CFTR"] == "CF transmembrane conductance regulator"


@pytest.fixture(scope="module")
def named(shared_data):
    """The Hetionet slice (genes named by symbol) plain and with the excerpt's names (both
    through the KG cache, as the other tests load the slice)."""
    path = shared_data / "hetionet-slice"
    plain = load_kg("hetionet", path, progress=False)
    kg = load_kg("hetionet", path, progress=False, gene_names=EXCERPT)
    files = (cache_file("hetionet", path), cache_file("hetionet", path, gene_names=EXCERPT))
    again = load_kg("hetionet", path, progress=False, gene_names=EXCERPT)
    return plain, kg, files, again


def test_gene_names_become_synonyms_and_are_cached(named):
    plain, kg, (plain_file, named_file), again = named
    names = _csv_names(EXCERPT)
    changed = {}
    for node in kg.nodes():
        before = plain.node(node.id)
        if node != before:
            changed[node.name] = node
            assert node.synonyms == (*before.synonyms, names[node.name])
    assert set(changed) == set(names)  # exactly the 10 genes, every one
    assert all(n.type == "gene" for n in changed.values())
    assert [n.name for n in kg.find("Fibrillin 1")] == ["FBN1"]
    assert plain_file != named_file and plain_file.is_file() and named_file.is_file()
    assert [n for n in again.nodes()] == [n for n in kg.nodes()]  # read back from the cache


def test_leak_check_and_answer_matching_know_gene_names(named):
    _, kg, _, _ = named
    fbn1 = kg.find("FBN1")[0]
    item = QAItem(id="q", question="?", answer=fbn1.name, answer_id=fbn1.id,
                  aliases=answer_aliases(fbn1), chain=(fbn1.id,), hops=())  # fmt: skip
    assert is_correct("Fibrillin 1", item) and is_correct("fibrillin-1", item)
    assert not is_correct("fibrillin 2", item)
    check = LeakCheck([fbn1.name, *fbn1.synonyms])
    assert check("Which disorder involves fibrillin 1 and lens dislocation?") == ["fibrillin 1"]
    assert not check("Which disorder involves fibrillin 2?")


def test_world_spec_carries_gene_names(tmp_path, monkeypatch):
    monkeypatch.chdir(EXCERPT.parent)
    spec = WorldSpec.of("hpo", gene_names="hgnc_excerpt.tsv")
    assert spec.gene_names == str(EXCERPT) and not spec.is_default
    assert spec.kg_options() == {"gene_names": str(EXCERPT)}
    assert WorldSpec.of("hpo").is_default


@pytest.mark.parametrize(
    "text, line, message",
    [
        (b"hgnc_id\tsymbol\tlocus_group\nHGNC:1\tA1BG\tx\n", 1, "header has no column name"),
        (b"symbol\tname\nFBN1\tfibrillin 1\nCFTR\n", 3, "expected at least 2 tab-separated"),
        (b"symbol\tname\nFBN1\t\n", 2, "empty symbol or name"),
        (b"symbol\tname\nFBN1\tfibrillin 1\nFBN1\tfibrillin 2\n", 3, "given twice"),
        (b"symbol\tname\nFBN1\tfibrillin 1\n\xff\n", 3, "not valid UTF-8"),
    ],
)
def test_bad_gene_names_file_is_one_line_naming_file_and_line(tmp_path, text, line, message):
    bad = tmp_path / "genes.tsv"
    bad.write_bytes(text)
    with pytest.raises(DataError, match=message) as err:
        read_gene_names(bad)
    assert str(err.value).startswith(f"{bad}:{line}: ")


def test_cli_gene_names(named, shared_data, tmp_path, capsys):
    path = str(shared_data / "hetionet-slice")
    bad = tmp_path / "genes.tsv"
    bad.write_text("symbol\tname\nFBN1\n")
    args = ["kg", "stats", "--source", "hetionet", "--path", path, "--gene-names"]
    assert main([*args, str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"medenv kg: error: {bad}:2: expected at least 2 tab-separated fields, got 1"
    assert main([*args, str(tmp_path / "none.tsv")]) == 2
    assert "gene names file not found" in capsys.readouterr().err
    assert main([*args, str(EXCERPT), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "hetionet"

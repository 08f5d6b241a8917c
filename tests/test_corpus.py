"""Corpus rendering, external ingest (PubMedQA) and answerability over real KG edges."""

from __future__ import annotations

import ast
import json

import msgspec
import pytest

from medenv.corpus.answerability import answerable_share, check, hop_evidence, stating_pages
from medenv.corpus.build import build_corpus
from medenv.corpus.external import read_external
from medenv.corpus.facts import MEDICAL_CAP
from medenv.errors import DataError
from medenv.synth.qa import Hop, QAItem
from medenv.world import World, load_world
from tests.cli import cli_error
from tests.test_search import make_slice


@pytest.fixture(scope="session")
def world():
    return load_world("hpo", "tantivy", seed=0, progress=False)


@pytest.fixture(scope="session")
def small_kg(kg):
    return make_slice(kg)


def _item(*hops: Hop) -> QAItem:
    chain = (hops[0].head, *(h.tail for h in hops))
    return QAItem(
        id="t",
        question="q",
        answer="a",
        answer_id=chain[-1],
        chain=chain,
        hops=hops,
        n_hops=len(hops),
    )


# -- pages ------------------------------------------------------------------------------
def test_medical_page_states_relations_both_ways(world):
    page = world.corpus.get("https://medref.medenv.org/entity/OMIM:619340")
    assert page.id == "med:OMIM:619340" and page.collection == "medical"
    assert page.title == "Developmental and epileptic encephalopathy 96"
    assert "is associated with the gene: NSF." in page.text
    assert "is inherited in the pattern: Autosomal dominant inheritance." in page.text
    gene = world.corpus.get("med:NCBIGene:4905")
    assert (
        "NSF is a gene associated with: Developmental and epileptic encephalopathy 96." in gene.text
    )


def test_pages_write_an_before_a_vowel(world):
    from medenv.english import article

    assert [article(w) for w in ("inheritance", "Anatomy", "gene", "")] == ["an", "an", "a", "a"]
    inheritance = world.corpus.get("med:HP:0001466")  # a mode-of-inheritance term
    assert inheritance.text.startswith(
        "Contiguous gene syndrome (HP:0001466) is an inheritance entry."
    )
    assert "(NCBIGene:4905) is a gene entry." in world.corpus.get("med:NCBIGene:4905").text
    texts = [world.corpus.get(f"med:{n.id}").text for n in world.kg.nodes("inheritance")]
    assert texts and not any(" is a inheritance " in t for t in texts)


def test_hub_pages_are_capped_rarest_first(world):
    kg = world.kg
    page = world.corpus.get("med:HP:0000007")  # autosomal recessive: thousands of diseases
    n = len(kg.in_edges("HP:0000007", "has_inheritance"))
    assert f"({MEDICAL_CAP} of {n} are listed" in page.text
    listed = [
        name
        for line in page.text.splitlines()
        if line.startswith("Autosomal recessive inheritance is the inheritance pattern of:")
        for name in line.split(": ", 1)[1].rstrip(".").split("; ")
    ]
    assert len(listed) == MEDICAL_CAP
    degrees = sorted(kg.degree(e.source) for e in kg.in_edges("HP:0000007", "has_inheritance"))
    sources = {e.source for e in kg.in_edges("HP:0000007", "has_inheritance")}
    listed_ids = {n.id for name in listed for n in kg.find(name) if n.id in sources}
    assert max(kg.degree(i) for i in listed_ids) <= degrees[MEDICAL_CAP + 5]
    assert len(page.text) < 8000


def test_web_pages_are_partial_and_varied(world):
    about = world.corpus.pages_about("OMIM:619340")
    styles = {d.id.rsplit(":", 1)[1] for d in about if d.collection == "web"}
    assert {"summary", "encyclopedia"} <= styles
    medical_facts = len(world.kg.out_edges("OMIM:619340")) + len(world.kg.in_edges("OMIM:619340"))
    for d in about:
        if d.collection == "web" and d.entity_id == "OMIM:619340":
            assert d.url.startswith("https://") and ".example/" in d.url
            assert d.text.count("\n") < medical_facts
    compare = [d for d in world.corpus.web if d.id.endswith(":compare")]
    assert compare and all(d.entity_id != d.id[4:].rsplit(":", 1)[0] for d in compare[:50])


def test_corpus_is_deterministic_by_seed(small_kg):
    a, b = build_corpus(small_kg, seed=0), build_corpus(small_kg, seed=0)
    assert a.fingerprint == b.fingerprint
    assert msgspec.json.encode(a.web) == msgspec.json.encode(b.web)
    c = build_corpus(small_kg, seed=1)
    assert c.fingerprint != a.fingerprint
    assert msgspec.json.encode(c.medical) == msgspec.json.encode(a.medical)
    assert msgspec.json.encode(c.web) != msgspec.json.encode(a.web)


# -- external text ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def pubmedqa_jsonl(shared_data, tmp_path_factory):
    raw = json.loads((shared_data / "pubmedqa" / "ori_pqal.json").read_text())
    path = tmp_path_factory.mktemp("pubmedqa") / "abstracts.jsonl"
    with path.open("w") as fh:
        for pmid, rec in raw.items():
            contexts = rec["CONTEXTS"]
            if isinstance(contexts, str):
                contexts = ast.literal_eval(contexts)
            text = " ".join(contexts)
            fh.write(json.dumps({"id": pmid, "title": rec["QUESTION"], "text": text}) + "\n")
    return path


@pytest.mark.parametrize("collection", ["web", "medical"])
def test_pubmedqa_ingest_finds_a_known_abstract(small_kg, pubmedqa_jsonl, collection):
    docs = read_external(pubmedqa_jsonl, collection)
    assert len(docs) == 1000
    w = World.for_kg(small_kg, external=[(str(pubmedqa_jsonl), collection)])
    hits = w.index(collection).search("lace plant Aponogeton madagascariensis perforations", 3)
    assert hits[0].doc_id == "ext:21645374"
    assert "Aponogeton madagascariensis" in hits[0].snippet
    page = w.corpus.get(hits[0].url)
    assert page.title.startswith("Do mitochondria play a role in remodelling lace plant leaves")
    assert hits[0].url == f"https://ext.medenv.org/{collection}/21645374"


def test_external_bad_lines_name_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": 1, "title": "A", "text": "x", "url": "https://a.example/1"}\n\n{"id": 2, "title": "B"}\n'
    )
    with pytest.raises(
        DataError, match=r"bad\.jsonl:3: bad record: Object missing required field `text`"
    ):
        read_external(path)
    path.write_text(
        '{"id": 1, "title": "A", "text": "x"}\n{"id": "1", "title": "B", "text": "y"}\n'
    )
    with pytest.raises(DataError, match=r"bad\.jsonl:2: duplicate id '1' \(first on line 1\)"):
        read_external(path)
    with pytest.raises(DataError, match="file not found"):
        read_external(tmp_path / "missing.jsonl")
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": 7, "title": "T", "text": "body", "url": "https://a.example/7"}\n')
    assert read_external(good)[0].url == "https://a.example/7"


# -- answerability ----------------------------------------------------------------------
def test_hand_made_chain_of_real_edges_is_answerable(world):
    kg = world.kg
    assert kg.get("OMIM:619340") and "NCBIGene:4905" in kg.successors(
        "OMIM:619340", "associated_gene"
    )
    item = _item(
        Hop("NCBIGene:4905", "associated_gene", "OMIM:619340", inverse=True),
        Hop("OMIM:619340", "has_inheritance", "HP:0000006"),
    )
    evidence = hop_evidence(world, item)
    assert evidence is not None and len(evidence) == 2
    assert evidence[0][0] == "med:NCBIGene:4905" and "med:OMIM:619340" in evidence[0]
    assert "med:OMIM:619340" in evidence[1]
    for hop, pages in zip(item.hops, evidence, strict=True):
        for doc_id in pages:
            text = world.corpus.get(doc_id).text
            assert kg.node(hop.head).name in text and kg.node(hop.tail).name in text


def test_unstated_or_false_hops_are_unanswerable(world):
    kg = world.kg
    seizure_page = world.corpus.get("med:HP:0001250").text
    web_text = " ".join(d.text for d in world.corpus.pages_about("HP:0001250"))
    hidden = next(
        e.source
        for e in kg.in_edges("HP:0001250", "has_phenotype")
        if kg.node(e.source).name not in seizure_page
        and kg.node(e.source).name not in web_text
        and kg.degree(e.source) > 200
    )
    assert (
        hop_evidence(world, _item(Hop("HP:0001250", "has_phenotype", hidden, inverse=True))) is None
    )
    not_an_edge = _item(Hop("OMIM:619340", "associated_gene", "NCBIGene:10"))
    assert stating_pages(world, not_an_edge.hops[0]) == ()
    assert hop_evidence(world, not_an_edge) is None
    assert hop_evidence(world, _item(Hop("NOPE:1", "is_a", "HP:0001250"))) is None
    assert hop_evidence(world, QAItem(id="x", question="q", answer="a", answer_id="a")) is None
    good = _item(Hop("OMIM:619340", "associated_gene", "NCBIGene:4905"))
    report = check(world, [good, not_an_edge])
    assert report.answerable == 1 and report.failed_hops == {"associated_gene": 1}
    assert answerable_share(world, [good, not_an_edge]) == 0.5


def test_synthesized_items_are_answerable(world):
    from medenv.synth import pipeline as synth
    from medenv.synth.config import SynthConfig

    result = synth.synthesize(world.kg, SynthConfig(n=15, seed=3), progress=False)
    assert answerable_share(world, result.items) >= 0.8
    for item in result.items[:5]:
        evidence = hop_evidence(world, item)
        if evidence is not None:
            assert len(evidence) == item.n_hops and all(evidence)


def test_corpus_check_command_reports_the_answerable_share(world, tmp_path, capsys):
    from medenv.cli import main
    from medenv.synth import SynthConfig, synthesize, write_qa_set

    result = synthesize(world.kg, SynthConfig(n=12, seed=5), world=world, progress=False)
    write_qa_set(tmp_path / "qa", result.items, result.manifest)
    assert main(["corpus", "check", "--qa", str(tmp_path / "qa")]) == 0
    out = capsys.readouterr().out
    assert "12 of 12 items with a gold chain are answerable (100.0%)" in out
    assert main(["corpus", "check", "--qa", str(tmp_path / "missing")]) == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["seizure", "--top-k", "0"], "argument `top_k` must be an integer >= 1, got 0"),
        (["seizure", "--top-k", "-1"], "argument `top_k` must be an integer >= 1, got -1"),
        (["seizure", "--top-k", "21"], "argument `top_k` must be an integer <= 20, got 21"),
        (["   "], "the query is empty"),
        (["x" * 501], "medical_search: argument `query`"),
    ],
    ids=["zero", "negative", "too-many", "blank", "too-long"],
)
def test_corpus_search_bad_arguments_exit_2_before_loading_the_world(capsys, flags, message):
    """Exit 2 with one line on stderr (not exit 1 with the tool's error on stdout), checked
    before the world is loaded (`--source` names a graph that would need --path)."""
    out, err = cli_error(["corpus", "search", "--source", "edgelist", *flags], capsys)
    assert out == "" and message in err, err

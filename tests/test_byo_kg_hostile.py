"""A user's own graph under unusual input (round 18 sweep): `medenv kg stats` / `medenv synth
--source edgelist` on files a user plausibly has. A file that cannot be used is one line
(exit 2) that says what it is; one that can gives the graph it states, with nothing dropped
in silence; and the set verifier reads each graph under the semantics it declares."""

from __future__ import annotations

import gzip
import io
import zipfile

import msgspec
import pytest

from medenv.errors import DataError
from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.kg.loaders.edgelist import load_edgelist
from medenv.kg.semantics import default_properties
from medenv.qa import Hop
from tests.cli import cli_error
from tests.closure_ref import HPO_SEMANTICS, semantics_of

SIMPLE = (
    "source,relation,target,source_type,target_type,source_name,target_name\n"
    "D1,has_phenotype,P1,disease,phenotype,Alpha syndrome,Short stature\n"
    "D1,associated_gene,G1,disease,gene,Alpha syndrome,ABC1\n"
)
PRIMEKG = (
    "x_id,x_type,x_name,relation,display_relation,y_id,y_type,y_name\n"
    "D1,disease,Alpha syndrome,phenotype,has phenotype,P1,effect/phenotype,Short stature\n"
    "D1,disease,Alpha syndrome,disease_gene,associated gene,G1,gene/protein,ABC1\n"
)


def _graph(kg: KnowledgeGraph) -> tuple:
    return (
        sorted((n.id, n.type, n.name, n.synonyms) for n in kg.nodes()),
        sorted((e.source, e.relation, e.target) for e in kg.edges()),
    )


@pytest.mark.parametrize("text", [SIMPLE, PRIMEKG], ids=["simple", "primekg"])
def test_a_utf8_bom_before_the_header_is_skipped(tmp_path, text):
    # a spreadsheet's "CSV UTF-8" export: the BOM was read into the first column's name
    # ("unknown column layout ['\ufeffsource', ...]")
    plain, bom = tmp_path / "plain.csv", tmp_path / "bom.csv"
    plain.write_text(text, encoding="utf-8")
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert _graph(load_edgelist(bom, progress=False)) == _graph(load_edgelist(plain, progress=False))


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
    return buf.getvalue()


@pytest.mark.parametrize(
    "content, message",
    [
        # a NUL inside a name was kept, in the questions and the corpus
        (SIMPLE.replace("Alpha syndrome,ABC1", "Alpha\x00syndrome,ABC1").encode(),
         "data.csv:3: a NUL byte at byte 40 of the line: a binary file or a damaged one"),
        (PRIMEKG.replace("ABC1", "AB\x00C1").encode(), "data.csv:3: a NUL byte at byte 73"),
        (b"\x1c" * 500, "data.csv:1: control characters only: not CSV/TSV text"),  # was "empty"
        (b"\n" + SIMPLE.encode(), "data.csv:1: blank: the first line must be the header"),
        (b"", "data.csv: empty file: no header"),
        (SIMPLE.encode("utf-16"), "data.csv:1: is UTF-16 text: save it as UTF-8"),
        (_zip(), "data.csv: is a ZIP archive (an .xlsx workbook?): save the sheet as CSV"),
        (gzip.compress(SIMPLE.encode()), "data.csv: is gzip-compressed: give it a name ending"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "data.csv: is a PNG image, not CSV/TSV text"),
        (SIMPLE.split("\n", 1)[1].encode(), "(the first line must be the header)"),
    ],
    ids=["nul", "nul-primekg", "control", "blank-first", "empty", "utf16", "xlsx", "gzip",
         "png", "no-header"],  # fmt: skip
)
def test_a_file_that_is_not_an_edge_list_is_one_line_saying_what_it_is(
    tmp_path, capsys, content, message
):
    f = tmp_path / "data.csv"
    f.write_bytes(content)
    for command in ("kg stats", "synth"):
        argv = [*command.split(), "--source", "edgelist", "--path", str(f)]
        if command == "synth":
            argv += ["--out", str(tmp_path / "qa"), "--no-corpus", "--no-progress"]
        _, err = cli_error(argv, capsys)
        assert message in err, err
    assert not (tmp_path / "qa").exists()


@pytest.mark.parametrize("layout", ["simple", "primekg"])
def test_an_id_given_two_names_keeps_the_second_as_a_synonym(tmp_path, layout):
    # the second name was dropped without a word: a question could not be matched to it,
    # and the leak check did not know it
    if layout == "simple":
        text = SIMPLE + (
            "D1,has_phenotype,P2,disease,phenotype,Alpha disease,Tall stature\n"
            "D1,has_phenotype,P3,disease,phenotype,Alpha syndrome,\n"  # the first again, a blank
            "P3,is_a,P1,phenotype,phenotype,Mild short stature,\n"  # P3 unnamed before: named now
        )
        ids = {"D1": "D1", "P3": "P3"}
    else:
        text = PRIMEKG + (
            "D1,disease,Alpha disease,phenotype,has phenotype,P2,effect/phenotype,Tall stature\n"
            "D1,disease,Alpha syndrome,phenotype,has phenotype,P3,effect/phenotype,\n"
            "P3,effect/phenotype,Mild short stature,is_a,is a,P1,effect/phenotype,\n"
        )
        ids = {"D1": "disease::D1", "P3": "effect/phenotype::P3"}
    f = tmp_path / "kg.csv"
    f.write_text(text, encoding="utf-8")
    kg = load_edgelist(f, progress=False)
    d1, p3 = kg.node(ids["D1"]), kg.node(ids["P3"])
    assert (d1.name, d1.synonyms) == ("Alpha syndrome", ("Alpha disease",))
    assert (p3.name, p3.synonyms) == ("Mild short stature", ())
    assert kg.find("alpha disease") == [d1]
    if layout == "primekg":  # the columnar reader and the row reader give one graph
        from medenv.kg.loaders import edgelist_rows
        from medenv.kg.loaders.edgelist import read_header

        delimiter, header, found = read_header(f)
        rows = edgelist_rows.read_rows(f, kg.version, header, delimiter, found, False)
        assert kg.layout == "primekg" and _graph(rows) == _graph(kg)


def _covaries_graph() -> KnowledgeGraph:
    kg = KnowledgeGraph("hetionet", "t", [Relation("covaries", "covaries with", "covaries with")])
    for gid, name in (("G1", "SEEDA1"), ("G2", "PARTNERB2"), ("G3", "OTHERC3")):
        kg.add_node(Node(gid, "gene", name))
    kg.add_edge("G2", "G1", "covaries")  # stated one way; Hetionet declares it symmetric
    kg.add_edge("G3", "G3", "covaries")
    return kg


def test_the_set_verifier_reads_a_graph_under_the_semantics_it_declares(tmp_path):
    # bench.verify_qa_set read every graph with HPO's semantics: Hetionet's symmetric
    # relations one way, so 3 of 40 Hetionet items were reported as shortcuts they were not
    from bench.verify_qa_set import verify
    from medenv.qa import QAItem
    from medenv.synth import resolve_chain, write_qa_set

    assert semantics_of(default_properties("hpo")) == HPO_SEMANTICS
    kg = _covaries_graph()
    assert semantics_of(kg.relation_properties())["symmetric"] == {"covaries"}
    item = QAItem(
        id="q1", question='Which gene covaries with the gene "SEEDA1"?', answer="PARTNERB2",
        answer_id="G2", chain=("G1", "G2"), hops=(Hop("G1", "covaries", "G2"),), n_hops=1,
        kg_source="hetionet", kg_version="t", effective_hops=1,
    )  # fmt: skip
    assert resolve_chain(kg, item) == {"G2"}  # the pipeline's reading
    manifest = {"kg_source": "hetionet", "kg_version": "t", "config": {"max_candidates": 3},
                "counts": {"mean_effective_hops": 1.0, "search_shortcut_rate": None,
                           "by_specialty": {"general": 1}}}  # fmt: skip
    write_qa_set(tmp_path / "qa", [item], manifest)
    report = verify(tmp_path / "qa", kg=kg)
    assert report["items_checked"] == 1 and not any(report["failures"].values()), report


@pytest.mark.parametrize(
    "node, message",
    [
        (Node("D1", "disease", "Bad\ud800name"), "node 'D1': its name 'Bad\\ud800name' holds a "
         "lone surrogate, which UTF-8 cannot store"),  # fmt: skip
        (Node("D1", "disease", "Alpha", ("ok", "N\x00")), "node 'D1': its synonym 'N\\x00' holds a NUL"),
        (Node("D\ud800", "disease", "Alpha"), "node 'D\\ud800': its id 'D\\ud800' holds a lone"),
        (Node("D1", "disease", None), "node 'D1': its name must be text, got None"),
    ],
)
def test_a_graph_built_in_python_refuses_text_no_file_can_hold(node, message):
    # synthesize() on such a graph failed deep inside (msgpack) with a UnicodeEncodeError
    from medenv.errors import MedenvError

    kg = KnowledgeGraph("mine", "1")
    with pytest.raises(MedenvError) as caught:
        kg.add_node(node)
    assert str(caught.value).startswith(message)
    assert kg.num_nodes == 0


def test_a_graph_of_hubs_only_says_what_a_seed_needs():
    # "has 0 eligible seed entities" said nothing of why (every node had more links than
    # a seed may have)
    from medenv.errors import MedenvError
    from medenv.synth import SynthConfig, synthesize

    kg = KnowledgeGraph("mine", "1", [Relation("has_phenotype", "has", "is a feature of")])
    for i in range(3):
        kg.add_node(Node(f"D{i}", "disease", f"Disease {i}"))
        kg.add_node(Node(f"P{i}", "phenotype", f"Feature {i}"))
    for i in range(3):
        for j in range(3):
            kg.add_edge(f"D{i}", f"P{j}", "has_phenotype")
    with pytest.raises(MedenvError) as caught:
        synthesize(kg, SynthConfig(n=1, hub_degree=2, min_hops=1, max_hops=2))
    assert str(caught.value) == (
        "n=1 is more than this KG supports: mine has 0 eligible seed entities (one item each "
        "at most) for these settings (a seed is a node of type phenotype, disease, gene with "
        "1 to 2 links)"
    )


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_a_path_that_is_not_a_regular_file_is_named_as_such(tmp_path, capsys):
    # each read "file not found" (the README promises a FIFO, a device, a broken link and a
    # link loop are named as such, as for QA files)
    import os

    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "broken.csv").symlink_to(tmp_path / "nowhere.csv")
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    cases = {
        tmp_path / "pipe.csv": "is a named pipe (FIFO), not a regular file",
        tmp_path / "broken.csv": "is a broken symbolic link",
        tmp_path / "a.csv": "is a symbolic link loop (it never reaches a file)",
        tmp_path / "missing.csv": "file not found",
    }
    if os.path.exists("/dev/zero"):
        cases[__import__("pathlib").Path("/dev/zero")] = "is a character device"
    for path, message in cases.items():
        _, err = cli_error(["kg", "stats", "--source", "edgelist", "--path", str(path)], capsys)
        assert err.startswith(f"medenv kg: error: {path}: {message}"), err
        with pytest.raises(DataError) as caught:  # the loader itself (Python API)
            load_edgelist(path, progress=False)
        assert str(caught.value).startswith(f"{path}: {message}")


def test_a_relation_named_in_another_script_keeps_its_letters(tmp_path):
    # "associé à gène" was the relation associ_g_ne, and questions read "is linked by
    # associ g ne to"
    f = tmp_path / "kg.csv"
    f.write_text(SIMPLE.replace("associated_gene", "associé à gène") + "G1,相互作用,G1,gene,gene,,\n")
    kg = load_edgelist(f, progress=False)
    assert sorted(kg.relations) == ["associé_à_gène", "has_phenotype", "相互作用"]
    assert kg.verbalise("associé_à_gène") == "is linked by associé à gène to"
    assert kg.out_edges("D1", "associé_à_gène")[0].target == "G1"


def _clinic(long_names: dict[str, str]) -> KnowledgeGraph:
    """40 diseases with 2-6 of 80 features and one of 30 genes each (seeded), some long
    names."""
    import random

    rng = random.Random(0)
    kg = KnowledgeGraph("mine", "1", [Relation("has_phenotype", "has the feature", "is a feature of"),
                                      Relation("associated_gene", "is tied to the gene", "is the gene of")])  # fmt: skip
    syl = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "ze", "bri", "cal", "dor"]

    def add(node_id: str, kind: str, name: str) -> None:
        if node_id not in kg.graph:
            kg.add_node(Node(node_id, kind, long_names.get(node_id, name)))

    for d in range(40):
        add(f"D{d}", "disease", "".join(rng.choice(syl) for _ in range(3)).title() + " syndrome")
        for p in rng.sample(range(80), rng.randint(2, 6)):
            add(f"P{p}", "phenotype", "".join(rng.choice(syl) for _ in range(2)) + f" sign {p}")
            kg.add_edge(f"D{d}", f"P{p}", "has_phenotype")
        g = rng.randrange(30)
        add(f"G{g}", "gene", f"GENE{g}")
        kg.add_edge(f"D{d}", f"G{g}", "associated_gene")
    return kg


def test_a_question_the_env_could_not_show_whole_is_dropped_as_too_long():
    # disease names of 40,000 characters made questions of 72,257 characters: the env's
    # prompt (65,536 at most) showed them cut
    from medenv.synth import SynthConfig, synthesize
    from medenv.synth.seedwork import MAX_QUESTION_CHARS

    cfg = SynthConfig(n=12, seed=0, min_hops=2, max_hops=3)
    plain = synthesize(_clinic({}), cfg)
    long = {f"D{d}": "Verylong " * 4000 + str(d) for d in range(40)}
    result = synthesize(_clinic(long), msgspec.structs.replace(cfg, n=4))
    assert max(len(i.question) for i in plain.items) < 1000
    assert result.items and max(len(i.question) for i in result.items) <= MAX_QUESTION_CHARS
    assert result.manifest["drops"]["too_long"] > 0


def test_a_new_edge_list_reader_builds_its_graph_anew(tmp_path, monkeypatch):
    """A graph cached by an older reader of edge lists is not read back by a newer one
    (its format is in the cache key): the bump that made an id's second name a synonym
    rebuilds graphs cached before it."""
    from medenv.kg import cache

    monkeypatch.setenv("MEDENV_HOME", str(tmp_path / "home"))
    f = tmp_path / "kg.csv"
    f.write_text(SIMPLE, encoding="utf-8")
    first = cache.cache_file("edgelist", f)
    kg = cache.load_kg("edgelist", f, progress=False)
    assert first.exists()
    monkeypatch.setattr(cache, "EDGELIST_READER", cache.EDGELIST_READER + 1)
    second = cache.cache_file("edgelist", f)
    assert second != first and not second.exists()
    again = cache.load_kg("edgelist", f, progress=False)
    assert second.exists() and _graph(again) == _graph(kg)

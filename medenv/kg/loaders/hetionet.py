"""Loader for Hetionet v1.0 (Himmelstein et al. 2017): a nodes TSV and SIF edges.

Formats (each plain or ``.gz``):
- nodes: tab-separated with the header ``id  name  kind``; ids look like
  ``Compound::DB00001`` and kinds like ``Compound`` or ``Biological Process``.
- edges (SIF): tab-separated with the header ``source  metaedge  target``, where the
  metaedge is one of the 24 abbreviations in `METAEDGES` (``CtD`` = Compound-treats-Disease).

Node ids are kept as Hetionet writes them; node types are the kinds in snake case
(``compound``, ``biological_process``, ...). Each metaedge becomes one relation with a
readable name and verbalisations in both directions (see `METAEDGES`).

Identifiers (`KIND_NAMESPACE`): every node carries its id as a canonical CURIE in
``Node.xrefs`` (``Gene::2200`` -> ``NCBIGene:2200``, ``Symptom::D005483`` ->
``MESH:D005483``, ``Disease::DOID:9352`` -> ``DOID:9352``, ``Compound::DB00331`` ->
``DRUGBANK:DB00331``, ``Anatomy::UBERON:0000002`` -> ``UBERON:0000002``, GO terms ``GO``,
side effects ``UMLS``, pharmacologic classes ``NDFRT``, pathways ``PATHWAYCOMMONS`` or
``WIKIPATHWAYS``), which is what merging aligns on.

Licences: Hetionet is CC0 1.0, but its ``CcSE`` (Compound-causes-Side Effect) edges come
from SIDER 4 (CC BY-NC-SA 4.0, non-commercial). They, and the then unlinked ``Side Effect``
nodes, are dropped unless ``keep_side_effects=True``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec
from tqdm import tqdm

from medenv.errors import DataError
from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.kg.ids import curie
from medenv.kg.loaders.hpo import RELATIONS as HPO_RELATIONS
from medenv.kg.loaders.lines import read_lines

VERSION = "v1.0"
SIDE_EFFECT_METAEDGE = "CcSE"
SIDE_EFFECT_KIND = "Side Effect"


class Metaedge(msgspec.Struct, frozen=True):
    """One Hetionet edge type: ``source_kind -[relation]-> target_kind``."""

    abbreviation: str
    source_kind: str
    verb: str
    target_kind: str
    relation: Relation


def _rel(name: str, forward: str, inverse: str) -> Relation:
    return Relation(name, forward, inverse)


_ASSOCIATED_GENE = next(r for r in HPO_RELATIONS if r.name == "associated_gene")

METAEDGES: dict[str, Metaedge] = {
    m.abbreviation: m
    for m in (
        Metaedge(
            "AdG",
            "Anatomy",
            "downregulates",
            "Gene",
            _rel(
                "anatomy_downregulates_gene",
                "shows downregulation of the gene",
                "is downregulated in",
            ),
        ),
        Metaedge(
            "AeG",
            "Anatomy",
            "expresses",
            "Gene",
            _rel("expresses", "expresses the gene", "is expressed in"),
        ),
        Metaedge(
            "AuG",
            "Anatomy",
            "upregulates",
            "Gene",
            _rel("anatomy_upregulates_gene", "shows upregulation of the gene", "is upregulated in"),
        ),
        Metaedge(
            "CbG",
            "Compound",
            "binds",
            "Gene",
            _rel("binds", "binds the protein encoded by", "encodes a protein bound by"),
        ),
        Metaedge(
            "CcSE",
            "Compound",
            "causes",
            "Side Effect",
            _rel("causes_side_effect", "can cause the side effect", "is a side effect of"),
        ),
        Metaedge(
            "CdG",
            "Compound",
            "downregulates",
            "Gene",
            _rel("compound_downregulates_gene", "downregulates the gene", "is downregulated by"),
        ),
        Metaedge(
            "CpD",
            "Compound",
            "palliates",
            "Disease",
            _rel("palliates", "palliates", "is palliated by"),
        ),
        Metaedge(
            "CrC",
            "Compound",
            "resembles",
            "Compound",
            _rel(
                "compound_resembles_compound",
                "is chemically similar to",
                "is chemically similar to",
            ),
        ),
        Metaedge("CtD", "Compound", "treats", "Disease", _rel("treats", "treats", "is treated by")),
        Metaedge(
            "CuG",
            "Compound",
            "upregulates",
            "Gene",
            _rel("compound_upregulates_gene", "upregulates the gene", "is upregulated by"),
        ),
        Metaedge("DaG", "Disease", "associates", "Gene", _ASSOCIATED_GENE),
        Metaedge(
            "DdG",
            "Disease",
            "downregulates",
            "Gene",
            _rel("disease_downregulates_gene", "downregulates the gene", "is downregulated in"),
        ),
        Metaedge(
            "DlA",
            "Disease",
            "localizes",
            "Anatomy",
            _rel("localizes", "localizes to", "is a site of"),
        ),
        Metaedge(
            "DpS",
            "Disease",
            "presents",
            "Symptom",
            _rel("presents_symptom", "presents with the symptom", "is a symptom of"),
        ),
        Metaedge(
            "DrD",
            "Disease",
            "resembles",
            "Disease",
            _rel("disease_resembles_disease", "resembles", "resembles"),
        ),
        Metaedge(
            "DuG",
            "Disease",
            "upregulates",
            "Gene",
            _rel("disease_upregulates_gene", "upregulates the gene", "is upregulated in"),
        ),
        Metaedge(
            "GcG",
            "Gene",
            "covaries",
            "Gene",
            _rel("covaries", "covaries in evolution with", "covaries in evolution with"),
        ),
        Metaedge(
            "GiG",
            "Gene",
            "interacts",
            "Gene",
            _rel(
                "interacts",
                "has a product that interacts with the product of",
                "has a product that interacts with the product of",
            ),
        ),
        Metaedge(
            "GpBP",
            "Gene",
            "participates",
            "Biological Process",
            _rel(
                "participates_in_process",
                "participates in the biological process",
                "involves the gene",
            ),
        ),
        Metaedge(
            "GpCC",
            "Gene",
            "participates",
            "Cellular Component",
            _rel(
                "located_in_component",
                "has a product located in the cellular component",
                "contains the product of the gene",
            ),
        ),
        Metaedge(
            "GpMF",
            "Gene",
            "participates",
            "Molecular Function",
            _rel("has_function", "has the molecular function", "is a molecular function of"),
        ),
        Metaedge(
            "GpPW",
            "Gene",
            "participates",
            "Pathway",
            _rel("participates_in_pathway", "participates in the pathway", "involves the gene"),
        ),
        Metaedge(
            "Gr>G",
            "Gene",
            "regulates",
            "Gene",
            _rel("regulates", "regulates the gene", "is regulated by"),
        ),
        Metaedge(
            "PCiC",
            "Pharmacologic Class",
            "includes",
            "Compound",
            _rel("includes", "includes the compound", "belongs to the pharmacologic class"),
        ),
    )
}

KIND_NAMESPACE = {
    "Anatomy": "UBERON",
    "Biological Process": "GO",
    "Cellular Component": "GO",
    "Compound": "DRUGBANK",
    "Disease": "DOID",
    "Gene": "NCBIGene",
    "Molecular Function": "GO",
    "Pathway": "PATHWAYCOMMONS",  # ids PC7_...; WikiPathways ids (WP...) -> WIKIPATHWAYS
    "Pharmacologic Class": "NDFRT",
    "Side Effect": "UMLS",
    "Symptom": "MESH",
}
NODE_COLUMNS = ["id", "name", "kind"]
EDGE_COLUMNS = ["source", "metaedge", "target"]


def node_type(kind: str) -> str:
    """``Biological Process`` -> ``biological_process``."""
    return kind.strip().lower().replace(" ", "_")


def _tsv(path: Path, columns: list[str], progress: bool) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(lineno, fields)`` of a TSV file whose header is ``columns``."""
    lines = read_lines(path)
    lineno, header = next(lines, (1, ""))
    if not header:
        raise DataError(path, "empty file: no header")
    fields = [f.strip() for f in header.rstrip("\r\n").split("\t")]  # (``kind `` is kind)
    if fields != columns:
        raise DataError(path, f"unexpected header {fields}; expected {columns}", lineno)
    rows = tqdm(lines, desc=f"reading {path.name}", unit=" rows", disable=not progress, leave=False)
    for lineno, raw in rows:
        line = raw.rstrip("\r\n")
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(columns) or not all(fields):
            raise DataError(
                path,
                f"expected {len(columns)} non-empty tab-separated fields "
                f"({', '.join(columns)}), got {line[:120]!r}",
                lineno,
            )
        yield lineno, fields


def node_xrefs(node_id: str, kind: str) -> tuple[str, ...]:
    """The canonical CURIE of a Hetionet node id (empty for a kind or id it cannot read)."""
    local = node_id.partition("::")[2]
    ns = KIND_NAMESPACE.get(kind)
    if not local or ns is None:
        return ()
    if kind == "Pathway" and local.startswith("WP"):
        ns = "WIKIPATHWAYS"
    found = curie(local if local.startswith(f"{ns}:") else f"{ns}:{local}")
    return (found,) if found else ()


def find_files(path: str | Path | Sequence[str | Path]) -> tuple[Path, list[Path]]:
    """The nodes file and the SIF edge files named by ``path``.

    ``path`` is a folder (holding one ``*nodes*.tsv[.gz]`` and ``*.sif[.gz]`` files) or a
    list of files (one ``.tsv[.gz]`` nodes file, the rest SIF edge files).
    """
    if isinstance(path, (str, Path)):
        folder = Path(path)
        if not folder.exists():
            raise DataError(folder, "Hetionet folder or file not found")
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.is_file())
        else:
            files = [folder]
    else:
        files = [Path(p) for p in path]
    for f in files:
        if not f.is_file():
            raise DataError(f, "file not found")
    nodes = [f for f in files if "nodes" in f.name and f.name.endswith((".tsv", ".tsv.gz"))]
    if not nodes and not isinstance(path, (str, Path)):
        nodes = [f for f in files if f.name.endswith((".tsv", ".tsv.gz"))]
    edges = [f for f in files if f.name.endswith((".sif", ".sif.gz"))]
    where = path if isinstance(path, (str, Path)) else ", ".join(map(str, files))
    if len(nodes) != 1:
        raise DataError(
            where, f"expected one Hetionet nodes file (*nodes*.tsv[.gz]), found {len(nodes)}"
        )
    if not edges:
        raise DataError(where, "no Hetionet edge file (*.sif or *.sif.gz) found")
    return nodes[0], edges


def load_hetionet(
    path: str | Path | Sequence[str | Path],
    *,
    keep_side_effects: bool = False,
    progress: bool = True,
) -> KnowledgeGraph:
    """Build the Hetionet graph from a folder or a list of files (see `find_files`).

    ``keep_side_effects=False`` (default) drops ``CcSE`` edges and ``Side Effect`` nodes
    (SIDER 4, non-commercial licence).
    """
    nodes_file, edge_files = find_files(path)
    kg = KnowledgeGraph("hetionet", VERSION)
    for lineno, (node_id, name, kind) in _tsv(nodes_file, NODE_COLUMNS, progress):
        if kind == SIDE_EFFECT_KIND and not keep_side_effects:
            continue
        if node_id in kg:
            raise DataError(nodes_file, f"duplicate node id {node_id!r}", lineno)
        kg.add_node(Node(node_id, node_type(kind), name, xrefs=node_xrefs(node_id, kind)))
    for edge_file in edge_files:
        for lineno, (source, abbreviation, target) in _tsv(edge_file, EDGE_COLUMNS, progress):
            meta = METAEDGES.get(abbreviation)
            if meta is None:
                raise DataError(edge_file, f"unknown Hetionet metaedge {abbreviation!r}", lineno)
            if abbreviation == SIDE_EFFECT_METAEDGE and not keep_side_effects:
                continue
            for node_id, kind in ((source, meta.source_kind), (target, meta.target_kind)):
                node = kg.get(node_id)
                if node is None:
                    raise DataError(
                        edge_file, f"{abbreviation} edge names unknown node {node_id!r}", lineno
                    )
                if node.type != node_type(kind):
                    raise DataError(
                        edge_file,
                        f"{abbreviation} expects a {kind} node, {node_id!r} is a {node.type}",
                        lineno,
                    )
            if meta.relation.name not in kg.relations:
                kg.add_relation(meta.relation)
            kg.add_edge(source, target, meta.relation.name)
    return kg

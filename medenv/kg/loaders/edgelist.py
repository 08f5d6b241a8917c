"""Loader for a generic CSV/TSV file of typed triples (one edge a row), plain or ``.gz``.

The delimiter (tab, comma, semicolon or ``|``) is detected from the header line. Two
column layouts are accepted (column order free, names case-insensitive):

- simple: ``source,relation,target`` and optionally ``source_type``, ``target_type``,
  ``source_name``, ``target_name``. Node ids are the ``source``/``target`` values as
  written; a missing type is ``entity``, a missing name is the id. Every other column
  becomes an edge attribute (e.g. ``evidence``, ``weight``) when non-empty.
- PrimeKG (Chandak et al. 2023, ``kg.csv``): ``x_id,x_type,x_name,relation,
  display_relation,y_id,y_type,y_name`` (``x_index``, ``y_index``, ``x_source``,
  ``y_source`` are allowed and ignored; ``display_relation`` is optional). Node ids are
  ``<type>::<id>`` (PrimeKG ids are unique only within a type), node types are
  ``x_type``/``y_type`` in snake case (``gene/protein`` -> ``gene_protein``), and the
  relation reads as its first ``display_relation``; a row whose display relation differs
  (PrimeKG's ``drug_protein`` is ``target``, ``carrier``, ``enzyme``, ...) keeps it as the
  edge attribute ``display_relation``.

Cross-references (both layouts, optional): ``source_xrefs`` / ``target_xrefs`` (PrimeKG:
``x_xrefs`` / ``y_xrefs``) hold identifiers of the node as ``NAMESPACE:ID`` CURIEs separated
by ``;``, ``|``, ``,`` or spaces (``NCBIGene:2200;HGNC:3603``); namespaces are those of
`medenv.kg.ids` in any known spelling, an unknown one is an error naming file and line. A
node's identifiers from all its rows are kept (``Node.xrefs``), and merging aligns on them.
PrimeKG rows whose ``x_source``/``y_source`` is ``NCBI`` or ``DrugBank`` also give the node
the identifier ``NCBIGene:<id>`` / ``DRUGBANK:<id>``.

Relation names are the ``relation`` values in snake case; each reads
``<source> is linked by <words> to <target>`` and inverse
``<target> is linked by <words> from <source>``, where ``<words>`` is the display
relation (PrimeKG) or the relation name with spaces.

Errors (`DataError`, naming the file and line): missing file, empty file, a header that
is neither layout, a row with the wrong number of fields or an empty id/relation, a line
that is not valid UTF-8 (or a corrupt ``.gz``), and a node given two different types.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import re
from contextlib import closing
from pathlib import Path

from tqdm import tqdm

from medenv.errors import DataError, MedenvError
from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.kg.ids import parse_curie
from medenv.kg.loaders.lines import read_lines

SIMPLE_REQUIRED = ("source", "relation", "target")
SIMPLE_OPTIONAL = (
    "source_type",
    "target_type",
    "source_name",
    "target_name",
    "source_xrefs",
    "target_xrefs",
)
PRIMEKG_REQUIRED = ("x_id", "x_type", "x_name", "relation", "y_id", "y_type", "y_name")
PRIMEKG_OPTIONAL = (
    "display_relation",
    "x_index",
    "y_index",
    "x_source",
    "y_source",
    "x_xrefs",
    "y_xrefs",
)
PRIMEKG_SOURCE_NAMESPACE = {"NCBI": "NCBIGene", "DRUGBANK": "DRUGBANK"}
DEFAULT_TYPE = "entity"
DELIMITERS = ("\t", ",", ";", "|")


def relation_name(raw: str) -> str:
    """``off-label use`` -> ``off_label_use``."""
    return re.sub(r"[^0-9a-z]+", "_", raw.strip().lower()).strip("_")


def generic_relation(name: str, words: str) -> Relation:
    """The verbalisation used for a relation known only by its name or display words."""
    return Relation(name, f"is linked by {words} to", f"is linked by {words} from")


def detect_layout(path: Path, header: list[str]) -> str:
    """``"primekg"`` or ``"simple"``; `DataError` naming the file for anything else."""
    cols = set(header)
    if len(cols) != len(header):
        raise DataError(path, f"duplicate column names in header {header}", 1)
    if set(PRIMEKG_REQUIRED) <= cols:
        return "primekg"
    if set(SIMPLE_REQUIRED) <= cols:
        return "simple"
    raise DataError(
        path,
        f"unknown column layout {header}: expected at least {','.join(SIMPLE_REQUIRED)} "
        f"or PrimeKG's {','.join(PRIMEKG_REQUIRED)}",
        1,
    )


def file_digest(path: Path) -> str:
    """First 12 hex digits of the SHA-256 of the file's bytes (the graph's version)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def load_edgelist(path: str | Path, *, progress: bool = True) -> KnowledgeGraph:
    """Build a graph from one edge-list file (see the module docstring for the layouts).

    The graph's ``version`` is ``<file name>@<sha256 prefix>``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    kg = KnowledgeGraph("edgelist", f"{path.name}@{file_digest(path)}")
    with closing(read_lines(path)) as lines:
        _, first = next(lines, (1, ""))
        if not first.strip():
            raise DataError(path, "empty file: no header")
        delimiter = max(DELIMITERS, key=first.count)
        header = [h.strip().lower() for h in next(csv.reader([first], delimiter=delimiter))]
        layout = detect_layout(path, header)
        kg.layout = layout  # the credit line names PrimeKG only for its layout (kg.credits)
        col = {name: i for i, name in enumerate(header)}
        # read_lines raises DataError naming the exact line of an undecodable or unreadable row
        rows = csv.reader((text for _, text in lines), delimiter=delimiter)
        rows_bar = (
            tqdm(rows, desc=f"reading {path.name}", unit=" rows", leave=False) if progress else rows
        )
        extra = [c for c in header if c not in (*SIMPLE_REQUIRED, *SIMPLE_OPTIONAL)]
        builder = _Builder(kg, path)
        if layout == "primekg":
            add = _primekg_rows(builder, col)
        else:
            add = functools.partial(_simple_row, builder, col=col, extra=extra)
        try:
            for fields in rows_bar:
                line = rows.line_num + 1  # the header was read before the reader started
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                if len(fields) != len(header):
                    raise DataError(path, f"expected {len(header)} fields, got {len(fields)}", line)
                add(line, fields)
        except csv.Error as exc:
            raise DataError(path, f"malformed CSV: {exc}", rows.line_num + 1) from None
    if kg.num_edges == 0:
        raise DataError(path, "no edges: the file has a header but no rows")
    return kg


def _xrefs(path: Path, line: int, raw: str) -> tuple[str, ...]:
    """The CURIEs of one xref field; `DataError` naming file and line for a bad one."""
    out = []
    for token in re.split(r"[;|,\s]+", raw.strip()):
        if token:
            try:
                out.append(parse_curie(token))
            except MedenvError as exc:
                raise DataError(path, str(exc), line) from None
    return tuple(out)


class _Builder:
    """Adds rows to ``kg``, remembering what it has seen (node by id, relation by its raw
    name and display words) so a repeated node or relation costs a dict lookup: the
    per-row work of a multi-million-row file (issue 19)."""

    def __init__(self, kg: KnowledgeGraph, path: Path) -> None:
        self.kg, self.path = kg, path
        self.nodes: dict[str, Node] = {}
        self.relations: dict[tuple[str, str], tuple[str, str | None]] = {}

    def node(
        self, line: int, node_id: str, type_: str, name: str, typed: bool, xrefs: tuple = ()
    ) -> None:
        node = self.nodes.get(node_id)
        if node is None:
            node = Node(node_id, type_, name or node_id, xrefs=tuple(dict.fromkeys(xrefs)))
            self._put(node)
            return
        if typed and node.type != type_:
            if node.type != DEFAULT_TYPE:
                raise DataError(
                    self.path,
                    f"node {node_id!r} has type {type_!r} here but {node.type!r} before",
                    line,
                )
            # the first typed mention fixes the type
            node = Node(node_id, type_, node.name, xrefs=node.xrefs)
            self._put(node)
        if xrefs and any(x not in node.xrefs for x in xrefs):
            merged = tuple(dict.fromkeys((*node.xrefs, *xrefs)))
            self._put(Node(node.id, node.type, node.name, xrefs=merged))

    def _put(self, node: Node) -> None:
        self.kg.add_node(node)
        self.nodes[node.id] = node

    def relation(self, line: int, relation: str, words: str) -> tuple[str, str | None]:
        """``(name, display words to record on the edge or None)`` of a row's relation."""
        key = (relation, words)
        known = self.relations.get(key)
        if known is not None:
            return known
        name = relation_name(relation)
        if not name:
            raise DataError(self.path, f"empty or unusable relation {relation!r}", line)
        words = words or relation.strip()
        display = None
        if name not in self.kg.relations:
            self.kg.add_relation(generic_relation(name, words))
        elif self.kg.relations[name] != generic_relation(name, words):
            display = words  # e.g. PrimeKG drug_protein: carrier
        self.relations[key] = (name, display)
        return name, display

    def edge(
        self, line: int, source: str, target: str, relation: str, words: str, attrs: dict
    ) -> None:
        name, display = self.relation(line, relation, words)
        if display is not None:
            attrs = {**attrs, "display_relation": display}
        self.kg.add_edge_once(source, target, name, attrs)


def _simple_row(b: _Builder, line, f, *, col, extra) -> None:
    def get(name: str) -> str:
        i = col.get(name)
        return f[i].strip() if i is not None else ""

    source, target, relation = get("source"), get("target"), get("relation")
    if not source or not target or not relation:
        raise DataError(b.path, "empty source, target or relation", line)
    for node_id, side in ((source, "source"), (target, "target")):
        type_ = get(f"{side}_type")
        xrefs = _xrefs(b.path, line, get(f"{side}_xrefs"))
        b.node(line, node_id, type_ or DEFAULT_TYPE, get(f"{side}_name"), bool(type_), xrefs)
    attrs = {c: f[col[c]].strip() for c in extra if f[col[c]].strip()}
    b.edge(line, source, target, relation, relation_name(relation).replace("_", " "), attrs)


def _primekg_rows(b: _Builder, col: dict[str, int]):
    """The row adder of the PrimeKG layout, with the column indexes bound once."""

    def optional(name: str) -> int | None:
        return col.get(name)

    sides = [
        (
            col[f"{side}_id"],
            col[f"{side}_type"],
            col[f"{side}_name"],
            optional(f"{side}_xrefs"),
            optional(f"{side}_source"),
            side,
        )
        for side in ("x", "y")
    ]
    rel_i, display_i = col["relation"], optional("display_relation")
    nodes, relations, add_edge = b.nodes, b.relations, b.kg.edge_adder()

    def add(line: int, f: list[str]) -> None:
        ends = []
        for id_i, type_i, name_i, xrefs_i, source_i, side in sides:
            raw_id, type_ = f[id_i].strip(), f[type_i].strip()
            if not raw_id or not type_:
                raise DataError(b.path, f"empty {side}_id or {side}_type", line)
            node_id = f"{type_}::{raw_id}"
            kind = _type_name(type_)
            raw = f[xrefs_i] if xrefs_i is not None else ""
            xrefs = _xrefs(b.path, line, raw) if raw and not raw.isspace() else ()
            ns = (
                None
                if source_i is None
                else PRIMEKG_SOURCE_NAMESPACE.get(f[source_i].strip().upper())
            )
            if ns is not None:
                xrefs = (f"{ns}:{raw_id}", *xrefs)
            known = nodes.get(node_id)
            if known is None or known.type != kind or xrefs:  # else: nothing new
                b.node(line, node_id, kind, f[name_i].strip(), True, xrefs)
            ends.append(node_id)
        relation = f[rel_i].strip()
        if not relation:
            raise DataError(b.path, "empty relation", line)
        display = f[display_i].strip() if display_i is not None else ""
        name, words = relations.get((relation, display)) or b.relation(line, relation, display)
        add_edge(ends[0], ends[1], name, None if words is None else {"display_relation": words})

    return add


@functools.lru_cache(maxsize=1024)
def _type_name(raw: str) -> str:
    return relation_name(raw)

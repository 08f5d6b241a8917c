"""The edge-list reader row by row (csv module, one row at a time): the exact reading of
the format (`medenv.kg.loaders.edgelist`). It reads the simple layout, and any file the
columnar reader (`edgelist_columns`) does not take, so a bad row's error names its line.
"""

from __future__ import annotations

import csv
import functools
from contextlib import closing
from pathlib import Path

from tqdm import tqdm

from medenv.errors import DataError
from medenv.kg.graph import KnowledgeGraph, Node
from medenv.kg.loaders.edgelist_format import (
    DEFAULT_TYPE,
    PRIMEKG_SOURCE_NAMESPACE,
    SIMPLE_OPTIONAL,
    SIMPLE_REQUIRED,
    generic_relation,
    relation_name,
    type_name,
    xrefs_of,
)
from medenv.kg.loaders.lines import read_lines


def read_rows(
    path: Path, version: str, header: list[str], delimiter: str, layout: str, progress: bool
) -> KnowledgeGraph:
    """The graph of ``path`` read row by row (``header`` and ``delimiter`` as
    `medenv.kg.loaders.edgelist.read_header` found them); `DataError` naming file and line
    for the first bad row."""
    kg = KnowledgeGraph("edgelist", version)
    kg.layout = layout  # the credit line names PrimeKG only for its layout (kg.credits)
    with closing(read_lines(path)) as lines:
        next(lines, None)  # the header
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


class _Builder:
    """Adds rows to ``kg``, remembering what it has seen (node by id, relation by its raw
    name and display words) so a repeated node or relation costs a dict lookup: the
    per-row work of a multi-million-row file (issue 19)."""

    def __init__(self, kg: KnowledgeGraph, path: Path) -> None:
        self.kg, self.path = kg, path
        self.nodes: dict[str, Node] = {}
        self.unnamed: set[str] = set()  # nodes named by their id so far (no name given yet)
        self.relations: dict[tuple[str, str], tuple[str, str | None]] = {}

    def node(
        self, line: int, node_id: str, type_: str, name: str, typed: bool, xrefs: tuple = ()
    ) -> None:
        node = self.nodes.get(node_id)
        if node is None:
            node = Node(node_id, type_, name or node_id, xrefs=tuple(dict.fromkeys(xrefs)))
            self._put(node)
            if not name:
                self.unnamed.add(node_id)
            return
        if name and (node_id in self.unnamed or (name != node.name and name not in node.synonyms)):
            node = self.rename(node, name)
        if typed and node.type != type_:
            if node.type != DEFAULT_TYPE:
                raise DataError(
                    self.path,
                    f"node {node_id!r} has type {type_!r} here but {node.type!r} before",
                    line,
                )
            # the first typed mention fixes the type
            node = Node(node_id, type_, node.name, node.synonyms, xrefs=node.xrefs)
            self._put(node)
        if xrefs and any(x not in node.xrefs for x in xrefs):
            merged = tuple(dict.fromkeys((*node.xrefs, *xrefs)))
            self._put(Node(node.id, node.type, node.name, node.synonyms, xrefs=merged))

    def rename(self, node: Node, name: str) -> Node:
        """``node`` given another name in a later row: its first name given stays its name,
        later different ones become synonyms in order (the second name of an id was
        dropped without a word); a node named by its id so far takes the name."""
        if node.id in self.unnamed:
            self.unnamed.discard(node.id)
            node = Node(node.id, node.type, name, node.synonyms, node.definition, node.xrefs)
        else:
            synonyms = (*node.synonyms, name)
            node = Node(node.id, node.type, node.name, synonyms, node.definition, node.xrefs)
        self._put(node)
        return node

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
        xrefs = xrefs_of(b.path, line, get(f"{side}_xrefs"))
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
            kind = type_name(type_)
            raw = f[xrefs_i] if xrefs_i is not None else ""
            xrefs = xrefs_of(b.path, line, raw) if raw and not raw.isspace() else ()
            ns = (
                None
                if source_i is None
                else PRIMEKG_SOURCE_NAMESPACE.get(f[source_i].strip().upper())
            )
            if ns is not None:
                xrefs = (f"{ns}:{raw_id}", *xrefs)
            known, name = nodes.get(node_id), f[name_i].strip()
            if (
                known is None
                or known.type != kind
                or xrefs
                or (name and name != known.name and name not in known.synonyms)
                or (name and node_id in b.unnamed)
            ):  # else: nothing new
                b.node(line, node_id, kind, name, True, xrefs)
            ends.append(node_id)
        relation = f[rel_i].strip()
        if not relation:
            raise DataError(b.path, "empty relation", line)
        display = f[display_i].strip() if display_i is not None else ""
        name, words = relations.get((relation, display)) or b.relation(line, relation, display)
        add_edge(ends[0], ends[1], name, None if words is None else {"display_relation": words})

    return add

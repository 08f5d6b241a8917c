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

A node's name is the first name a row gives it; a different name in a later row becomes
its synonym (in order). A UTF-8 byte-order mark is skipped.

Errors (`DataError`, naming the file and line): missing file (or a folder, FIFO, device,
broken link), empty file, a blank first line, a header that is neither layout, a row with
the wrong number of fields or an empty id/relation, a line that is not valid UTF-8 or holds
a NUL byte (or a corrupt ``.gz``), UTF-16 text, a ZIP/gzip/PDF/PNG file under a CSV name
(`check_not_archive`), and a node given two different types.

Two readers, one graph: PrimeKG-layout files are read by columns (`edgelist_columns`:
pyarrow's CSV reader, dictionary-encoded node ids, numpy arrays straight into the compact
form, no per-edge Python object); the simple layout, and any file the columnar reader does
not take (a bad row, a quoting or whitespace case it leaves alone), are read row by row
(`edgelist_rows`), which names the file and line of a bad row. Both give the same graph
(same nodes, edges, attributes and orders; tested).
"""

from __future__ import annotations

import csv
import hashlib
from contextlib import closing
from pathlib import Path

from medenv.errors import DataError
from medenv.jsonl import check_input_file
from medenv.kg.graph import KnowledgeGraph
from medenv.kg.loaders import edgelist_columns, edgelist_rows
from medenv.kg.loaders.edgelist_format import (  # noqa: F401  (the format's names, re-exported)
    DEFAULT_TYPE,
    DELIMITERS,
    PRIMEKG_OPTIONAL,
    PRIMEKG_REQUIRED,
    SIMPLE_OPTIONAL,
    SIMPLE_REQUIRED,
    detect_layout,
    generic_relation,
    relation_name,
)
from medenv.kg.loaders.lines import read_lines


def file_digest(path: Path) -> str:
    """First 12 hex digits of the SHA-256 of the file's bytes (the graph's version)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def read_header(path: Path) -> tuple[str, list[str], str]:
    """``(delimiter, column names, layout)`` from the first line; `DataError` naming the
    file for an empty file or an unknown layout."""
    check_not_archive(path)
    with closing(read_lines(path)) as lines:
        _, first = next(lines, (0, None))
    if first is None:
        raise DataError(path, "empty file: no header")
    if not first.strip(" \t\r\n"):
        raise DataError(
            path, "blank: the first line must be the header (source,relation,target...)", 1
        )
    if not first.strip():  # only characters str.strip drops, e.g. U+001C: not a header
        raise DataError(path, "control characters only: not CSV/TSV text", 1)
    delimiter = max(DELIMITERS, key=first.count)
    header = [h.strip().lower() for h in next(csv.reader([first], delimiter=delimiter))]
    return delimiter, header, detect_layout(path, header)


ARCHIVES = {
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook?): save the sheet as CSV",
    b"\x1f\x8b": "gzip-compressed: give it a name ending in .gz",
    b"%PDF": "a PDF document, not CSV/TSV text",
    b"\x89PNG": "a PNG image, not CSV/TSV text",
}


def check_not_archive(path: Path) -> None:
    """`DataError` naming the file when its first bytes are those of a ZIP (a workbook),
    gzip (under a name without ``.gz``) or PDF file, which the line reader would report as
    a NUL or bad UTF-8 byte on line 1."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if path.name.endswith(".gz"):
        return
    for magic, what in ARCHIVES.items():
        if head.startswith(magic):
            raise DataError(path, f"is {what}")


def load_edgelist(path: str | Path, *, progress: bool = True) -> KnowledgeGraph:
    """Build a graph from one edge-list file (see the module docstring for the layouts).

    The graph's ``version`` is ``<file name>@<sha256 prefix>``.
    """
    path = check_input_file(path)  # missing, a folder, a FIFO, a device, a link loop
    version = f"{path.name}@{file_digest(path)}"
    delimiter, header, layout = read_header(path)
    if layout == "primekg":
        kg = edgelist_columns.read_primekg(path, version, header, delimiter, progress=progress)
        if kg is not None:
            return kg
    return edgelist_rows.read_rows(path, version, header, delimiter, layout, progress)

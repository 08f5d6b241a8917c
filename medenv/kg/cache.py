"""Load a knowledge graph by source name, through an on-disk cache.

`load_kg(source, path)` builds the graph with the source's loader the first time and
stores it under ``$MEDENV_HOME/kg/`` keyed by source, version and input files; later
calls unpickle it (well under a second for HPO). A failed build caches nothing.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
from pathlib import Path

from medenv.errors import MedenvError
from medenv.kg.graph import KnowledgeGraph
from medenv.paths import medenv_home

SOURCES = ("hpo",)


def _fingerprint(source: str, path: str | Path | None) -> str:
    from medenv.kg.loaders import hpo

    if source == "hpo":
        folder = Path(path) if path else hpo.data_dir()
        files = [folder / n for n in ("hp.obo", "phenotype.hpoa", "genes_to_phenotype.txt")]
        version = hpo.hpo_version(folder)
    else:
        raise MedenvError(f"unknown KG source {source!r}; choose one of {', '.join(SOURCES)}")
    h = hashlib.sha256(f"{source}|{version}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return f"{source}-{version}-{h.hexdigest()[:12]}"


def _build(source: str, path: str | Path | None) -> KnowledgeGraph:
    from medenv.kg.loaders.hpo import load_hpo

    return load_hpo(path)


def load_kg(
    source: str = "hpo", path: str | Path | None = None, *, cache: bool = True
) -> KnowledgeGraph:
    """The knowledge graph of ``source`` (read from ``path`` when given), cached on disk."""
    if not cache:
        return _build(source, path)
    file = medenv_home() / "kg" / f"{_fingerprint(source, path)}.pkl"
    if file.is_file():
        gc.disable()
        try:
            with file.open("rb") as fh:
                return pickle.load(fh)
        finally:
            gc.enable()
    kg = _build(source, path)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as fh:
        pickle.dump(kg, fh, protocol=5)
    os.replace(tmp, file)
    return kg

"""A default world's header, stored so a fresh process can start without loading the world.

`load_world` writes the header of every default world it builds to
``$MEDENV_HOME/world/<key>.msgpack`` and, when the file exists, returns a lazy world that
answers from it (`medenv.world.World.lazy`). ``key`` (`memo_key`) hashes what the world is
made of: the KG cache file's name (which itself hashes the source, loader options, cache
format and every input file's path, size and modification time), the corpus and index
format versions, the search backend and its library version, and the corpus seed. A header
that cannot be read is ignored (the world is then loaded and the header rewritten).

The header holds the KG's source, version and node ids (enough to check a question set
before any tool call: `KGSummary`), the world fingerprint and the index hash that
``run_started`` records.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import msgspec

from medenv.paths import medenv_home

HEADER_FORMAT = 1
_LIBRARY = {"tantivy": "tantivy", "whoosh": "whoosh-reloaded"}


class KGSummary:
    """A graph's ``source``, ``version`` and node ids: ``node_id in summary``."""

    def __init__(self, source: str, version: str, ids: frozenset[str]) -> None:
        self.source, self.version, self._ids = source, version, ids

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


class WorldHeader(msgspec.Struct, frozen=True):
    """What a world is, without its parts."""

    format: int
    kg_source: str
    kg_version: str
    node_ids: list[str]
    backend: str
    seed: int
    fingerprint: str
    index_hash: str

    def kg_summary(self) -> KGSummary:
        return KGSummary(self.kg_source, self.kg_version, frozenset(self.node_ids))


def memo_dir() -> Path:
    return medenv_home() / "world"


def memo_key(kg_cache_file: Path, backend: str, seed: int) -> str:
    """The header file stem of the default world over ``kg_cache_file`` (see the module)."""
    from medenv.corpus.build import CORPUS_VERSION
    from medenv.corpus.index import INDEX_VERSION

    dist = _LIBRARY.get(backend, "")
    try:
        library = f"{dist}=={version(dist)}" if dist else backend
    except PackageNotFoundError:
        library = dist
    recipe = (
        f"{HEADER_FORMAT}|{kg_cache_file.name}|corpus{CORPUS_VERSION}|index{INDEX_VERSION}|"
        f"{backend}|{library}|s{seed}"
    )
    return f"{kg_cache_file.stem}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def header_of(world) -> WorldHeader:
    """The header of a loaded `medenv.world.World`."""
    kg = world.kg
    return WorldHeader(
        format=HEADER_FORMAT,
        kg_source=str(kg.source),
        kg_version=str(kg.version),
        node_ids=sorted(n.id for n in kg.nodes()),
        backend=world.backend,
        seed=world.seed,
        fingerprint=world.fingerprint,
        index_hash=world.index_hash,
    )


def read_header(key: str) -> WorldHeader | None:
    """The stored header of ``key``; None when absent, unreadable or of another format."""
    try:
        header = msgspec.msgpack.decode(
            (memo_dir() / f"{key}.msgpack").read_bytes(), type=WorldHeader
        )
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    return header if header.format == HEADER_FORMAT else None


def write_header(key: str, header: WorldHeader) -> None:
    """Store ``header`` atomically (temporary file + rename); a failure to write is ignored
    (the next start loads the world again)."""
    file = memo_dir() / f"{key}.msgpack"
    tmp = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(msgspec.msgpack.encode(header))
        os.replace(tmp, file)
    except OSError:
        pass
    finally:
        tmp.unlink(missing_ok=True)

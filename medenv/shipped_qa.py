"""The default QA set as a released artefact: shipped in the package, used when it matches.

Synthesizing the default set (`medenv.questions.default_qa_set`) costs over a minute of
CPU; the set it gives is fixed by its key (the folder name: KG source and version,
`SYNTH_VERSION`, n, seed and the world's fingerprint). So the package ships that set as
``medenv/data/default_qa/<source>.jsonl.gz`` (its ``qa.jsonl``, gzip without a timestamp)
beside ``<source>.json`` (``{"name": key, "manifest": the set's manifest}``).

`install_shipped(source, name, config, folder)` writes the shipped set into ``folder`` (the
same ``qa.jsonl``, ``qa.parquet`` and ``manifest.json`` `write_qa_set` writes for
synthesized items) when the shipped key equals ``name``, its manifest's synthesis settings
equal ``config`` (so a change of the default settings, e.g. the obfuscation level, is never
served the old set) and the ``qa.jsonl`` hashes to the manifest's hash; otherwise it writes
nothing and returns False (the caller synthesizes).
`write_shipped` replaces the shipped files (`medenv.questions.ship_default_set`, ``make
default-set``). A test re-synthesizes a slice and compares it byte for byte, so the shipped
file cannot drift from the code.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import msgspec

from medenv.synth.config import SynthConfig
from medenv.synth.io import write_qa_set
from medenv.synth.qa import QAItem

SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "default_qa"


def shipped_header(source: str, where: Path = SHIPPED_DIR) -> dict[str, Any] | None:
    """``{"name", "manifest"}`` of the set shipped for ``source``, or None (none shipped,
    or an unreadable header)."""
    try:
        header = json.loads((where / f"{source}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(header, dict) and isinstance(header.get("manifest"), dict)
    return header if ok and isinstance(header.get("name"), str) else None


def shipped_jsonl(source: str, where: Path = SHIPPED_DIR) -> bytes:
    """The shipped ``qa.jsonl`` bytes of ``source``."""
    return gzip.decompress((where / f"{source}.jsonl.gz").read_bytes())


def install_shipped(
    source: str, name: str, config: SynthConfig, folder: Path, where: Path = SHIPPED_DIR
) -> bool:
    """Write the shipped set of ``source`` into ``folder`` if its key is ``name`` and it was
    synthesized with ``config`` (see the module docstring); True when written."""
    header = shipped_header(source, where)
    if header is None or header["name"] != name:
        return False
    if header["manifest"].get("config") != msgspec.json.decode(msgspec.json.encode(config)):
        return False
    try:
        data = shipped_jsonl(source, where)
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    if hashlib.sha256(data).hexdigest() != header["manifest"].get("files", {}).get("qa.jsonl"):
        return False
    decoder = msgspec.json.Decoder(QAItem)
    items = [decoder.decode(line) for line in data.splitlines() if line]
    manifest = {k: v for k, v in header["manifest"].items() if k != "files"}
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    write_qa_set(tmp, items, manifest)
    if (tmp / "qa.jsonl").read_bytes() != data:  # not what synthesis wrote: do not use it
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    try:
        os.replace(tmp, folder)
    except OSError:  # another process put it there first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def write_shipped(source: str, name: str, folder: Path, where: Path = SHIPPED_DIR) -> Path:
    """Ship the set folder ``folder`` (as `write_qa_set` wrote it), named ``name``, as
    ``source``'s default set."""
    data = (folder / "qa.jsonl").read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    where.mkdir(parents=True, exist_ok=True)
    (where / f"{source}.jsonl.gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    header = {"name": name, "manifest": manifest}
    (where / f"{source}.json").write_text(json.dumps(header, indent=1, sort_keys=True) + "\n")
    return where / f"{source}.jsonl.gz"

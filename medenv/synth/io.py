"""Reading and writing QA sets.

A set is a folder with ``qa.jsonl`` (one `QAItem` per line, msgspec JSON), ``qa.parquet``
(the same rows, for DuckDB/pandas/datasets) and ``manifest.json`` (seed, KG source and
version, config, counts, drops by reason, elapsed time). Each file is written whole or not
at all (`medenv.paths.writing`: a temporary beside it, renamed), and the item files depend
only on the items (same items -> same bytes).

`read_qa_set` also accepts a bare ``qa.jsonl`` or an external JSONL of
``{"question", "answer", "aliases"?, "id"?}`` objects (no chain; ``optimal_calls`` default).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from medenv.errors import DataError
from medenv.jsonl import read_jsonl
from medenv.paths import check_not_yours, write_file, writing
from medenv.synth.qa import QAItem

_ENCODER = msgspec.json.Encoder(order="deterministic")


class ExternalItem(msgspec.Struct, forbid_unknown_fields=False):
    question: str
    answer: str
    aliases: tuple[str, ...] = ()
    id: str | None = None


def _parquet_table(items: list[QAItem]):
    rows = msgspec.to_builtins(items)
    hop = pa.struct(
        [
            ("head", pa.string()),
            ("relation", pa.string()),
            ("tail", pa.string()),
            ("inverse", pa.bool_()),
        ]
    )
    constraint = pa.struct(
        [
            ("node", pa.int32()),
            ("relation", pa.string()),
            ("entity", pa.string()),
            ("inverse", pa.bool_()),
        ]
    )
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("question", pa.string()),
            ("answer", pa.string()),
            ("answer_id", pa.string()),
            ("aliases", pa.list_(pa.string())),
            ("chain", pa.list_(pa.string())),
            ("hops", pa.list_(hop)),
            ("n_hops", pa.int32()),
            ("specialty", pa.string()),
            ("difficulty", pa.float64()),
            ("rarity", pa.float64()),
            ("optimal_calls", pa.int32()),
            ("evidence", pa.list_(pa.list_(pa.string()))),
            ("split", pa.string()),
            ("kg_source", pa.string()),
            ("kg_version", pa.string()),
            ("constraints", pa.list_(constraint)),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


SET_FILES = ("qa.jsonl", "qa.parquet", "manifest.json")


def check_set_folder(out_dir: str | Path) -> None:
    """Raise `MedenvError` when ``out_dir`` holds a file of a QA set (`SET_FILES`) that no
    `write_qa_set` wrote there (no manifest of one beside it naming ``qa.jsonl``: your own
    ``qa.jsonl``, which a synthesis would replace; `medenv.paths.check_not_yours`); a set
    written before is replaced as a whole."""
    check_not_yours(out_dir, SET_FILES, "qa.jsonl", f"--out {out_dir}", "medenv synth")


def write_qa_set(out_dir: str | Path, items: list[QAItem], manifest: dict[str, Any]) -> Path:
    """Write ``qa.jsonl``, ``qa.parquet`` and ``manifest.json`` into ``out_dir``; return it
    (refused when ``out_dir`` holds set files no synthesis wrote: `check_set_folder`)."""
    out = Path(out_dir)
    check_set_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "qa.jsonl"
    with writing(jsonl) as tmp, tmp.open("wb") as fh:
        for item in items:
            fh.write(_ENCODER.encode(item) + b"\n")
    with writing(out / "qa.parquet") as tmp:
        pq.write_table(_parquet_table(items), tmp, compression="zstd")
    full = dict(manifest)
    full["files"] = {
        "qa.jsonl": hashlib.sha256(jsonl.read_bytes()).hexdigest(),
        "items": len(items),
    }
    write_file(out / "manifest.json", json.dumps(full, indent=2, sort_keys=True) + "\n")
    return out


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a set folder."""
    file = Path(path) / "manifest.json" if Path(path).is_dir() else Path(path)
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(file, "file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(file, f"not valid JSON: {exc.msg}", exc.lineno) from None


def _external(obj: ExternalItem, path: Path, line: int) -> QAItem:
    if not obj.question.strip():
        raise DataError(path, "empty question", line)
    if not obj.answer.strip():
        raise DataError(path, "empty answer", line)
    digest = hashlib.sha256(f"{obj.question}\n{obj.answer}".encode()).hexdigest()
    return QAItem(
        id=obj.id or f"x{digest[:12]}",
        question=obj.question,
        answer=obj.answer,
        answer_id="",
        aliases=tuple(obj.aliases),
        kg_source="external",
    )


def _is_parquet(file: Path) -> bool:
    if not file.is_file():
        return False
    if file.suffix == ".parquet":
        return True
    try:
        with file.open("rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError:
        return False


def read_qa_set(path: str | Path) -> list[QAItem]:
    """The items of a set folder, a ``qa.jsonl``, or an external JSONL (module docstring).

    Raises `DataError` naming the file and line of the first malformed line (a blank
    ``id``, ``question`` or ``answer`` among them), an empty file, or a repeated id.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "qa.jsonl"
    if _is_parquet(file):
        raise DataError(
            file,
            "a Parquet file; QA sets are read from JSON Lines: pass the set folder or its "
            "qa.jsonl (qa.parquet holds the same rows)",
        )
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    for line_no, obj in read_jsonl(file):
        try:
            if "answer_id" in obj or "chain" in obj:
                item = msgspec.convert(obj, QAItem)
            else:
                item = _external(msgspec.convert(obj, ExternalItem), file, line_no)
        except msgspec.ValidationError as exc:
            raise DataError(file, f"bad item: {exc}", line_no) from None
        for name in ("id", "question", "answer"):  # blank: a prompt with no question, ...
            if not getattr(item, name).strip():
                raise DataError(file, f"bad item: `{name}` is empty", line_no)
        if item.id in seen:
            raise DataError(file, f"id {item.id!r} repeats line {seen[item.id]}", line_no)
        seen[item.id] = line_no
        items.append(item)
    if not items:
        raise DataError(file, "no items")
    return items

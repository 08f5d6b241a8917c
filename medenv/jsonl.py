"""Reading JSON Lines files with errors that name the file and line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec

from medenv.errors import DataError


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line of ``path``.

    Raises `DataError` (file and line) for a missing file, invalid JSON, or a line that is
    not a JSON object.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(path, "is a folder, not a file")
    if not path.is_file():
        raise DataError(path, "file not found")
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                obj = msgspec.json.decode(raw)
            except msgspec.DecodeError as exc:
                raise DataError(path, f"not valid JSON: {exc}", line_no) from None
            if not isinstance(obj, dict):
                raise DataError(path, "expected a JSON object", line_no)
            yield line_no, obj

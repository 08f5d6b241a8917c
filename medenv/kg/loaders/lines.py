"""Line-by-line reading of the loaders' text files, with errors that name file and line.

Text-mode files decode in blocks of several kilobytes, so a bad byte surfaces as a bare
`UnicodeDecodeError` while an earlier line is being read (or during the header). Here each
line is read as bytes and decoded on its own, so the error names the exact line.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from medenv.errors import DataError


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(lineno, line)`` of a UTF-8 text file, plain or ``.gz`` (by name), counted from 1;
    each line keeps its ending (``\\n`` or ``\\r\\n``; none on an unterminated last line).

    Raises `DataError` naming the file when it is missing, and the file and line when a
    line is not valid UTF-8 or the file cannot be read there (e.g. a corrupt ``.gz``).
    """
    if not path.is_file():
        raise DataError(path, "file not found")
    lineno = 0
    try:
        with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(
                        path,
                        f"not valid UTF-8 ({exc.reason} at byte {exc.start} of the line)",
                        lineno,
                    ) from None
                yield lineno, text
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(path, f"cannot read: {exc}", lineno + 1) from None

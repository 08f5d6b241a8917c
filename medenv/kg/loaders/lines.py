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
from medenv.jsonl import check_input_file

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(lineno, line)`` of a UTF-8 text file, plain or ``.gz`` (by name), counted from 1;
    each line keeps its ending (``\\n`` or ``\\r\\n``; none on an unterminated last line).
    A UTF-8 byte-order mark before the first line is skipped (a spreadsheet's "CSV UTF-8"
    export starts with one: it was read as part of the first column's name).

    Raises `DataError` naming the file when it is missing, and the file and line when a
    line is not valid UTF-8, holds a NUL byte (a binary or damaged file: a NUL was kept
    inside a name), or the file cannot be read there (e.g. a corrupt ``.gz``); a UTF-16
    file is named as such.
    """
    check_input_file(path)  # missing, a folder, a FIFO (it would block), a device, a link loop
    lineno = 0
    try:
        with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if lineno == 1:
                    if raw.startswith(UTF16_BOMS):
                        raise DataError(path, "is UTF-16 text: save it as UTF-8", 1)
                    raw = raw.removeprefix(UTF8_BOM)
                if b"\x00" in raw:
                    raise DataError(
                        path,
                        f"a NUL byte at byte {raw.index(0)} of the line: a binary file or a "
                        "damaged one, not text",
                        lineno,
                    )
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

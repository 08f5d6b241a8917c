"""Reading JSON Lines files with errors that name the file and line."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import msgspec

from medenv.errors import DataError

_KINDS = (
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "is a character device (like /dev/zero), not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
)


def check_input_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path when it is a regular file (or a link to one) that can be read;
    otherwise `DataError` saying what it is: missing, a folder, a symlink loop, a named pipe,
    a device, a socket, or unreadable. Never opens the file (a FIFO would block)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(path, "is a symbolic link loop (it never reaches a file)") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            if path.is_symlink():
                raise DataError(path, "is a broken symbolic link") from None
            raise DataError(path, "file not found") from None
        raise DataError(path, f"cannot read it: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise DataError(path, "is a folder, not a file")
    for test, message in _KINDS:
        if test(mode):
            raise DataError(path, message)
    if not os.access(path, os.R_OK):
        raise DataError(path, "cannot read it: permission denied")
    return path


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line of ``path``.

    A UTF-8 byte order mark at the start is skipped. Raises `DataError` (file and line) for
    a path that is not a readable regular file (`check_input_file`), invalid JSON, JSON
    nested too deeply, or a line that is not a JSON object.
    """
    path = check_input_file(path)
    try:
        with path.open("rb") as fh:
            for line_no, raw in enumerate(fh, 1):
                if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                try:
                    obj = msgspec.json.decode(raw)
                except msgspec.DecodeError as exc:
                    raise DataError(path, f"not valid JSON: {exc}", line_no) from None
                except RecursionError:
                    raise DataError(path, "JSON nested too deeply to read", line_no) from None
                if not isinstance(obj, dict):
                    raise DataError(path, "expected a JSON object", line_no)
                yield line_no, obj
    except OSError as exc:
        raise DataError(path, f"cannot read it: {exc.strerror}") from None

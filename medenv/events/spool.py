"""The append-only spool: events written to disk at once, before DuckDB ingests them.

One line per event, ``[run_id, episode_id, seq, ts_us, type, payload]`` as JSON (payload
embedded raw; JSON strings never contain a raw newline, so a line is one event). A torn
last line (the process died inside ``write``) is ignored: its step never returned.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from medenv.errors import DataError

SpoolRow = tuple[str, str | None, int, int, str, msgspec.Raw]
_ROW = msgspec.json.Decoder(tuple[str, str | None, int, int, str, msgspec.Raw])
_ENC = msgspec.json.Encoder()


def encode_line(
    run_id: str, episode_id: str | None, seq: int, ts_us: int, type_: str, payload: bytes
) -> bytes:
    return _ENC.encode((run_id, episode_id, seq, ts_us, type_, msgspec.Raw(payload))) + b"\n"


class Spool:
    """An open spool file. ``write`` hands bytes to the OS (survives ``kill -9``);
    ``sync=True`` also fsyncs (survives power loss)."""

    def __init__(self, path: Path, sync: bool = False) -> None:
        self.path = path
        self.sync = sync
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        if self.sync:
            os.fsync(self.fd)

    def clear(self) -> None:
        """Empty the spool (after its events are safely in DuckDB)."""
        os.ftruncate(self.fd, 0)
        if self.sync:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def read_spool(path: Path) -> list[SpoolRow]:
    """Every complete event line in ``path`` ([] when missing). Bad lines raise DataError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    rows: list[SpoolRow] = []
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # tail: b"" or a torn, unterminated write
    for number, line in enumerate(complete, start=1):
        if not line:
            continue
        try:
            rows.append(_ROW.decode(line))
        except msgspec.DecodeError as exc:
            raise DataError(
                path, f"corrupt spool line ({exc}); move the file aside", number
            ) from None
    del tail
    return rows

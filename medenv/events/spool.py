"""The append-only spool: events written to disk at once, before DuckDB ingests them.

One line per event, ``[run_id, episode_id, seq, ts_us, type, payload]`` as JSON (payload
embedded raw; JSON strings never contain a raw newline, so a line is one event). The
writer's payloads are raw (`encode_payload`'s JSON: no token count, no hash); they are
sealed where the lines become rows (`medenv.events.sealer`). Lines of writers before that
change hold sealed payloads and are taken as they are.

Failure rules:

- `Spool.write` that fails (disk full, file-size limit, I/O error) truncates the file back
  to its last complete line before raising `SpoolError`, so a failed write never leaves a
  partial line for a later write to land after; the caller still holds the events.
- `read_spool` never refuses a file: it returns every complete line, and reports a torn
  tail (the process died inside ``write``: that step never returned) and any line that does
  not decode (its bytes in ``unreadable``). A line made of a torn write followed by a
  complete line (what a full disk left before this rule) gives back the complete line it
  ends with.
- Recovery, which empties the spool, first keeps those unreadable lines
  (`medenv.events.files.keep_unreadable`); a torn tail is not kept: the write it began
  never returned, so no step whose events it held ever completed, and its bytes are no
  event any reader could take (a resumed rollout runs that episode again).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import NoReturn

import msgspec

from medenv.errors import MedenvError

SpoolRow = tuple[str, str | None, int, int, str, msgspec.Raw]
_ROW = msgspec.json.Decoder(tuple[str, str | None, int, int, str, msgspec.Raw])
_ENC = msgspec.json.Encoder()


# buffers one ``writev`` takes (POSIX guarantees 16; Linux takes 1024; none where there is
# no ``writev``): more are joined and written with ``write``
_writev = getattr(os, "writev", None)
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024) if _writev is not None else 0


class SpoolError(MedenvError):
    """A spool write failed; the file was cut back to its last complete line."""


class SpoolRecoveryWarning(UserWarning):
    """A problem with a line of a spool that recovery ingested and then emptied: a torn
    last line (dropped) or a line that is not an event (kept in ``<store>.unreadable``)."""


def encode_line(
    run_id: str, episode_id: str | None, seq: int, ts_us: int, type_: str, payload: bytes
) -> bytes:
    return _ENC.encode((run_id, episode_id, seq, ts_us, type_, msgspec.Raw(payload))) + b"\n"


def _write_all(fd: int, view: memoryview) -> None:
    """Write all of ``view`` (the OS may take fewer bytes than asked)."""
    while view:
        written = os.write(fd, view)
        if written <= 0:  # pragma: no cover - POSIX reports an error instead
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


class Spool:
    """An open spool file. ``write`` hands bytes to the OS (survives ``kill -9``);
    ``sync=True`` also fsyncs (survives power loss)."""

    def __init__(self, path: Path, sync: bool = False) -> None:
        self.path = path
        self.sync = sync
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size  # bytes of complete lines written

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines). On failure: truncate back and raise SpoolError."""
        try:
            _write_all(self.fd, memoryview(data))
            if self.sync:
                os.fsync(self.fd)
        except OSError as exc:
            self._cut_back(exc)
        self.size += len(data)

    def write_lines(self, lines: list[bytes]) -> None:
        """`write` of ``b"".join(lines)`` (each a whole line), with one ``writev`` where
        there is one (no joined copy; the rest of a short write follows)."""
        total = sum(map(len, lines))
        try:
            written = _writev(self.fd, lines) if 0 < len(lines) <= _IOV_MAX else 0
            if written < total:  # a short write (a signal, a file-size limit): the rest
                _write_all(self.fd, memoryview(b"".join(lines))[written:])
            if self.sync:
                os.fsync(self.fd)
        except OSError as exc:
            self._cut_back(exc)
        self.size += total

    def _cut_back(self, exc: OSError) -> NoReturn:
        """A write failed: truncate to the last complete line and raise `SpoolError`."""
        cut = ""
        try:
            os.ftruncate(self.fd, self.size)
        except OSError as again:  # the torn tail stays: readers skip it
            cut = f"; could not cut its torn tail either ({again.strerror})"
        raise SpoolError(
            f"cannot write the event spool {self.path}: {exc.strerror or exc} "
            f"(disk full?){cut}; the events of this step were not logged yet"
        ) from None

    def clear(self) -> None:
        """Empty the spool (after its events are safely in DuckDB)."""
        os.ftruncate(self.fd, 0)
        self.size = 0
        if self.sync:
            os.fsync(self.fd)

    def close(self) -> None:
        """Close the file (a second call does nothing)."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


class SpoolContents(msgspec.Struct, kw_only=True):
    """What `read_spool` found: ``rows`` (every complete event line, in order),
    ``torn_tail`` (bytes of an unterminated last line), ``skipped`` (numbers of lines that
    are not events), ``unreadable`` (those lines' bytes), ``salvaged`` (lines that began
    with a torn write) and ``kept`` (the file recovery kept the unreadable lines in)."""

    path: str
    rows: list = []
    torn_tail: int = 0
    skipped: list[int] = []
    unreadable: list[bytes] = []
    salvaged: list[int] = []
    kept: str | None = None

    @property
    def notes(self) -> list[str]:
        """One line per problem, naming the file (and line)."""
        out = []
        if self.torn_tail:
            out.append(
                f"{self.path}: ignored a torn last line ({self.torn_tail} bytes: a write cut "
                "short by a kill or a full disk; its step never returned)"
            )
        for n in self.salvaged:
            out.append(f"{self.path}:{n}: line began with a torn write; kept the event after it")
        for n in self.skipped:
            done = f"kept in {self.kept}" if self.kept else "skipped"
            out.append(f"{self.path}:{n}: not an event line; {done}")
        return out


def _salvage(line: bytes) -> SpoolRow | None:
    """The complete event a line ends with, after a torn prefix (None when there is none)."""
    start = line.find(b'["', 1)
    while start > 0:
        try:
            return _ROW.decode(line[start:])
        except msgspec.DecodeError:
            start = line.find(b'["', start + 1)
    return None


def read_spool(path: Path) -> SpoolContents:
    """Every complete event line in ``path`` (nothing when missing); never raises for its
    contents (see the module docstring). An unreadable file raises MedenvError."""
    contents = SpoolContents(path=str(path))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return contents
    except OSError as exc:
        raise MedenvError(f"cannot read the event spool {path}: {exc.strerror}") from None
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # tail: b"" or a torn, unterminated write
    contents.torn_tail = len(tail)
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            contents.rows.append(_ROW.decode(line))
            continue
        except msgspec.DecodeError:
            pass
        row = _salvage(line)
        if row is None:
            contents.skipped.append(number)
            contents.unreadable.append(line)
        else:
            contents.rows.append(row)
            contents.salvaged.append(number)
    return contents

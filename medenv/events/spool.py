"""The append-only spool: events written to disk at once, before DuckDB ingests them.

One line per event, ``[run_id, episode_id, seq, ts_us, type, payload]`` as JSON (payload
embedded raw; JSON strings never contain a raw newline, so a line is one event), or one
line per env step (type ``"step"``: `medenv.events.logged_step`), which `read_spool`
expands into the event rows it stands for. The writer's payloads are raw (`encode_payload`'s JSON: no token count, no hash); they are
sealed where the lines become rows (`medenv.events.sealer`). Lines of writers before that
change hold sealed payloads and are taken as they are.

Two writers of the same file format (`open_spool` picks one): `Spool` appends each step's
lines with one ``writev`` (and fsyncs with ``sync``); `MappedSpool` (the unsynced spool, on a
filesystem where it is safe) copies them into a shared memory mapping of zeros written
ahead, a chunk at a time, so that a step costs no system call. Pages of a shared mapping
are the file's page cache: what a step copied survives ``kill -9`` as a ``write`` does. Its
file is therefore longer than its lines until it is closed, rotated or emptied: readers
take a file's content up to its trailing NUL bytes (JSON lines hold none).

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
import mmap
import os
from pathlib import Path
from typing import NoReturn

import msgspec

from medenv.errors import MedenvError
from medenv.events.codec import decode_nested
from medenv.events.logged_step import expand_row

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
        except OSError as again:  # what stays after the last line, readers skip
            cut = f"; could not cut it back either ({again.strerror})"
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


# bytes of zeros a mapped spool's file grows by at a time (about 2,500 events)
CHUNK = 1 << 20
_ZEROS = bytes(CHUNK)
# filesystems that allocate (or reserve) a file's blocks when zeros are written to it and
# overwrite them in place: a store through a mapping into those zeros never needs new
# space, so a full disk is an error at the zeros' ``write``, never a SIGBUS at the store
# (copy-on-write filesystems, e.g. btrfs and ZFS, and network ones do not promise this)
_MAPPABLE = frozenset({"ext2", "ext3", "ext4", "xfs", "tmpfs"})
_fs_types: dict[int, str] = {}


def filesystem_type(path: str | os.PathLike) -> str:
    """The type of the filesystem that holds ``path`` (an existing file or folder) as Linux
    names it in ``/proc/self/mountinfo`` (e.g. ``ext4``); ``""`` where that cannot be told."""
    try:
        dev = os.stat(path).st_dev
    except OSError:
        return ""
    if dev not in _fs_types:
        want, found = f"{os.major(dev)}:{os.minor(dev)}", ""
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.split()
                    if len(fields) > 2 and fields[2] == want and " - " in line:
                        found = line.split(" - ", 1)[1].split()[0]
                        break
        except OSError:
            pass
        _fs_types[dev] = found
    return _fs_types[dev]


def open_spool(path: Path, sync: bool = False) -> Spool | MappedSpool:
    """The spool writer for ``path``: `MappedSpool` where the spool is not synced and its
    filesystem is one that mapping is safe on (``_MAPPABLE``), else `Spool`. Raises
    OSError as ``os.open`` does."""
    if sync or filesystem_type(path.parent) not in _MAPPABLE:
        return Spool(path, sync=sync)
    return MappedSpool(path)


class MappedSpool(Spool):
    """An open, unsynced spool written through a shared memory mapping (module docstring).

    ``size`` counts the bytes of its lines; the file holds zeros after them up to
    ``capacity``, its length. Every write either copies all its lines or, when the file
    cannot grow for them (disk full, file-size limit), raises `SpoolError` with the file
    cut back to its last complete line (`Spool`'s rule)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sync = False
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # (no O_APPEND: pwrite)
        self.capacity = os.fstat(self.fd).st_size
        self.size = 0
        if self.capacity:  # a file left with lines: write after them
            with open(path, "rb") as f:
                self.size = len(f.read().rstrip(b"\0"))
        self._map: mmap.mmap | None = None

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines); on failure cut back and raise `SpoolError`."""
        if not data:
            return
        end = self.size + len(data)
        if end > self.capacity or self._map is None:
            self._make_room(end)
        self._map[self.size : end] = data
        self.size = end

    def write_lines(self, lines: list[bytes]) -> None:
        """`write` of ``b"".join(lines)`` (each a whole line)."""
        self.write(lines[0] if len(lines) == 1 else b"".join(lines))  # (no copy of one)

    def _make_room(self, end: int) -> None:
        """Grow the file with zeros to hold ``end`` bytes (a whole number of chunks; where
        that fails, exactly ``end``) and map all of it."""
        if end > self.capacity:
            grown = -(-end // CHUNK) * CHUNK
            try:
                self._zero_fill(grown)
            except OSError:  # no room for a chunk (near a full disk): room for this write
                try:
                    os.ftruncate(self.fd, self.capacity)
                    grown = end
                    self._zero_fill(grown)
                except OSError as exc:
                    self._cut_back(exc)
            self.capacity = grown
            self._unmap()
        if self._map is None and self.capacity:
            self._map = mmap.mmap(self.fd, self.capacity)

    def _zero_fill(self, length: int) -> None:
        """Write zeros from the file's end (``capacity``) to ``length``."""
        offset = self.capacity
        while offset < length:
            written = os.pwrite(self.fd, memoryview(_ZEROS)[: min(CHUNK, length - offset)], offset)
            if written <= 0:  # pragma: no cover - POSIX reports an error instead
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            offset += written

    def _unmap(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def _cut_back(self, exc: OSError) -> NoReturn:
        """Growing failed: drop the zeros after the last complete line, raise SpoolError."""
        self._unmap()
        self.capacity = self.size  # (if the cut fails, the next growth writes over them)
        super()._cut_back(exc)

    def clear(self) -> None:
        """Empty the spool (after its events are safely in DuckDB)."""
        self._unmap()
        os.ftruncate(self.fd, 0)
        self.size = self.capacity = 0

    def close(self) -> None:
        """Cut the zeros after the lines and close the file (a second call does nothing)."""
        if self.fd >= 0:
            self._unmap()
            fd, self.fd = self.fd, -1
            capacity, self.capacity = self.capacity, 0  # a later write fails (EBADF)
            try:
                if capacity > self.size:
                    os.ftruncate(fd, self.size)
            except OSError:  # the zeros stay: readers stop at them
                pass
            finally:
                os.close(fd)


class SpoolContents(msgspec.Struct, kw_only=True):
    """What `read_spool` found: ``rows`` (every event of its complete lines, in order),
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


def _rows(line: bytes) -> list[SpoolRow]:
    """The event rows a spool line holds (a step line's expanded: `expand_row`); raises
    `msgspec.DecodeError` for a line that is neither."""
    return expand_row(decode_nested(_ROW, line))


def _salvage(line: bytes) -> list[SpoolRow] | None:
    """The rows of the complete line a line ends with, after a torn prefix (None when
    there is none)."""
    start = line.find(b'["', 1)
    while start > 0:
        try:
            return _rows(line[start:])
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
    lines = data.rstrip(b"\0").split(b"\n")  # a mapped spool's zeros are not lines
    complete, tail = lines[:-1], lines[-1]  # tail: b"" or a torn, unterminated write
    contents.torn_tail = len(tail)
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            contents.rows.extend(_rows(line))
            continue
        except msgspec.DecodeError:
            pass
        rows = _salvage(line)
        if rows is None:
            contents.skipped.append(number)
            contents.unreadable.append(line)
        else:
            contents.rows.extend(rows)
            contents.salvaged.append(number)
    return contents

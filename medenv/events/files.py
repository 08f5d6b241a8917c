"""The files of an event store on disk: the store file and its worker shards, the spool
and its numbered segments, the writer's lock file, and what ``--db`` values name.

Beside store ``events.duckdb`` live ``events.duckdb.lock`` (the writer's ``flock`` and
pid), ``events.duckdb.spool`` (events not yet in DuckDB) and ``events.duckdb.spool-<k>``
(segments handed to a background ingest); parallel workers write shard files
``events.shard-<k>.duckdb``.
"""

from __future__ import annotations

import fcntl
import glob as globlib
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from medenv.errors import MedenvError
from medenv.events.parquet import is_parquet_source
from medenv.events.spool import SpoolContents, read_spool
from medenv.paths import process_gone

# How long a writer or reader waits for a killed writer's ingest process to let go.
SETTLE_S = 5.0


def new_run_id() -> str:
    """A sortable, unique run id: ``YYYYmmdd-HHMMSS-<8 hex>``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


MAX_RUN_ID_BYTES = 80
MAX_SHARDS = 4096  # shard numbers 0..4095; "auto" tries them in turn


def check_run_id(run_id: object) -> str | None:
    """``run_id`` when it is a string of printable characters, at most `MAX_RUN_ID_BYTES`
    bytes in UTF-8 (None or ``""``: None, a new id is made); else `MedenvError`. (An int run
    id was spooled as a JSON number, which no reader takes: the run's events were dropped
    without a word. A 10 KB id was taken, and `events export` failed on it later: its
    partition folder ``run_id=<id, %-escaped>`` must fit a file name's 255 bytes, which 80
    bytes, each escaped to at most 3, do.)"""
    if run_id is None or run_id == "":
        return None
    if not isinstance(run_id, str) or not run_id.isprintable():
        raise MedenvError(f"run_id must be a string of printable characters, got {run_id!r}")
    size = len(run_id.encode("utf-8"))
    if size > MAX_RUN_ID_BYTES:
        raise MedenvError(
            f"run_id must be at most {MAX_RUN_ID_BYTES} bytes in UTF-8, got {size:,} "
            f"({run_id[:24]!r}...)"
        )
    return run_id


def shard_path(path: str | Path, k: int) -> Path:
    """File of shard ``k`` of the store at ``path`` (shard 0 is ``path`` itself)."""
    path = Path(path)
    if k == 0:
        return path
    stem = path.with_suffix("") if path.suffix == ".duckdb" else path
    return stem.parent / f"{stem.name}.shard-{k}.duckdb"


def shard_files(path: str | Path) -> list[Path]:
    """The main file (when it exists) and every shard file of the store at ``path``."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix == ".duckdb" else path
    shards = sorted(
        (Path(p) for p in globlib.glob(globlib.escape(str(stem)) + ".shard-*.duckdb")),
        key=lambda p: (len(p.name), p.name),
    )
    return ([path] if path.exists() else []) + shards


def sidecar(file: Path, suffix: str) -> Path:
    return file.with_name(file.name + suffix)


class Lock:
    """An exclusive, non-blocking ``flock`` on ``<file>.lock`` holding the owner's pid."""

    def __init__(self, file: Path) -> None:
        self.path = sidecar(file, ".lock")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + SETTLE_S
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                owner = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "?"
                if _dead(owner) and time.monotonic() < deadline:
                    time.sleep(0.01)  # a killed writer's ingest process is ending
                    continue
            os.close(self.fd)
            raise MedenvError(
                f"event store {file} is already being written by process {owner} (one "
                "writer per file): wait for it to finish, stop it, or give another --db "
                "path (Python: EventStore(..., shard='auto') writes a shard file beside it)"
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = -1


def check_shard(shard: object) -> int | str | None:
    """``shard`` when it is None, ``"auto"`` or a shard number (0 to `MAX_SHARDS` - 1); else
    one `MedenvError` naming it (``shard=10**30`` made a file ``x.shard-1000...0.duckdb``)."""
    if shard is None or shard == "auto":
        return shard
    if isinstance(shard, int) and not isinstance(shard, bool) and 0 <= shard < MAX_SHARDS:
        return shard
    raise MedenvError(
        f"shard must be None, 'auto' or an int from 0 to {MAX_SHARDS - 1}, got {shard!r}"
    )


def acquire(base: Path, shard: int | str | None) -> tuple[int, Lock]:
    """The writer's lock on store ``base``'s shard: ``(k, lock)`` (``shard``: None, an
    int, or ``"auto"``, the first shard file no other writer holds)."""
    if shard is None:
        return 0, Lock(base)
    if check_shard(shard) != "auto":
        return shard, Lock(shard_path(base, shard))
    for k in range(MAX_SHARDS):
        try:
            return k, Lock(shard_path(base, k))
        except MedenvError:
            continue
    raise MedenvError(f"no free shard of event store {base} (4096 writers?)")


def spool_segments(file: Path) -> list[Path]:
    """The spool files of store ``file``, oldest first: numbered segments handed to a
    background ingest (``<file>.spool-<k>``), then the live spool ``<file>.spool``."""
    pattern = globlib.escape(str(sidecar(file, ".spool-"))) + "*"
    segments = [Path(p) for p in globlib.glob(pattern) if p.rsplit("-", 1)[1].isdigit()]
    segments.sort(key=lambda p: int(str(p).rsplit("-", 1)[1]))
    return [*segments, sidecar(file, ".spool")]


def read_spools(file: Path):
    """Every complete event line of the spool files of ``file`` (`spool_segments` order)
    and the notes on their problems: ``(rows, notes)``."""
    rows, notes = [], []
    for path in spool_segments(file):
        contents = read_spool(path)
        rows.extend(contents.rows)
        notes.extend(contents.notes)
    return rows, notes


def unreadable_path(file: Path) -> Path:
    """``<file>.unreadable``: spool lines recovery could not take, kept (`keep_unreadable`)."""
    return sidecar(file, ".unreadable")


def keep_unreadable(file: Path, contents: Sequence[SpoolContents]) -> Path | None:
    """Append the lines of ``contents`` that are not events (``unreadable``), byte for
    byte, one per line, to `unreadable_path` (fsynced) and set each one's ``kept``; call
    before the spool files that hold them are emptied or deleted. Returns that file, or
    None when there was nothing to keep. A failed write raises `MedenvError`: the caller
    then leaves the spool as it is (the lines stay there)."""
    lines = [line for c in contents for line in c.unreadable]
    if not lines:
        return None
    side = unreadable_path(file)
    try:
        fd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = memoryview(b"".join(line + b"\n" for line in lines))
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise MedenvError(
            f"cannot keep {len(lines)} unreadable spool line(s) of event store {file} in "
            f"{side}: {exc.strerror or exc}; the spool is left as it is"
        ) from None
    for c in contents:
        if c.unreadable:
            c.kept = str(side)
    return side


def unreadable_note(file: Path) -> str | None:
    """A note naming `unreadable_path` when a recovery kept lines there (None otherwise)."""
    side = unreadable_path(file)
    try:
        data = side.read_bytes()
    except OSError:
        return None
    n = data.count(b"\n")
    return (
        f"{side}: {n} spool line(s) that are not events, kept by an earlier "
        "recovery (fix a line and append it to the spool to have it ingested, or delete the "
        "file)"
    )


def resolve_files(paths_or_glob: str | Path | Sequence[str | Path]) -> list[Path]:
    """Store files named by a path (its shards included), a folder, a glob, or a list.

    A path that exists is always taken literally (``runs[1].duckdb`` is that file); only a
    path that does not exist and holds ``*``, ``?`` or ``[`` is expanded as a glob.
    Parquet sources (`medenv.events.parquet.is_parquet_source`: a URL, ``*.parquet``, a
    folder of Parquet shards) are returned as given, as ``str``; `connect` reads them."""
    items = [paths_or_glob] if isinstance(paths_or_glob, str | Path) else list(paths_or_glob)
    files: list[Path] = []
    for item in items:
        if is_parquet_source(item):  # Parquet shards: kept as given (a str), read by connect
            files.append(str(item))
            continue
        text = str(Path(item).expanduser())
        if not Path(text).exists() and any(ch in text for ch in "*?["):
            found = [Path(p) for p in sorted(globlib.glob(text)) if p.endswith(".duckdb")]
        elif Path(text).is_dir():
            found = sorted(Path(text).glob("*.duckdb"))
        else:
            found = shard_files(text)
        if not found:
            raise MedenvError(f"no event store at {item}")
        files.extend(f for f in found if f not in files)
    return files


def sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _dead(owner: str) -> bool:
    """Whether ``owner`` (a pid, as the lock file holds it) names a process that has
    ended (`medenv.paths.process_gone`); not a pid: False."""
    try:
        pid = int(owner)
    except ValueError:
        return False
    return pid > 0 and process_gone(pid)


def settle(file: Path) -> bool:
    """Wait (up to `SETTLE_S`) while the lock of ``file`` is held although the writer
    named in it is gone: its ingest process (`medenv.events.ingest_child`, which shares
    the lock) ends at once after its writer is killed. Whether the lock is free now."""
    deadline = time.monotonic() + SETTLE_S
    while (owner := lock_owner(file)) is not None:
        if not _dead(owner) or time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def lock_owner(file: Path) -> str | None:
    lock = sidecar(file, ".lock")
    if not lock.exists():
        return None
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None  # nobody holds it
    except BlockingIOError:
        return os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
    finally:
        os.close(fd)

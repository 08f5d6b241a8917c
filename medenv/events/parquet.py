"""Event shards as Parquet, on any filesystem: export, and sources that readers accept.

`export_parquet(db, out)` writes every event of a store (all its shard files, spool
leftovers included) as zstd-compressed Parquet partitioned by run, Hive style::

    OUT/run_id=<run id>/data_0.parquet     columns: episode_id, seq, ts, type, payload

``OUT`` is a folder or an fsspec URL (``s3://bucket/prefix``, ``memory://...``); a URL is
written through a local staging folder and uploaded with fsspec. Re-exporting a run
overwrites its partition (never duplicates it). Object storage has no rename of many files
at once, so an upload that fails midway (a lost connection, a denied key) cannot leave
``OUT`` as it was: it stays marked incomplete instead, and readers refuse it until an export
finishes. Each upload has its own marker (``_medenv_export_incomplete.<pid>-<host>-<hex>``,
`INCOMPLETE`), written before its first file and removed after its last; readers refuse
``OUT`` while any marker is there. An upload that finishes removes its own marker and those
of uploads that have ended (`_ended`: failed ones, whose files it has just written over), never
one still under way: two uploads to one URL cannot unmark each other's half-written files.
A marker names its writer's process and host: this host's process is checked for liveness;
another host's cannot be, so its marker is honoured until untouched for `MARKER_AGE` (a day:
longer than an upload runs). Readers' refusal describes each marker (whose, how old) and gives
the command that removes it by hand, for when you know no export to ``OUT`` is running; an
export that finishes while another's marker stays says so (``notes``).

Reading: `is_parquet_source(x)` says whether a ``--db`` value names Parquet rather than
DuckDB files: a URL (``scheme://``), a path or glob ending in ``.parquet``, or a folder
holding ``.parquet`` files and no ``.duckdb`` file. `parquet_relation(con, source)` is the
SQL that reads such a source with DuckDB's own ``read_parquet`` (Hive partitions; ``run_id``
read as text), registering an fsspec filesystem on ``con`` for URL schemes DuckDB does not
read natively; `medenv.events.store.connect` uses it, so ``eval``, ``export``, ``runs`` and
``replay`` read Parquet shards exactly like DuckDB files.

Object storage (S3 and S3-compatible servers) goes through ``s3fs`` (extra ``medenv[s3]``),
configured by the usual AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL`` for a non-AWS server, ``AWS_DEFAULT_REGION``).
"""

from __future__ import annotations

import datetime
import itertools
import os
import re
import shlex
import shutil
import socket
import tempfile
import time
from pathlib import Path

import duckdb
from tqdm.auto import tqdm

from medenv.errors import MedenvError
from medenv.paths import (
    fsync_dir,
    fsync_tree,
    remove_leftovers,
    replace_path,
    staging_in,
    writer_gone,
    writer_id,
    writer_pid,
)

_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_GLOB = re.compile(r"[*?\[]")
COLUMNS = "run_id, episode_id, seq, ts, type, payload"
_TABLES = itertools.count()
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}
# in an OUT URL while an upload is under way, and after one that failed midway: one per
# upload, ``INCOMPLETE.<writer_id>`` (round 15 wrote one ``INCOMPLETE`` for all)
INCOMPLETE = "_medenv_export_incomplete"
# another host's marker untouched this long counts as an ended upload's (its pid says nothing)
MARKER_AGE = 24 * 3600.0
_UPLOADING: set[str] = set()  # the markers of this process's uploads under way


def url_scheme(source: str | Path) -> str | None:
    m = _URL.match(str(source))
    return m.group(1).lower() if m else None


def check_writable_store(db: str | Path) -> None:
    """One-line `MedenvError` when ``db`` is a URL or Parquet: writers (rollouts, the served
    env) write a local DuckDB store; `export_parquet` moves it to object storage."""
    if url_scheme(db) not in (None, "file") or str(db).endswith(".parquet"):
        raise MedenvError(
            f"--db {db}: events are written to a local DuckDB file; write one, then "
            "`medenv events export --db FILE --out URL`"
        )


def is_parquet_source(source: str | Path) -> bool:
    """True when ``source`` names Parquet event shards (see the module docstring)."""
    text = str(source)
    if url_scheme(text) not in (None, "file"):
        return True
    text = text.removeprefix("file://")
    if text.endswith(".parquet"):
        return True
    path = Path(text).expanduser()
    if _GLOB.search(text) or not path.is_dir():
        return False
    if any(path.glob("*.duckdb")):
        return False
    return next(path.rglob("*.parquet"), None) is not None


def _filesystem(url: str):
    """The fsspec filesystem of ``url`` (one line naming the extra when it is missing)."""
    import fsspec

    scheme = url_scheme(url) or "file"
    try:
        # a fresh instance: the endpoint and credentials come from the environment now
        return fsspec.filesystem(scheme, skip_instance_cache=True)
    except ImportError:
        extra = EXTRAS.get(scheme, scheme)
        raise MedenvError(
            f"{url}: reading {scheme}:// needs an fsspec driver: pip install 'medenv[{extra}]'"
        ) from None
    except ValueError:
        raise MedenvError(f"{url}: unknown URL scheme {scheme!r}") from None


def _pattern(source: str) -> str:
    """A file glob for ``source``: itself when it names files, else every Parquet file
    below it."""
    if source.endswith(".parquet") or _GLOB.search(source):
        return source
    return source.rstrip("/") + "/**/*.parquet"


def parquet_relation(con: duckdb.DuckDBPyConnection, source: str | Path) -> str:
    """SQL selecting ``shard, run_id, episode_id, seq, ts, type, payload`` from Parquet
    ``source`` (``shard``: the index of the store file the event was exported from).

    Raises `MedenvError` (one line) when nothing matches or the files are not event shards.
    """
    text = str(source)
    scheme = url_scheme(text)
    if scheme == "file":
        text = text.removeprefix("file://")
        scheme = None
    if scheme is None:
        text = str(Path(text).expanduser())
    else:
        fs = _filesystem(text)
        if not con.filesystem_is_registered(fs.protocol if isinstance(fs.protocol, str)
                                            else fs.protocol[0]):  # fmt: skip
            con.register_filesystem(fs)
    pattern = _pattern(text)
    markers = _markers(text, None if scheme is None else fs) if pattern != text else []
    if markers:
        where = None if scheme is None else fs
        raise MedenvError(
            f"{source}: an `events export` to it is under way or failed midway: "
            f"{'; '.join(describe_marker(where, text, m) for m in markers)}. Its shards may "
            "mix two exports. Export again: a finishing export removes the markers of "
            "exports that have ended (a process of this host that is gone; another host's "
            f"marker once untouched for {MARKER_AGE / 3600:g} h, as its process cannot be "
            "checked from here). If you know no export to it is running, remove the "
            f"marker(s) by hand: {_removal(text, markers, scheme is None)}"
        )
    # Hive partitions (run_id=...) as written by `export_parquet`; else files that carry
    # run_id as a column (a single shard copied out of its folder, another writer's files)
    variants = [
        f"read_parquet('{_sql(pattern)}', hive_partitioning = true, union_by_name = true, "
        "hive_types = {'run_id': VARCHAR})",
        f"read_parquet('{_sql(pattern)}', hive_partitioning = false, union_by_name = true)",
    ]
    for n, sql in enumerate(variants):
        try:
            names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()]
            break
        except Exception as exc:  # duckdb; fsspec/botocore: no endpoint, no credentials
            line = one_line(exc)
            if "hive_type" in line and n == 0:
                continue
            if "No files found" in line:
                raise MedenvError(f"no Parquet event shards at {source}") from None
            raise MedenvError(f"cannot read Parquet event shards at {source}: {line}") from None
    missing = [c for c in COLUMNS.split(", ") if c not in names]
    if missing:
        raise MedenvError(f"{source}: not medenv event shards: no column(s) {', '.join(missing)}")
    shard = "CAST(shard AS INTEGER)" if "shard" in names else "0"
    select = (
        f"SELECT {shard} AS shard, run_id, episode_id, CAST(seq AS INTEGER) AS seq, "
        f"CAST(ts AS TIMESTAMP) AS ts, type, CAST(payload AS JSON) AS payload FROM {sql}"
    )
    if scheme is None:
        return select
    # remote objects are fetched once per connection, not once per query
    table = f"_parquet_{next(_TABLES)}"
    con.execute(f"CREATE TEMP TABLE {table} AS {select}")
    return f"SELECT * FROM {table}"


def _markers(folder: str, fs) -> list[str]:
    """The names of the `INCOMPLETE` markers in the folder or URL ``folder`` (``fs``: the
    URL's fsspec filesystem; None for a local folder). Markers that cannot be looked up
    count as absent: reading the shards reports that error."""
    try:
        if fs is None:
            names = [p.name for p in Path(folder).glob(INCOMPLETE + "*")]
        else:
            fs.invalidate_cache()  # s3fs lists from a cache: another writer's marker is new
            names = [p.rsplit("/", 1)[-1] for p in fs.glob(_marker(folder) + "*")]
    except Exception:  # botocore/fsspec: no endpoint, no credentials
        return []
    return sorted(n for n in names if n == INCOMPLETE or n.startswith(INCOMPLETE + "."))


def _marker(folder: str, writer: str | None = None) -> str:
    """The marker of upload ``writer`` in ``folder`` (round 15's shared one for None)."""
    return folder.rstrip("/") + "/" + INCOMPLETE + ("" if writer is None else "." + writer)


def _age(fs, folder: str, name: str) -> float | None:
    """Seconds since marker ``name`` in ``folder`` was last written (``fs`` None: a local
    folder), or None when the filesystem does not say."""
    path = folder.rstrip("/") + "/" + name
    try:
        if fs is None:
            return time.time() - os.stat(path).st_mtime
        modified = fs.modified(path)
    except Exception:  # a filesystem that does not say
        return None
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=datetime.UTC)
    return time.time() - modified.timestamp()


def describe_marker(fs, folder: str, name: str) -> str:
    """Whose marker ``name`` is, for a reader's refusal: this host's process (running or
    gone) or another host's (whose process cannot be checked: honoured until untouched
    for `MARKER_AGE`), and how long ago it was written."""
    if name == INCOMPLETE:
        return f"{name} (a medenv before per-export markers; any finishing export removes it)"
    writer = name[len(INCOMPLETE) + 1 :]
    pid = writer_pid(writer)
    gone = writer_gone(writer)
    age = _age(fs, folder, name)
    since = "" if age is None else f", written {max(age, 0) / 3600:.1f} h ago"
    if pid is None:
        return f"{name} (an unknown writer{since})"
    if gone is not None:
        state = "gone: the next finishing export removes it" if gone else "still running"
        return f"{name} (process {pid} of this host, {state}{since})"
    return (
        f"{name} (process {pid} of another host, which cannot be checked from here"
        f"{since}; honoured until untouched for {MARKER_AGE / 3600:g} h)"
    )


def _removal(folder: str, markers: list[str], local: bool) -> str:
    """The command that removes ``markers`` from ``folder`` by hand."""
    paths = [folder.rstrip("/") + "/" + m for m in markers]
    if local:
        return "rm " + " ".join(shlex.quote(p) for p in paths)
    return shlex.join([
        "python", "-c",
        f"import fsspec; fs, _ = fsspec.core.url_to_fs({folder!r}); fs.rm({paths!r})",
    ])  # fmt: skip


def _ended(fs, folder: str, name: str) -> bool:
    """Whether the upload that wrote marker ``name`` in URL ``folder`` has ended (finished
    or failed): an upload of this process not under way; another process of this host that
    is gone; on another host, a marker untouched for `MARKER_AGE`. Round 15's shared marker
    (`INCOMPLETE` alone) goes when any upload finishes, as it did then."""
    if name == INCOMPLETE:
        return True
    writer = name[len(INCOMPLETE) + 1 :]
    if writer.rsplit("-", 1)[0] == writer_id().rsplit("-", 1)[0]:  # this process
        return name not in _UPLOADING
    gone = writer_gone(writer)
    if gone is not None:
        return gone
    age = _age(fs, folder, name)  # None: a filesystem that does not say: under way
    return age is not None and age > MARKER_AGE


def _upload(fs, local: Path, files: list[str], out: str, progress: bool) -> list[str]:
    """Put ``files`` (relative to ``local``) under URL ``out``, marked incomplete while the
    upload is under way (`INCOMPLETE`); afterwards remove this upload's marker and those of
    uploads that have ended (`_ended`). Returns the markers kept (uploads under way, as
    far as can be told)."""
    writer = writer_id()
    name = f"{INCOMPLETE}.{writer}"
    text = _MARKER_TEXT + (
        f"Writer: process {os.getpid()} on {socket.gethostname()}, started "
        f"{datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}.\n"
    )
    base = out.rstrip("/") + "/"
    _UPLOADING.add(name)
    try:
        fs.pipe_file(_marker(out, writer), text.encode())
        for rel in tqdm(files, desc="upload", unit="file", disable=not progress):
            fs.put_file(str(local / rel), base + rel)
    finally:
        _UPLOADING.discard(name)
    fs.rm_file(_marker(out, writer))
    kept = []
    for other in _markers(out, fs):
        if _ended(fs, out, other):
            try:
                fs.rm_file(base + other)
            except FileNotFoundError:  # another finishing upload removed it first
                pass
        else:
            kept.append(other)
    return kept


def export_parquet(db, out: str | Path, progress: bool = True) -> dict:
    """Write the store ``db`` (path/glob/list, shards included) to ``out`` as Parquet
    partitioned by run. Returns ``{"out", "runs", "events", "files"}``. A local folder is
    written whole or not at all: partitions are written into a staging folder inside it and
    moved in (each replacing its run's earlier partition) once all are written."""
    from medenv.events.store import connect

    out_text = str(out)
    scheme = url_scheme(out_text)
    remote = scheme not in (None, "file")
    fs = _filesystem(out_text) if remote else None
    local = Path(tempfile.mkdtemp(prefix="medenv-parquet-")) if remote else Path(
        out_text.removeprefix("file://")
    ).expanduser()  # fmt: skip
    if not remote:
        if local.exists() and not local.is_dir():
            raise MedenvError(f"--out {out}: is a file; give a folder or a URL")
        if local.is_dir() and any(local.glob("*.duckdb")):
            raise MedenvError(f"--out {out}: holds DuckDB stores; give a folder for Parquet")
    con = connect(db)
    try:
        runs, events = con.execute(
            "SELECT count(DISTINCT run_id), count(*) FROM events"
        ).fetchall()[0]
        if not events:
            raise MedenvError(f"the event store {db} has no events to export")
        local.mkdir(parents=True, exist_ok=True)
        if remote:
            _copy_partitions(con, local)
        else:  # partitions staged beside the old ones and moved in once all are written,
            # so a failed write (a full disk) leaves no cut Parquet file
            with staging_in(local, "events") as stage:
                try:
                    _copy_partitions(con, stage)
                except duckdb.Error as exc:  # name the output asked for (`error_line`)
                    raise type(exc)(str(exc).replace(str(stage), str(local))) from None
            fsync_tree(stage)  # on disk before the moves: whole across a power loss too
            for part in sorted(stage.iterdir()):  # a run's partition replaces its old one
                remove_leftovers(local / part.name)
                replace_path(part, local / part.name)
            stage.rmdir()
            fsync_dir(local)
    finally:
        con.close()
    files = sorted(str(p.relative_to(local)) for p in local.rglob("*.parquet"))
    kept: list[str] = []
    if remote:
        try:
            kept = _upload(fs, local, files, out_text, progress)
        except Exception as exc:  # botocore/fsspec: unreachable endpoint, no bucket, denied
            raise MedenvError(
                f"cannot write Parquet shards to {out}: {one_line(exc)} (if some were "
                f"written, a {INCOMPLETE} marker marks it incomplete: export again)"
            ) from None
        finally:
            shutil.rmtree(local, ignore_errors=True)
    notes = [  # another export's marker left in place: readers still refuse ``out``
        f"{out_text} stays marked incomplete by another export: "
        f"{describe_marker(fs, out_text, m)}; readers refuse it until that marker goes"
        for m in kept
    ]  # fmt: skip
    return {"out": out_text, "runs": runs, "events": events, "files": files, "notes": notes}


def _copy_partitions(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Every event of the connected store's ``events_by_file`` into ``folder`` as zstd
    Parquet, one Hive partition per run (``shard``: which store file of the run an event
    came from; each shard has its own run-level hash chain, `medenv.events.chain`)."""
    con.execute(
        f"COPY (SELECT {COLUMNS}, file AS shard FROM events_by_file "
        "ORDER BY run_id, file, episode_id, seq) "
        f"TO '{_sql(str(folder))}' (FORMAT parquet, COMPRESSION zstd, "
        "PARTITION_BY (run_id), OVERWRITE_OR_IGNORE true)"
    )


_MARKER_TEXT = (
    "A medenv `events export` to this folder was under way or failed midway: its shards may "
    "mix two exports, and medenv's readers refuse it. Export again; this file goes once an "
    "export finishes.\n"
)


def one_line(exc: BaseException) -> str:
    """The telling line of an error: its first line, or the last one of a wrapped Python
    traceback (DuckDB quotes fsspec's traceback whole)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if "Traceback" in lines[0]:
        told = [line for line in lines if not line.startswith(("LINE ", "^", "File "))]
        return told[-1]
    return lines[0]


def _sql(text: str) -> str:
    return text.replace("'", "''")

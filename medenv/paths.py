"""Where medenv keeps what it builds: ``$MEDENV_HOME`` (default ``~/.cache/medenv``), the
lock that makes concurrent processes build a cached artefact once (`build_lock`), and the
early checks of output paths given on the command line, and `writing`: an output written
whole or not at all (a temporary beside it, flushed to disk and renamed into place), and
`writing_into`: a model folder that holds exactly what its last save wrote.

Temporaries are named for their writer (`partial_path`: process id and host); the next
writer of the same output removes those whose writer is gone (`remove_leftovers`), so a
killed process (SIGKILL, a power loss) leaves none behind for long."""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import socket
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock, concurrent builders keep the first rename
    fcntl = None

from medenv.errors import MedenvError


def medenv_home() -> Path:
    """The cache/data folder, created on first use."""
    home = Path(os.environ.get("MEDENV_HOME") or Path.home() / ".cache" / "medenv")
    home.mkdir(parents=True, exist_ok=True)
    return home


@contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<target>.lock`` (blocking) while building ``target``.

    Builders check for the finished artefact, take the lock, check again and only then
    build: processes starting together (pytest-xdist workers, parallel rollouts) build it
    once, the others wait and load it. The lock goes with the process (a killed builder
    leaves none behind)."""
    lock = target.with_name(target.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _check_parents(path: Path, what: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise MedenvError(f"{what} {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise MedenvError(f"{what} {path}: folder {parent} is not writable")
            return


def _check_link(p: Path, path, what: str) -> None:
    """A symbolic link that leads nowhere: a broken one, or a loop (``mkdir`` said only
    "File exists")."""
    if p.is_symlink() and not p.exists():
        try:
            p.resolve(strict=True)
        except RuntimeError:  # Python < 3.13: a loop
            raise MedenvError(f"{what} {path}: is a symbolic link loop") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise MedenvError(f"{what} {path}: is a symbolic link loop") from None
        raise MedenvError(f"{what} {path}: is a broken symbolic link (to {os.readlink(p)})")


def check_out_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """Raise `MedenvError` unless ``path`` is a writable folder or can be created as one
    (not a symbolic link that leads nowhere).

    Called before any slow work, so a bad output path fails at once, not at the end."""
    p = Path(path).expanduser()
    _check_link(p, path, what)
    if p.exists():
        if not p.is_dir():
            raise MedenvError(f"{what} {path}: is a file, not a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise MedenvError(f"{what} {path}: folder is not writable")
        return p
    _check_parents(p, what)
    return p


def check_out_file(path: str | os.PathLike, what: str = "--db") -> Path:
    """Raise `MedenvError` unless ``path`` is a file that exists or can be created."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise MedenvError(f"{what} {path}: is a folder, not a file")
    if not p.exists():
        _check_parents(p, what)
    return p


MANIFEST = "manifest.json"  # a medenv output folder's record of the files medenv wrote there


def medenv_wrote(record: str | os.PathLike, name: str) -> bool:
    """Whether the medenv record ``record`` names the file ``name`` as one medenv wrote: the
    ONE rule by which medenv tells its own output from a file of yours that only shares its
    name. A record is a JSON object whose ``files`` is an object keyed by file name: the
    `MANIFEST` of a QA set (`medenv.synth.io.write_qa_set`) or of an evaluation report
    (`medenv.evaluation.report.write_report`), or a one-file output that records itself (a
    GRPO pool file). An unreadable, absent or other record names nothing."""
    try:
        files = json.loads(Path(record).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(files, dict) and name in files


def check_not_yours(
    folder: str | os.PathLike,
    names,
    key: str,
    what: str,
    writer: str,
    record: str | os.PathLike | None = None,
) -> None:
    """Raise `MedenvError` when ``folder`` holds any of ``names`` (the files an output
    would replace) and its record (``record``, default the folder's `MANIFEST`) does not
    name ``key`` (`medenv_wrote`): such a file is yours, and medenv does not overwrite it.
    ``what`` is the option that named the output (``--out DIR``), ``writer`` the command
    that writes it. Called before any work."""
    folder = Path(folder).expanduser()
    present = [n for n in names if os.path.lexists(folder / n)]
    if not present or medenv_wrote(record or folder / MANIFEST, key):
        return
    raise MedenvError(
        f"{what} holds {', '.join(present)}, which no {writer} wrote there (no medenv "
        "record of it beside it): medenv does not overwrite it; move it away or choose "
        "another path"
    )


# this host, in temporaries' names: a process id means something only on its own host
_HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"
# what follows ``.NAME.`` in a temporary's name (`partial_path`): writer's pid, host,
# random part; then the tag
_WRITER = r"(\d+)-([0-9a-f]{8})-[0-9a-f]{8}"
_TEMPORARY = re.compile(_WRITER + r"\.(?:partial|old)")
_A_TEMPORARY = re.compile(r"\..+\." + _WRITER + r"\.partial")
# the same, as a medenv before round 15 named them (``.NAME.<hex>.partial``): no writer
_OLD_STYLE = re.compile(r"[0-9a-f]{8}\.(?:partial|old)")
# how long an old-style temporary stays untouched before it counts as a killed writer's
OLD_STYLE_AGE = 24 * 3600.0


def writer_id() -> str:
    """A fresh name for a write by this process: ``<pid>-<host>-<hex>`` (`writer_gone`)."""
    return f"{os.getpid()}-{_HOST}-{secrets.token_hex(4)}"


def writer_pid(writer: str) -> int | None:
    """The process id in ``writer`` (a `writer_id`, of any host); None when it is not one."""
    m = re.fullmatch(_WRITER, writer)
    return None if m is None else int(m.group(1))


def writer_gone(writer: str) -> bool | None:
    """Whether the process of ``writer`` (a `writer_id`) has ended: True or False on this
    host, None when it is another host's (or not a `writer_id`): unknown."""
    m = re.fullmatch(_WRITER, writer)
    if m is None or m.group(2) != _HOST:
        return None
    return process_gone(int(m.group(1)))


def partial_path(path: str | os.PathLike, tag: str = "partial") -> Path:
    """A fresh hidden name beside ``path`` (``.NAME.<pid>-<host>-<hex>.<tag>``): same
    folder, so a rename onto ``path`` stays on one filesystem and is atomic; the writer's
    process id and a tag of its host name say whose it is (`remove_leftovers`)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{writer_id()}.{tag}")


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` (of this host) has ended; a zombie (killed, not yet reaped
    by its parent) has. A process of another user, or a pid reused since, counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: another user's live process
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux): alive
        return False
    return stat[stat.rindex(")") + 2 :].startswith("Z")


def _untouched_for(path: str, seconds: float) -> bool:
    """Whether nothing in ``path`` (a file, or a folder and everything under it; links not
    followed) was modified in the last ``seconds``."""
    since = time.time() - seconds
    try:
        if os.lstat(path).st_mtime > since:
            return False
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                if os.lstat(os.path.join(root, name)).st_mtime > since:
                    return False
    except OSError:  # gone meanwhile (its writer renamed or removed it): not ours to remove
        return False
    return True


def remove_leftovers(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``path`` (`partial_path` names, ``.partial`` and the
    ``.old`` of `replace_path`) whose writer, a process of this host, is gone (killed by
    SIGKILL or a power loss). Never one of a live writer (a concurrent write of the same
    output) or of another host (a shared folder). Does nothing outside POSIX. Returns what
    it removed.

    A temporary named by a medenv older than writers' names (``.NAME.<hex>.partial`` or
    ``.old``) says nothing of its writer: it is removed once nothing in it has been
    modified for `OLD_STYLE_AGE` (a day). A writer fills its temporary without pause and
    renames it when done, so one untouched that long was left by a killed process; one
    that is being written (its newest file, on any host) is kept."""
    p = Path(path)
    if os.name != "posix" or not p.name:
        return []
    prefix = f".{p.name}."
    removed = []
    try:
        entries = os.scandir(p.parent)
    except OSError:  # no folder yet: nothing left there
        return []
    with entries:
        for entry in entries:
            if not entry.name.startswith(prefix):
                continue
            m = _TEMPORARY.fullmatch(entry.name, len(prefix))
            if m:
                gone = m.group(2) == _HOST and process_gone(int(m.group(1)))
            else:
                gone = bool(_OLD_STYLE.fullmatch(entry.name, len(prefix))) and _untouched_for(
                    entry.path, OLD_STYLE_AGE
                )  # fmt: skip
            if gone:
                _remove(Path(entry.path))
                removed.append(Path(entry.path))
    return removed


def _fsync_file(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush the entries of folder ``path`` (a rename or a new file in it) to disk. A
    filesystem that cannot (``EINVAL``) and systems without folder handles are skipped."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def in_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies inside a temporary (a folder named by `partial_path`: a staging
    folder, a folder output being written). Such a temporary is flushed whole
    (`fsync_tree`) by its writer before it is renamed into place, so what is written inside
    it need not be flushed file by file (`writing` does not); nor swept for leftovers: a
    temporary whose writer was killed is removed whole (`remove_leftovers`), and a fresh
    one fills without a scan of the folder for each file."""
    return any(_A_TEMPORARY.fullmatch(parent.name) for parent in Path(path).parents)


def fsync_tree(path: str | os.PathLike) -> None:
    """Flush ``path`` to disk: a file, or every file and folder under a folder (links are
    not followed), so a rename of it afterwards cannot outlive its content in a power loss."""
    path = Path(path)
    if path.is_symlink():
        return
    if not path.is_dir():
        _fsync_file(path)
        return
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = os.path.join(root, name)
            if not os.path.islink(file):
                _fsync_file(file)
        fsync_dir(root)


def _remove(path: Path) -> None:
    """Remove a temporary (never raises: the error that led here is the one to report)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def replace_path(tmp: Path, path: Path) -> None:
    """Put ``tmp`` (a file or a folder) in the place of ``path``: one `os.replace`, or,
    over a folder (which rename cannot replace unless empty), the old folder renamed aside,
    ``tmp`` renamed in and the old one removed."""
    if path.is_dir() and not path.is_symlink():
        old = partial_path(path, "old")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


@contextmanager
def writing(path: str | os.PathLike) -> Iterator[Path]:
    """Write ``path`` whole or not at all: ``with writing(path) as tmp:`` write ``tmp`` (a
    hidden name beside ``path``, `partial_path`; a file or a folder); when the block ends,
    ``tmp`` is flushed to disk (`fsync_tree`), replaces ``path`` (`replace_path`: readers
    see the old file or the new one, never part of one) and the rename is flushed
    (`fsync_dir`), so this holds across a power loss too. When the block raises (any
    exception, Ctrl-C included), ``tmp`` is removed and ``path`` is left as it was; so it is
    when ``path`` is a folder and the writer wrote a file, or the other way round
    (`_same_kind`: never a folder of yours deleted for a file). A killed
    process (SIGKILL) can leave a ``.NAME.<pid>-<host>-<hex>.partial`` behind, never a
    truncated ``path``; the next writer of ``path`` removes it (`remove_leftovers`). Inside
    a temporary folder (`in_temporary`) the flushes and that sweep are left to the folder's
    writer.

    An `OSError` that names no file (``write`` on a full disk raises ``[Errno 28]`` without
    one) or the temporary is re-raised naming ``path``, so the CLI's one-line error says
    which output failed (`medenv.cli.error_line`)."""
    path = Path(path)
    flush = not in_temporary(path)  # else its writer flushes it, or the next one removes it
    if flush:
        remove_leftovers(path)
    tmp = partial_path(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(2, "the writer wrote nothing", str(path))
        _same_kind(tmp, path)
        if flush:
            fsync_tree(tmp)
        replace_path(tmp, path)
        if flush:
            fsync_dir(path.parent)
    except BaseException as exc:
        _remove(tmp)
        named = output_named(exc, tmp, path)
        if named is not None:
            raise OSError(exc.errno, exc.strerror, named) from exc
        raise


def _same_kind(tmp: Path, path: Path) -> None:
    """Raise when ``path`` is a folder and ``tmp`` a file, or the other way round: a folder
    of yours where medenv writes a file (``--report R`` with a folder ``R/report.md``) would
    be deleted whole by the rename, a file replaced by a folder."""
    if not path.exists() or path.is_symlink():
        return
    if path.is_dir() and not tmp.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, "is a folder, and medenv writes a file there (move it away)", str(path)
        )
    if not path.is_dir() and tmp.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR, "is a file, and medenv writes a folder there (move it away)", str(path)
        )


def output_named(exc: BaseException, tmp: Path, path: Path) -> str | None:
    """The output an `OSError` raised while writing ``tmp`` should name: ``path`` (or the
    file under it) in place of the temporary, or of no file; None to leave it as it is."""
    if not isinstance(exc, OSError) or exc.errno is None or exc.filename2 is not None:
        return None
    if exc.filename is None:
        return str(path)
    try:
        inside = Path(os.fsdecode(exc.filename)).relative_to(tmp)
    except (ValueError, TypeError):
        return None  # an error that names another file keeps it
    return str(path / inside) if inside.parts else str(path)


@contextmanager
def staging_in(folder: Path, tag: str) -> Iterator[Path]:
    """A fresh hidden folder inside ``folder`` (`partial_path` of ``folder / tag``) to
    write into; when the block raises (Ctrl-C included) it is removed, and an `OSError`
    naming a file in it (or no file) is re-raised naming that file's place in ``folder``
    (`output_named`). What the block wrote stays there when it ends, for the caller to
    flush (`fsync_tree`) and move. Staging folders of ``tag`` that killed writers left are
    removed first (`remove_leftovers`)."""
    remove_leftovers(folder / tag)
    stage = partial_path(folder / tag)
    stage.mkdir()
    try:
        yield stage
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        named = output_named(exc, stage, folder)
        if named is not None:
            raise OSError(exc.errno, exc.strerror, named) from exc
        raise


SAVED = "medenv_saved.json"  # a model folder's record of what its last save wrote


# what transformers, PEFT, TRL, tokenizers and medenv write into a model folder and read
# back from it (weights, their shards and index, configs, tokenizer files, medenv's files)
_MODEL_FILES = re.compile(
    r"(?:model|pytorch_model|adapter_model|tf_model|flax_model)"
    r"(?:-\d+-of-\d+)?\.(?:safetensors|bin|h5|msgpack)(?:\.index\.json)?"
    r"|(?:adapter_|generation_|tokenizer_|preprocessor_|processor_"
    r"|video_preprocessor_|audio_tokenizer_)?config\.json"
    r"|tokenizer\.json|special_tokens_map\.json|added_tokens\.json|vocab\.(?:json|txt)"
    r"|merges\.txt|(?:tokenizer|spiece|sentencepiece\.bpe)\.model|chat_template\.(?:jinja|json)"
    r"|additional_chat_templates|training_args\.bin|medenv_(?:sft|prompt|entities)\.json"
)


def saved_names(folder: Path) -> set[str]:
    """The names the last save into ``folder`` wrote, as far as they can be known: those its
    record lists (`SAVED`); with no readable record (a folder saved by a medenv older than
    `SAVED`, a model downloaded or saved there by other means), the entries of ``folder``
    that a model save writes and loading reads back (`_MODEL_FILES`: a stale
    ``model.safetensors`` beside a sharded save is loaded in its place). Any other entry
    (a README or notes of yours, a GRPO run's ``events.duckdb``) is never among them. Only
    plain names of entries of ``folder`` count: a record cannot point elsewhere."""
    try:
        names = json.loads((folder / SAVED).read_text(encoding="utf-8"))["written"]
    except (OSError, ValueError, TypeError, KeyError):
        names = None
    if not isinstance(names, list):
        try:
            return {n for n in os.listdir(folder) if _MODEL_FILES.fullmatch(n)}
        except OSError:
            return set()
    return {
        n for n in names
        if isinstance(n, str) and n not in ("", ".", "..", SAVED) and "/" not in n
        and "\\" not in n
    }  # fmt: skip


def _record(folder: Path, names) -> None:
    write_file(folder / SAVED, json.dumps({"written": sorted(names)}, indent=1) + "\n")


@contextmanager
def writing_into(folder: str | os.PathLike, last: tuple[str, ...] = ()) -> Iterator[Path]:
    """Save a set of files into ``folder`` (a model folder: weights, tokenizer, medenv's
    files) so that afterwards it holds exactly what this save wrote, never a part of it and
    never a file of an earlier save beside it.

    Yields a staging folder inside ``folder`` (`staging_in`); when the block raises (Ctrl-C
    included) it is removed and ``folder`` is left as it was. When the block ends, the
    staged files are flushed to disk, each entry replaces its namesake in ``folder``
    (`replace_path`; the names in ``last`` after the others, so a marker file appears only
    once the rest is in place), and the entries the previous save recorded writing (`SAVED`)
    that this one did not write are removed: an earlier ``model.safetensors`` beside this
    save's ``pytorch_model.bin``, shards and their index beside one weights file, adapter
    files beside full weights would make ``transformers`` load the stale weights. `SAVED`
    then lists this save's names (before the moves it lists both saves', so a save killed
    midway leaves nothing the next save would not remove).

    Entries no save recorded are kept (a GRPO run's ``events.duckdb`` beside the model, a
    README of yours), except one this save writes, which it replaces: what a save writes is
    known only once training has ended, too late to refuse, and the folder was given as the
    model's output. A folder with no record (saved by a medenv older than `SAVED`) counts
    its model files as the previous save's (`saved_names`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with staging_in(folder, "save") as stage:
        yield stage
    written = {p.name for p in stage.iterdir()} - {SAVED}
    fsync_tree(stage)
    earlier = saved_names(folder)
    _record(folder, earlier | written)
    stale = sorted(earlier - written)
    for entry in sorted(
        stage.iterdir(),
        key=lambda p: (p.name in last, last.index(p.name) if p.name in last else 0, p.name),
    ):
        if entry.name in last:
            for name in stale:  # before the markers: a marked folder has no stale file
                _remove(folder / name)
            stale = []
        remove_leftovers(folder / entry.name)  # a killed save's ``.old``
        replace_path(entry, folder / entry.name)
    for name in stale:
        _remove(folder / name)
    stage.rmdir()
    _record(folder, written)  # also flushes the folder's renames (`writing`)


def write_file(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all (`writing`)."""
    with writing(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """``fig.savefig`` (matplotlib) to ``path`` whole or not at all (`writing`); the format
    is ``path``'s suffix (png when it has none)."""
    with writing(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=Path(path).suffix.lstrip(".") or "png")
    return Path(path)

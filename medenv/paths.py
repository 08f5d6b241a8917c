"""Where medenv keeps what it builds: ``$MEDENV_HOME`` (default ``~/.cache/medenv``), the
lock that makes concurrent processes build a cached artefact once (`build_lock`), and the
early checks of output paths given on the command line, and `writing`: an output written
whole or not at all (a temporary beside it, renamed into place)."""

from __future__ import annotations

import os
import secrets
import shutil
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


def check_out_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """Raise `MedenvError` unless ``path`` is a writable folder or can be created as one.

    Called before any slow work, so a bad output path fails at once, not at the end."""
    p = Path(path).expanduser()
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


def partial_path(path: str | os.PathLike, tag: str = "partial") -> Path:
    """A fresh hidden name beside ``path`` (``.NAME.<hex>.<tag>``): same folder, so a
    rename onto ``path`` stays on one filesystem and is atomic."""
    p = Path(path)
    return p.with_name(f".{p.name}.{secrets.token_hex(4)}.{tag}")


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
    ``tmp`` replaces ``path`` (`replace_path`: readers see the old file or the new one,
    never part of one). When the block raises (any exception, Ctrl-C included), ``tmp`` is
    removed and ``path`` is left as it was. A killed process (SIGKILL) can leave a
    ``.NAME.<hex>.partial`` behind, never a truncated ``path``.

    An `OSError` that names no file (``write`` on a full disk raises ``[Errno 28]`` without
    one) or the temporary is re-raised naming ``path``, so the CLI's one-line error says
    which output failed (`medenv.cli.error_line`)."""
    path = Path(path)
    tmp = partial_path(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(2, "the writer wrote nothing", str(path))
        replace_path(tmp, path)
    except BaseException as exc:
        _remove(tmp)
        named = output_named(exc, tmp, path)
        if named is not None:
            raise OSError(exc.errno, exc.strerror, named) from exc
        raise


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
    (`output_named`). What the block wrote stays there when it ends."""
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


@contextmanager
def writing_into(folder: str | os.PathLike, last: tuple[str, ...] = ()) -> Iterator[Path]:
    """Write a set of files into ``folder`` (a model folder: weights, tokenizer, medenv's
    files) so that none of them is left cut: yields a staging folder inside ``folder``
    (`partial_path`); when the block ends, each entry written there replaces its namesake
    in ``folder`` (`replace_path`; the names in ``last`` after the others, so a marker file
    appears only once the rest is in place); when it raises (Ctrl-C included) the staging
    folder is removed and ``folder`` is left as it was. Files of ``folder`` the block did not
    write are not touched (a GRPO run's event store beside the model)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with staging_in(folder, "save") as stage:
        yield stage
    for entry in sorted(
        stage.iterdir(),
        key=lambda p: (p.name in last, last.index(p.name) if p.name in last else 0, p.name),
    ):
        replace_path(entry, folder / entry.name)
    stage.rmdir()


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

"""Where medenv keeps what it builds: ``$MEDENV_HOME`` (default ``~/.cache/medenv``), the
lock that makes concurrent processes build a cached artefact once (`build_lock`), and the
early checks of output paths given on the command line."""

from __future__ import annotations

import os
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


@contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Name ``path`` in an `OSError` raised while writing it that names no file (``write``
    on a full disk raises ``[Errno 28]`` without one): the CLI's one-line error then says
    which output failed (`medenv.cli.error_line`)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc

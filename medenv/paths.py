"""Where medenv keeps what it builds: ``$MEDENV_HOME`` (default ``~/.cache/medenv``), and
the early checks of output paths given on the command line."""

from __future__ import annotations

import os
from pathlib import Path

from medenv.errors import MedenvError


def medenv_home() -> Path:
    """The cache/data folder, created on first use."""
    home = Path(os.environ.get("MEDENV_HOME") or Path.home() / ".cache" / "medenv")
    home.mkdir(parents=True, exist_ok=True)
    return home


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

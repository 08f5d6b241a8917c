"""The ``--out`` folder of `medenv.training.export.export`: afterwards it holds exactly this
export's files, never a mix of two exports, and never loses a file medenv did not write.

- The export is written into a hidden staging folder inside ``out``
  (``.export.<pid>-<host>-<hex>.partial``), flushed to disk (fsync) and moved into place
  only once every format is written: a failed or interrupted export (an exception, a full
  disk, Ctrl-C, a power loss) leaves the earlier export as it was. The move is a few
  renames (`medenv.paths.replace_path`), flushed too.
- ``stats.json`` lists the names the export wrote (``"written"``): the next export into
  the folder removes those of them it does not write again (stale files of another format,
  a ``sft_dataset/`` an export without rows does not write, run files of questions no longer
  selected). A ``stats.json`` of an export older than that list claims every
  `EXPORT_NAMES` entry present.
- A name this export would write that no earlier export claims (the user's own
  ``sft.jsonl``) is refused before any work (`claim`), never overwritten. Other files are
  left as they are and listed (``"left_as_is"`` in the stats).
- One export writes a folder at a time (an ``flock`` on the folder); staging folders of a
  killed export are removed by the next one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from medenv.errors import MedenvError
from medenv.paths import fsync_dir, fsync_tree, remove_leftovers, replace_path, staging_in

try:
    import fcntl
except ImportError:  # not POSIX: no lock
    fcntl = None

# Every name an export writes in its folder.
EXPORT_NAMES = (
    "sft.jsonl",
    "sft_dataset",
    "sft_token_lengths.jsonl",
    "rl_prompts.jsonl",
    "browsecomp",
    "minari",
    "stats.json",
)
_STAGING = "export"  # staging folders: `partial_path(out / _STAGING)`


def names_for(formats: Iterable[str], *, hf: bool, tokenizer: str | None) -> set[str]:
    """The names an export of ``formats`` may write (``sft_dataset`` only with rows)."""
    names = {"stats.json"}
    for fmt in formats:
        if fmt == "sft":
            names |= {"sft.jsonl"} | ({"sft_dataset"} if hf else set())
            names |= {"sft_token_lengths.jsonl"} if tokenizer is not None else set()
        elif fmt == "rl":
            names.add("rl_prompts.jsonl")
        elif fmt in ("browsecomp", "minari"):
            names.add(fmt)
    return names


def _is_staging(name: str) -> bool:
    return name.startswith(f".{_STAGING}.") and name.endswith(".partial")


def claimed(out: Path) -> set[str]:
    """The names in ``out`` an earlier medenv export recorded writing (module docstring)."""
    try:
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(stats, dict):
        return set()
    if isinstance(stats.get("written"), list):
        return {n for n in stats["written"] if n in EXPORT_NAMES} | {"stats.json"}
    if {"recorded", "selected", "files"} <= stats.keys():  # an export from before the list
        return {n for n in EXPORT_NAMES if (out / n).exists()}
    return set()


def claim(out: Path, names: set[str]) -> tuple[set[str], list[str]]:
    """Check ``out`` before an export that may write ``names``: raise `MedenvError` when one
    of them is there but no earlier export claims it. Returns ``(claimed names, the other
    entries of the folder, left as they are)``."""
    if not out.is_dir():
        return set(), []
    ours = claimed(out)
    present = sorted(n for n in os.listdir(out) if not _is_staging(n))
    foreign = [n for n in present if n in names and n not in ours]
    if foreign:
        raise MedenvError(
            f"--out {out} holds {', '.join(foreign)}, which no medenv export there recorded "
            "writing (no stats.json lists it): medenv does not overwrite it; move it away or "
            "choose another folder"
        )
    return ours, [n for n in present if n not in ours and n not in names]


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the folder ``out`` (one export at a time); then
    remove staging folders that killed exports left. When the block raises, ``out`` is
    removed again if this call created it and it is still empty: a failed export into a
    new folder leaves no folder behind."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        for name in os.listdir(out):
            if _is_staging(name):
                shutil.rmtree(out / name, ignore_errors=True)
        yield
    except BaseException:
        if created:
            try:
                out.rmdir()  # only when empty: another export may have written since
            except OSError:
                pass
        raise
    finally:
        os.close(fd)  # releases the lock


def staging(out: Path):
    """A fresh staging folder inside ``out`` (`medenv.paths.staging_in`): removed when the
    block raises, an `OSError` then naming the file's place in ``out``."""
    return staging_in(out, _STAGING)


def commit(folder: Path, out: Path, ours: set[str]) -> list[str]:
    """Move the staged export ``folder`` into ``out``: flush it to disk, remove what an
    earlier export wrote and this one does not, move each new entry in (``stats.json``
    last), remove ``folder`` and flush ``out``. Returns the names removed."""
    written = {p.name for p in folder.iterdir()}
    fsync_tree(folder)  # on disk before the moves (`medenv.paths.in_temporary`)
    stale = sorted(ours - written)
    for name in stale:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for name in sorted(written, key=lambda n: n == "stats.json"):
        remove_leftovers(out / name)  # the ``.old`` of a commit killed midway
        replace_path(folder / name, out / name)
    folder.rmdir()
    fsync_dir(out)  # the moves survive a power loss
    return stale

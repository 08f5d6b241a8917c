"""The `medenv` command: one subcommand per module in `medenv.commands`.

Each command module exposes ``add_parser(subparsers)`` which registers its parser and sets
``func`` (called with the parsed namespace; returns an exit code). Command modules import
what they run at their top, so `main` imports only the command named on the line (all of
them for ``medenv --help`` or an unknown command).

Error contract: a `MedenvError` (a data error names its file and line), an `OSError`
(named with its file), a `duckdb.Error` (named with the ``--db`` store), a `RecursionError`
(input nested too deeply) and a `msgspec` decode/validation error are each printed as ONE
line on stderr (a DuckDB write of an output file that fails, e.g. on a full disk, names that
file, not the store), ``medenv COMMAND: error: ...``, with exit code 2, never as a traceback.
An option given an empty value (``--out "$UNSET"``) is such an error too (`empty_option`).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import re
import sys

import msgspec

from medenv.errors import MedenvError, clip_message

COMMANDS = (
    "kg", "synth", "corpus", "rollout", "runs", "replay", "export", "train", "eval", "demo",
    "events", "serve",
)  # fmt: skip


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of the command ``only`` alone."""
    parser = argparse.ArgumentParser(
        prog="medenv", description="Build, train and evaluate medical deep-research agents."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f"medenv.commands.{name}")
        except ModuleNotFoundError as exc:  # command not installed in this build
            if exc.name == f"medenv.commands.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    first = argv[0] if argv else None
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    flag = empty_option(parser, args)
    if flag is not None:
        print(f"medenv {args.command}: error: {flag} is empty (an unset shell variable?); "
              "give a value or leave the flag out", file=sys.stderr)  # fmt: skip
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = error_line(exc, args)
        if message is None:
            raise
        print(f"medenv {args.command}: error: {clip_message(message)}", file=sys.stderr)
        return 2


def _actions(parser: argparse.ArgumentParser):
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)


def empty_option(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """The first option given an empty value (``--out ""``, ``--qa=``), or None. An empty
    value was read as the current folder by some commands (``synth --out ""`` wrote the set
    into it) and as the default by others (``--qa ""``: the built-in set), silently."""
    for action in _actions(parser):
        if not action.option_strings or action.nargs is not None:
            continue  # positionals, flags without a value, optional values (--ray)
        value = getattr(args, action.dest, None)
        values = value if isinstance(value, list) else [value]
        if value != action.default and any(v == "" for v in values):
            return max(action.option_strings, key=len)
    return None


def _one_line(text: str) -> str:
    # one line, even when the message quotes a multi-line error of a library
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def error_line(exc: BaseException, args=None) -> str | None:
    """The one-line message for an error of the CLI's contract (module docstring), or None
    for anything else (a bug: its traceback is shown)."""
    if isinstance(exc, MedenvError):
        return _one_line(str(exc))
    if isinstance(exc, OSError):
        what = exc.strerror or type(exc).__name__
        files = [f for f in (exc.filename, exc.filename2) if f is not None]
        where = " -> ".join(str(f) for f in files)
        hint = " (disk full?)" if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else ""
        return f"{where}: {what}{hint}" if where else _one_line(f"{what}{hint}: {exc}")
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read (over Python's recursion limit)" + _db(args)
    if isinstance(exc, msgspec.MsgspecError):
        return _one_line(f"bad data: {exc}")
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(exc, duckdb.Error):
        written = _WRITE_FAILED.search(str(exc))
        if written:  # DuckDB writing an output (e.g. Parquet): not the store's fault
            path, why = written.groups()
            full = ("No space left", "File too large", "quota")  # ENOSPC, EFBIG, EDQUOT
            hint = " (disk full?)" if any(w in why for w in full) else ""
            return f"cannot write {path}: {why}{hint}"
        # e.g. a damaged (truncated, corrupt) event store reads fine until the damaged part
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"{first}{_db(args)} (is the event store damaged?)"
    return None


# DuckDB's message when a file it writes fails (its path JSON-escaped inside the message)
_WRITE_FAILED = re.compile(r'Could not write file \\?"(.+?)\\?": ([^"\\]+)')


def _db(args) -> str:
    db = getattr(args, "db", None)
    return f" [event store {db}]" if db else ""


if __name__ == "__main__":
    sys.exit(main())

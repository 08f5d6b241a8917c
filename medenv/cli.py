"""The `medenv` command: one subcommand per module in `medenv.commands`.

Each command module exposes ``add_parser(subparsers)`` which registers its parser and sets
``func`` (called with the parsed namespace; returns an exit code). A `MedenvError` is
printed as one line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from medenv.errors import MedenvError

COMMANDS = (
    "kg", "synth", "corpus", "rollout", "runs", "replay", "export", "train", "eval", "demo",
    "events", "serve",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medenv", description="Build, train and evaluate medical deep-research agents."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"medenv.commands.{name}")
        except ModuleNotFoundError as exc:  # command not installed in this build
            if exc.name == f"medenv.commands.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MedenvError as exc:
        # one line, even when the message quotes a multi-line error of a library
        message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"medenv {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0
    except Exception as exc:
        duckdb = sys.modules.get("duckdb")
        if duckdb is None or not isinstance(exc, duckdb.IOException):
            raise
        # a damaged (e.g. truncated) event store reads fine until the damaged part
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(
            f"medenv {args.command}: error: {message} (is the event store damaged?)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

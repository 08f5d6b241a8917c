"""Running `medenv` commands in tests."""

from __future__ import annotations


def cli_error(argv: list[str], capsys) -> tuple[str, str]:
    """Run ``medenv argv``; assert the user-error contract (exit code 2, exactly one line on
    stderr) and return ``(stdout, the error line)``."""
    from medenv.cli import main

    assert main(argv) == 2, argv
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return out, lines[0]

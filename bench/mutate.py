"""`make mutate`: mutation testing (mutmut 3) of the core modules, with a score per module.

Configuration is ``[tool.mutmut]`` in ``pyproject.toml``: ``only_mutate`` names the core
modules, ``pytest_add_cli_args_test_selection`` the test files that exercise them. mutmut
first runs those tests once and records which tests reach which function, then runs each
mutant against only the tests that reach its function.

    python -m bench.mutate                       # every core module (tens of minutes)
    python -m bench.mutate "medenv.reward*"      # mutants whose name matches the glob
    python -m bench.mutate --report              # only summarise the last run

A mutant is *killed* when a test fails, *survived* when every test passes, *timeout* when
the tests hang, *no tests* when no test reaches it. The score is detected / (detected +
survived + no tests + suspicious), where timeouts and crashes count as detected; mutants not
run yet are listed apart. Lines marked
``# pragma: no mutate`` are not mutated: use it only for an equivalent mutant (a change no
test could ever observe), with a comment saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def classify(code: int | None) -> str:
    """One mutant's outcome from its exit code, as mutmut itself names it."""
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[code]


def module_of(mutant: str) -> str:
    """``medenv.reward.x_compute_reward__mutmut_3`` -> ``medenv.reward``."""
    head = mutant.split("__mutmut_")[0]
    parts = head.split(".")
    while parts and (parts[-1].startswith("x_") or parts[-1].startswith("xǁ")):
        parts.pop()
    return ".".join(parts)


def collect(mutants_dir: Path) -> dict[str, Counter]:
    """Outcome counts per module from mutmut's ``*.meta`` files."""
    scores: dict[str, Counter] = {}
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            scores.setdefault(module_of(name), Counter())[classify(code)] += 1
    return scores


def score(counts: Counter) -> float | None:
    """Detected share of the mutants that ran; None when none ran (nothing measured)."""
    detected = counts["killed"] + counts["timeout"] + counts["segfault"]
    total = detected + counts["survived"] + counts["no tests"] + counts["suspicious"]
    return detected / total if total else None


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def table(scores: dict[str, Counter]) -> str:
    lines = [
        "| module | mutants | killed | survived | no tests | timeout | not run | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for module, c in sorted(scores.items()):
        lines.append(
            f"| `{module}` | {sum(c.values())} | {c['killed']} | {c['survived']} | "
            f"{c['no tests']} | {c['timeout']} | {c['not checked']} | {_percent(score(c))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mutate", description=__doc__.split("\n")[0])
    parser.add_argument("patterns", nargs="*", help="mutant-name globs (default: every core module)")
    parser.add_argument("--report", action="store_true", help="summarise the last run only")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel mutants")
    args = parser.parse_args(argv)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    if not args.report:
        # mutmut runs pytest in its own process, with mutants/ on PYTHONPATH: the folder must
        # exist before that process starts, or Python caches it as missing ("No module
        # named 'tests'" when the first run creates it)
        (ROOT / "mutants").mkdir(exist_ok=True)
        env = dict(os.environ, PYTHONPATH=str(ROOT / "mutants"))  # subprocess tests too
        cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs)]
        proc = subprocess.run(cmd + args.patterns, cwd=ROOT, env=env)
        if proc.returncode not in (0, 1):
            print(f"mutmut failed with exit code {proc.returncode}", file=sys.stderr)
            return proc.returncode
    mutants = ROOT / "mutants"
    if not mutants.is_dir():
        print("no mutmut run found: run `make mutate` first", file=sys.stderr)
        return 2
    scores = collect(mutants)
    wanted = {m.removesuffix(".py").replace("/", ".") for m in config.get("only_mutate", [])}
    scores = {m: c for m, c in scores.items() if not wanted or m in wanted}
    print(table(scores))
    survivors = subprocess.run(
        [sys.executable, "-m", "mutmut", "results"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    if survivors.strip():
        print("\nSurvivors (inspect one with `mutmut show NAME`):\n" + survivors)
    return 0


if __name__ == "__main__":
    sys.exit(main())

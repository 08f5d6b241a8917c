"""`python -m bench.summary` over real pytest-benchmark output (a tiny bench run for real)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import summary

ROOT = Path(__file__).resolve().parents[1]

TINY_BENCH = """
def bench_sum(benchmark, extra):
    result = benchmark(sum, range(1000))
    assert result == 499500
    extra(benchmark, items_per_s=1000 / benchmark.stats.stats.median, accuracy=0.75)


def bench_sorted(benchmark):
    benchmark(sorted, list(range(200, 0, -1)))
"""


def _without_xdist() -> dict[str, str]:
    """This process's environment less pytest-xdist's worker variables: pytest-benchmark
    disables itself in a run it takes for an xdist worker (``make test`` runs the suite
    under xdist)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("benchrun")
    (tmp / "bench_tiny.py").write_text(TINY_BENCH)
    out = tmp / "latest.json"
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(tmp / "bench_tiny.py"), "-q",
            "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "bench.conftest",
            "-o", "python_functions=bench_*", "--benchmark-only",
            "--benchmark-min-rounds=3", "--benchmark-max-time=0.05",
            f"--benchmark-json={out}", f"--rootdir={tmp}",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=_without_xdist(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_summary_table_lists_benchmarks_and_extra_info(results, capsys):
    assert summary.main(["--json", str(results)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["benchmark", "median", "ops/s", "rounds"]
    row = next(line for line in lines if "tiny::sum" in line)
    assert "accuracy 0.75" in row
    assert "items_per_s" in row
    assert any("tiny::sorted" in line for line in lines)
    data = json.loads(results.read_text())
    # the shared bench conftest recorded the machine
    assert data["machine_info"]["medenv"]["cpu_count"] >= 1
    assert "duckdb" in data["machine_info"]["medenv"]["versions"]
    assert "machine:" in text and "cores" in text


def test_summary_markdown_has_one_row_per_benchmark(results, capsys, tmp_path):
    out = tmp_path / "table.md"
    assert summary.main(["--json", str(results), "--markdown", "--out", str(out)]) == 0
    text = out.read_text()
    assert text == capsys.readouterr().out
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 2  # header, rule, two benchmarks
    assert "Measured on:" in text
    medians = [row.split("|")[2].strip() for row in table[2:]]
    assert all(m.split()[1] in ("s", "ms", "us", "ns") for m in medians)


def test_summary_reports_missing_or_bad_results(tmp_path, capsys):
    assert summary.main(["--json", str(tmp_path / "nope.json")]) == 2
    assert "do not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": 1}')
    assert summary.main(["--json", str(bad)]) == 2
    assert "no 'benchmarks' list" in capsys.readouterr().err


def test_number_and_time_formatting():
    assert summary.fmt_seconds(0.0123) == "12.3 ms"
    assert summary.fmt_seconds(2.5) == "2.5 s"
    assert summary.fmt_seconds(4.2e-6) == "4.2 us"
    assert summary.fmt_number(12345.6) == "12,346"
    assert summary.fmt_number(740000.0) == "7.4e+05"
    assert summary.fmt_number(1234.5) == "1,234"
    assert summary.fmt_number(100000) == "100,000"
    assert summary.fmt_number(0.5) == "0.5"

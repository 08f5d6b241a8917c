"""Shared fixtures for the benchmark suites (``bench/bench_<area>.py``).

- Records the machine the numbers were measured on (cores, memory, GPU, library versions)
  into pytest-benchmark's ``machine_info["medenv"]``, which ``python -m bench.summary``
  prints under the table.
- ``kg``: the real HPO graph (session scope, from the cache).
- ``bench_dir``: a session-scoped scratch folder for stores and indexes built by benches.
- ``extra``: ``extra(benchmark, **figures)`` records figures (steps/s, p50/p95 ms, accuracy)
  in ``benchmark.extra_info``, rounded, so the summary table shows them.

Run: ``make bench`` (or ``pytest bench -o python_files='bench_*.py' --benchmark-only``).
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MEDENV_HOME", str(ROOT / ".medenv"))

_VERSIONS = (
    "medenv",
    "duckdb",
    "tantivy",
    "whoosh-reloaded",
    "gymnasium",
    "torch",
    "transformers",
    "trl",
)


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _gpu() -> str | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:
        return None
    return None


def machine_figures() -> dict:
    versions = {}
    for name in _VERSIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "gpu": _gpu(),
        "platform": platform.platform(),
        "versions": versions,
    }


def pytest_configure(config):
    """``bench_*`` functions are benchmarks even without ``make bench``'s ``-o`` options,
    so one bench runs alone: ``pytest bench/bench_eval.py --benchmark-only -k NAME``."""
    functions = config.getini("python_functions")
    if "bench_*" not in functions:
        functions.append("bench_*")


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["medenv"] = machine_figures()


@pytest.fixture(scope="session")
def kg():
    """The default HPO knowledge graph (built once, then loaded from the cache)."""
    from medenv.kg.cache import load_kg

    return load_kg("hpo")


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench")


def _round(value):
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


@pytest.fixture
def extra():
    """``extra(benchmark, steps_per_s=..., p95_ms=...)``: record figures for the summary."""

    def record(benchmark, **figures) -> None:
        for key, value in figures.items():
            benchmark.extra_info[key] = _round(value)
        _FIGURES.append((benchmark.name, dict(benchmark.extra_info)))

    return record


_FIGURES: list[tuple[str, dict]] = []  # (bench name, figures) recorded this session


def pytest_terminal_summary(terminalreporter):
    """Print every bench's recorded figures (a bench run alone shows what it measured)."""
    if _FIGURES:
        terminalreporter.section("medenv figures")
        for name, figures in _FIGURES:
            terminalreporter.write_line(
                f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
            )

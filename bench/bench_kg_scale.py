"""KG scale (issue 19): a PrimeKG-shaped graph of ``MEDENV_KG_SCALE_EDGES`` edges (default
4,000,000; e.g. 50000 for a quick run) from the seeded generator `bench.kg_scale`, loaded
through ``--source edgelist``. Each figure is measured in a fresh process; wall and CPU
seconds (user + sys of that process), peak RSS (``VmHWM``) and the 1-minute load average
(the machine is shared) are recorded.

- ``bench_kg_scale_build``: `load_kg` with an empty cache (parse + build + write the
  cache). Target (4M): < 45 s.
- ``bench_kg_scale_cached_load``: `load_kg` from that cache (imports excluded from
  ``seconds``): the compact form (`medenv.kg.compact`). Target (4M): < 4 s. ``graph_s`` is
  the first use of ``kg.graph`` after it (building the networkx view), with the peak RSS
  after it: synthesis does not pay it (`medenv.synth.index` reads the edge arrays).
- ``bench_kg_scale_synth``: ``medenv synth --n 2000 --no-corpus`` on it (cache warm), the
  whole command (``MEDENV_KG_SCALE_SYNTH_N``; 20 below 1M edges). Target (4M): < 3 min.

Alone, without pytest (prints one JSON line per figure):

    python -m bench.bench_kg_scale [--edges 4000000] [--only build,load,synth]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bench.kg_scale import generate

ROOT = Path(__file__).resolve().parents[1]
EDGES = int(os.environ.get("MEDENV_KG_SCALE_EDGES", "4000000"))


def synth_n(edges: int) -> int:
    """Items asked of ``synth``: a small graph has too few seed entities for 2,000."""
    return int(os.environ.get("MEDENV_KG_SCALE_SYNTH_N", 2000 if edges >= 1_000_000 else 20))


_FIGURES = """
def _figures(t, c, **more):
    import json, os, resource, time
    ru = resource.getrusage(resource.RUSAGE_SELF)
    status = open("/proc/self/status").read()
    peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
    print(json.dumps({"seconds": time.perf_counter() - t, "cpu_s": time.process_time() - c,
                      "process_cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": peak,
                      "load_avg": os.getloadavg()[0], **more}))
"""
_LOAD = (
    _FIGURES
    + """
import sys, time
t, c = time.perf_counter(), time.process_time()
from medenv.kg.cache import load_kg
kg = load_kg("edgelist", sys.argv[1], progress=False)
_figures(t, c, nodes=kg.num_nodes, edges=kg.num_edges, compact=kg._graph is None)
if sys.argv[2] == "graph":
    t, c = time.perf_counter(), time.process_time()
    kg.graph  # the networkx view, built from the compact form on first use
    _figures(t, c)
"""
)
_SYNTH = (
    _FIGURES
    + """
import sys, time
t, c = time.perf_counter(), time.process_time()
from medenv.cli import main
code = main(sys.argv[1:])
_figures(t, c, exit=code)
"""
)


def _python(args: list[str], home: Path) -> list[dict]:
    """Run ``python args`` with ``MEDENV_HOME=home``; the JSON lines it printed last."""
    env = {**os.environ, "MEDENV_HOME": str(home), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def measure_build(csv: Path, home: Path) -> dict:
    for f in (home / "kg").glob("*"):
        f.unlink()
    return _python(["-c", _LOAD, str(csv), "-"], home)[-1]


def measure_load(csv: Path, home: Path, rounds: int = 3) -> dict:
    """The fastest of ``rounds`` cached loads, with the networkx view's build after it."""
    if not list(home.glob("kg/*.pkl")):
        _python(["-c", _LOAD, str(csv), "-"], home)  # builds the cache
    runs = [_python(["-c", _LOAD, str(csv), "graph"], home) for _ in range(rounds)]
    load, graph = min(runs, key=lambda r: r[0]["seconds"])
    return {**load, "graph_s": graph["seconds"], "graph_cpu_s": graph["cpu_s"],
            "graph_peak_rss_mb": graph["peak_rss_mb"]}  # fmt: skip


def measure_synth(csv: Path, home: Path, out: Path, n: int) -> dict:
    args = ["-c", _SYNTH, "synth", "--n", str(n), "--no-corpus", "--no-progress",
            "--source", "edgelist", "--path", str(csv), "--out", str(out)]  # fmt: skip
    figures = _python(args, home)[-1]
    manifest = json.loads((out / "manifest.json").read_text())
    return {**figures, "items": manifest["counts"]["items"]}


@pytest.fixture(scope="module")
def scale_csv(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("kg-scale") / f"primekg-like-{EDGES}.csv", EDGES)


@pytest.fixture(scope="module")
def scale_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kg-scale-home")


def _record(benchmark, extra, figures: dict) -> None:
    print(json.dumps(figures))
    extra(benchmark, **{k: v for k, v in figures.items() if isinstance(v, (int, float))})


def bench_kg_scale_build(benchmark, extra, scale_csv, scale_home):
    runs: list[dict] = []
    benchmark.pedantic(lambda: runs.append(measure_build(scale_csv, scale_home)), rounds=1)
    assert runs[-1]["edges"] == EDGES and runs[-1]["compact"]
    _record(benchmark, extra, {"bench": "build", **runs[-1]})


def bench_kg_scale_cached_load(benchmark, extra, scale_csv, scale_home):
    _python(["-c", _LOAD, str(scale_csv), "-"], scale_home)  # the cache (if build was skipped)
    runs: list[dict] = []
    benchmark.pedantic(lambda: runs.append(measure_load(scale_csv, scale_home, 1)), rounds=3)
    _record(benchmark, extra, {"bench": "cached_load", **min(runs, key=lambda r: r["seconds"])})


def bench_kg_scale_synth(benchmark, extra, scale_csv, scale_home, tmp_path):
    _python(["-c", _LOAD, str(scale_csv), "-"], scale_home)
    runs: list[dict] = []
    n = synth_n(EDGES)
    benchmark.pedantic(
        lambda: runs.append(measure_synth(scale_csv, scale_home, tmp_path / "qa", n)), rounds=1
    )
    assert runs[-1]["items"] == n
    _record(benchmark, extra, {"bench": "synth", "n": n, **runs[-1]})


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="KG-scale figures (see bench/bench_kg_scale.py)")
    p.add_argument("--edges", type=int, default=EDGES)
    p.add_argument("--only", default="build,load,synth")
    p.add_argument("--csv", help="an edge list already generated (default: generate one)")
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="kg-scale-") as tmp:
        folder = Path(tmp)
        csv = Path(args.csv) if args.csv else generate(folder / "kg.csv", args.edges)
        home = folder / "home"
        print(json.dumps({"edges": args.edges, "csv": str(csv)}), flush=True)
        if "build" in only:
            print(json.dumps({"bench": "build", **measure_build(csv, home)}), flush=True)
        if "load" in only:
            print(json.dumps({"bench": "cached_load", **measure_load(csv, home)}), flush=True)
        if "synth" in only:
            n = synth_n(args.edges)
            figures = measure_synth(csv, home, folder / "qa", n)
            print(json.dumps({"bench": "synth", "n": n, **figures}), flush=True)


if __name__ == "__main__":
    main()

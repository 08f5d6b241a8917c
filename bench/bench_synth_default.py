"""Cold synthesis of the default question set (issue 14: "built from a cold cache in under
3 minutes on the 2-core machine").

``bench_synth_default_cold``: a fresh process loads the KG and the world from their caches
(warm: building them is `bench_kg`/`bench_search`'s figure) and synthesizes the default set
afresh (`medenv.questions.default_synth_config`: 2,000 items, seed 0, obfuscation level
2, with the world's evidence, answerability and search-shortcut checks; no QA cache, no
shipped file) with ``--workers`` processes (`medenv.synth.parallel`; default one per
core). Prints ``medenv figures``: wall seconds (world load and synthesis apart), CPU
seconds of the parent and of its children during the load (cold: the forked half of the
corpus build, `medenv.corpus.forked`) and of the synthesis workers, peak RSS, and whether the items are
byte-identical to the set the package ships (they must be, for any worker count).

Run alone: ``python -m bench.bench_synth_default [--workers N] [--n N]``, or
``pytest bench/bench_synth_default.py -o python_files='bench_*.py'
-o python_functions='bench_*' --benchmark-only``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_PROBE = """
import gzip, hashlib, json, resource, sys, time
import msgspec
t0 = time.perf_counter()
from medenv.kg.cache import load_kg
from medenv.questions import default_synth_config
from medenv.shipped_qa import SHIPPED_DIR
from medenv.synth.parallel import default_workers
from medenv.synth.pipeline import synthesize
from medenv.world import load_world
n, workers = int(sys.argv[1]), int(sys.argv[2]) or default_workers()
kg = load_kg("hpo", progress=False)
world = load_world(progress=False)
world.load()
loaded = time.perf_counter() - t0
cpu0 = time.process_time()
kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t1 = time.perf_counter()
res = synthesize(kg, default_synth_config(n=n), world=world, progress=False, workers=workers)
synth_s = time.perf_counter() - t1
own = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
enc = msgspec.json.Encoder(order="deterministic")
fresh = b"".join(enc.encode(i) + b"\\n" for i in res.items)
shipped = gzip.decompress((SHIPPED_DIR / "hpo.jsonl.gz").read_bytes())
status = open("/proc/self/status").read()
m = res.manifest
print(json.dumps({
    "items": len(res.items), "workers": workers, "cores": default_workers(),
    "wall_s": time.perf_counter() - t0, "load_s": loaded, "synth_wall_s": synth_s,
    "load_cpu_parent_s": cpu0, "load_cpu_children_s": kids0.ru_utime + kids0.ru_stime,
    "synth_cpu_parent_s": time.process_time() - cpu0,
    "cpu_parent_s": own.ru_utime + own.ru_stime,
    "cpu_workers_s": kids.ru_utime + kids.ru_stime - kids0.ru_utime - kids0.ru_stime,
    "peak_rss_parent_mb": int(status.split("VmHWM:")[1].split()[0]) / 1024,
    "peak_rss_worker_mb": kids.ru_maxrss / 1024,
    "identical_to_shipped": fresh == b"\\n".join(shipped.splitlines()[:n]) + b"\\n",
    "sha256": hashlib.sha256(fresh).hexdigest(),
    "seeds_tried": m["counts"]["seeds_tried"],
    "mean_effective_hops": m["counts"]["mean_effective_hops"],
    "search_shortcut_rate": m["counts"]["search_shortcut_rate"],
}))
"""

WARM = "KG cache, corpus, search indexes and world memo (no QA set, no shipped file)"
COLD = "nothing: KG, corpus, search indexes and world built in the run (no QA set, no shipped file)"


def _caches() -> str:
    """What the run finds already built in ``$MEDENV_HOME``: `WARM` or `COLD`."""
    from medenv.paths import medenv_home

    home = medenv_home()
    built = all(any((home / part).glob("*")) for part in ("kg", "corpus", "index", "world"))
    return WARM if built else COLD


def run_probe(n: int = 2000, workers: int = 0) -> dict:
    """The probe's figures from a fresh process (``workers`` 0: one per core)."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(n), str(workers)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_synth_default_cold(benchmark, extra):
    figures = benchmark.pedantic(run_probe, rounds=1, iterations=1)
    assert figures["items"] == 2000
    assert figures["identical_to_shipped"], "the default set's synthesis drifted"
    extra(benchmark, **{k: v for k, v in figures.items() if not isinstance(v, str)})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--workers", type=int, default=0, help="0: one per core")
    args = p.parse_args(argv)
    warm = _caches()
    figures = run_probe(args.n, args.workers)
    print(f"medenv figures synth_default_cold (warm: {warm}): {json.dumps(figures)}")
    return 0 if figures["identical_to_shipped"] else 1


if __name__ == "__main__":
    sys.exit(main())

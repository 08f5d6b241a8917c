"""Reading events: the DuckDB store vs its Parquet export (zstd, partitioned by run).

A store of 1,000 oracle episodes (two runs) is exported with `export_parquet`; each bench
reads it one way: ``runs`` (the `medenv runs` summary query over the views) and
``episodes`` (`medenv.training.export.load_episodes`: every event, as SFT export reads them).
Reported: events, on-disk MB of each form, and the read time (the benchmark's median).
"""

from __future__ import annotations

import pytest
from medenv.agents.rollout import rollout
from medenv.training.export import load_episodes

from medenv.commands.runs import RUNS_SQL
from medenv.events.parquet import export_parquet
from medenv.events.store import connect


@pytest.fixture(scope="module")
def sources(bench_dir):
    db = bench_dir / "parquet-source.duckdb"
    rollout("oracle", episodes=600, db=db, seed=0, progress=False)
    rollout("oracle", episodes=400, db=db, seed=1, progress=False)
    out = bench_dir / "parquet-shards"
    summary = export_parquet(db, out)
    sizes = {
        "duckdb": db.stat().st_size / 2**20,
        "parquet": sum(p.stat().st_size for p in out.rglob("*.parquet")) / 2**20,
    }
    return {"duckdb": str(db), "parquet": str(out)}, summary["events"], sizes


def _runs(source):
    con = connect(source)
    try:
        return con.execute(RUNS_SQL).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("form", ["duckdb", "parquet"])
@pytest.mark.parametrize("query", ["runs", "episodes"])
def bench_read_events(benchmark, extra, sources, form, query):
    paths, events, sizes = sources
    fn = _runs if query == "runs" else load_episodes
    result = benchmark.pedantic(fn, args=(paths[form],), rounds=3, iterations=1)
    assert len(result) == (2 if query == "runs" else 1000)
    extra(benchmark, events=events, mb_on_disk=sizes[form],
          read_ms=benchmark.stats.stats.median * 1000)  # fmt: skip

"""Cross-source synthesis on HPO + the shared Hetionet slice (issue 16's acceptance run).

``bench_cross_source_500``: 500 items with ``min_crossings=1`` on the aligned merged graph
and its corpus world (evidence + answerability), then, outside the timing: every item's
crossings re-derived from the single-source graphs, its uniqueness re-verified by the test
suite's independent path query and by `resolve_chain`, its evidence recomputed, and the
oracle run on all 500 through the env. Records items/s, drops, crossings, answer types,
the share verified and the oracle's accuracy.

Run: ``pytest bench/bench_cross.py -o python_files='bench_*.py' -o python_functions='bench_*'
--benchmark-only`` (needs ``../shared/data``; the merged world is built on first use).
"""

from __future__ import annotations

import os
from collections import Counter
from functools import partial
from pathlib import Path

import pytest

from medenv.corpus.answerability import hop_evidence
from medenv.kg.cache import load_kg
from medenv.synth import SynthConfig, resolve_chain, synthesize
from tests.test_synth import _admitted
from tests.test_synth_cross import _stated_by

ROOT = Path(__file__).resolve().parents[1]
SLICE = Path(os.environ.get("MEDENV_SHARED_DATA", ROOT.parent / "shared" / "data")) / (
    "hetionet-slice"
)
ANSWER_TYPES = (
    "disease",
    "gene",
    "phenotype",
    "compound",
    "pathway",
    "anatomy",
    "symptom",
    "pharmacologic_class",
)


def bench_cross_source_500(benchmark, bench_dir, extra):
    if not SLICE.is_dir():
        pytest.skip(f"{SLICE} is missing")
    from medenv.agents.rollout import rollout

    from medenv.world import load_world

    factory = partial(load_world, "hpo+hetionet", path={"hetionet": SLICE}, progress=False)
    world = factory()
    config = SynthConfig(n=500, seed=0, min_crossings=1, answer_types=ANSWER_TYPES)
    result = benchmark.pedantic(
        lambda: synthesize(world.kg, config, world=world, progress=False), rounds=1, iterations=1
    )
    items, kg = result.items, world.kg
    parts = {"hpo": load_kg("hpo"), "hetionet": load_kg("hetionet", SLICE, progress=False)}
    by_name: dict[str, set[str]] = {}
    for node_id, node in kg.graph.nodes(data="node"):
        for label in (node.name, *node.synonyms):
            by_name.setdefault(label.casefold(), set()).add(node_id)
    crossings: Counter[int] = Counter()
    verified = 0
    for item in items:
        hops = []
        for hop in item.hops:
            s, t = (hop.tail, hop.head) if hop.inverse else (hop.head, hop.tail)
            hops.append(_stated_by(kg, parts, s, t, hop.relation))
        crossings[sum(a.isdisjoint(b) for a, b in zip(hops, hops[1:], strict=False))] += 1
        verified += (
            _admitted(kg.graph, by_name, item) == {item.answer_id}
            and resolve_chain(kg, item) == {item.answer_id}
            and bool(item.evidence)
            and item.evidence == hop_evidence(world, item)
        )
    oracle = rollout(
        "oracle",
        qa=items,
        db=bench_dir / "cross-oracle.duckdb",
        env_kwargs={"world": factory, "source": "hpo+hetionet"},
        progress=False,
    )
    m = result.manifest
    extra(
        benchmark,
        items=len(items),
        items_per_s=len(items) / m["elapsed_s"],
        seeds_tried=m["counts"]["seeds_tried"],
        drops=m["drops"],
        crossings=dict(sorted(crossings.items())),
        answer_types=m["counts"]["by_answer_type"],
        pharmacology=m["counts"]["by_specialty"].get("pharmacology", 0),
        verified_share=verified / len(items),
        oracle_accuracy=oracle.accuracy,
        oracle_mean_calls=oracle.mean_tool_calls,
    )
    assert len(items) == 500 and crossings[0] == 0
    assert verified == len(items)
    assert oracle.accuracy >= 0.95

"""Synthesis in worker processes (`medenv.synth.parallel`) gives the same set as in one.

A seed's outcome is a pure function of the run's settings and the seed
(`medenv.synth.seedwork`); the parent merges the workers' outcomes in seed order and
replays deduplication. Checked on the real HPO graph: the items and every manifest count
are equal for 1, 2 and 3 workers; the continuation after a worker's passing item turns
out to be a duplicate equals the sequential walk over the same attempts; bad worker
counts are one line (exit 2 on the CLI) before anything is loaded.
"""

from __future__ import annotations

import msgspec
import pytest

from medenv.cli import main
from medenv.errors import MedenvError
from medenv.synth import SynthConfig, synthesize
from medenv.synth.dedup import Deduplicator
from medenv.synth.lexicon import BUILTIN
from medenv.synth.parallel import check_workers, default_workers
from medenv.synth.rarity import seed_order
from medenv.synth.seedwork import SeedWork, replay

CONFIG = SynthConfig(n=12, seed=3, obfuscation=2)


def _canonical(result) -> tuple[list[bytes], dict]:
    manifest = dict(result.manifest)
    manifest.pop("elapsed_s")
    return [msgspec.json.encode(i) for i in result.items], manifest


@pytest.fixture(scope="module")
def one_process(compact_kg):
    return _canonical(synthesize(compact_kg, CONFIG, progress=False, workers=1))


@pytest.mark.parametrize("workers", [3])
def test_the_items_and_manifest_do_not_depend_on_the_worker_count(compact_kg, one_process, workers):
    items, manifest = _canonical(synthesize(compact_kg, CONFIG, progress=False, workers=workers))
    assert items == one_process[0]
    assert manifest == one_process[1]
    assert len(items) == CONFIG.n and manifest["counts"]["seeds_tried"] > CONFIG.n


def test_a_duplicate_from_a_worker_continues_as_the_sequential_walk(compact_kg):
    """Pre-seed the deduplicator with the item a seed would give, then compare the
    worker path (its attempts up to that item, then the rest computed afresh) with a
    plain in-order walk over every attempt of the seed."""
    work = SeedWork(compact_kg, CONFIG, BUILTIN)
    checked = 0
    for seed_id, _ in seed_order(work.index, seed=CONFIG.seed, seed_types=CONFIG.seed_types,
                                 hub_degree=CONFIG.hub_degree, rare_share=CONFIG.rare_share,
                                 rare_fraction=CONFIG.rare_fraction):  # fmt: skip
        outcome = work.outcome(seed_id)
        if outcome.complete:
            continue  # no passing attempt: nothing to be a duplicate of
        passing = outcome.attempts[-1]
        assert passing.final is not None and passing.reason is None
        # the worker path, with that item already taken
        dedup = Deduplicator(CONFIG.near_duplicate)
        dedup.add(passing.item)
        reason, kept = replay(outcome.attempts, dedup)
        assert kept is None and reason == "duplicate"
        _, plan = work.plan(seed_id)
        reason, kept = replay(work.run(plan, len(outcome.attempts)), dedup, reason)
        # the sequential path over every attempt, same starting state
        fresh = Deduplicator(CONFIG.near_duplicate)
        fresh.add(passing.item)
        want_reason, want = None, None
        for att in work.run(plan):
            if att.item is None:
                want_reason = att.reason
            elif fresh.is_duplicate(att.item):
                want_reason = "duplicate"
            elif att.reason is not None:
                want_reason = att.reason
            else:
                want = att
                break
        assert (kept is None) == (want is None)
        if want is None:
            assert reason == want_reason
        else:
            assert kept.final == want.final and kept.final.chain != passing.item.chain
        checked += 1
        if checked == 2:
            break
    assert checked == 2


@pytest.mark.parametrize("bad", [0, -2, True, "2", 1.5])
def test_bad_worker_counts_are_one_error(bad):
    with pytest.raises(MedenvError, match="workers must be a positive integer"):
        check_workers(bad)


def test_a_huge_worker_count_is_refused_not_forked():
    """``--workers 10**12`` forked until the process table was full (the command hung)."""
    from medenv.forking import max_workers

    assert check_workers(max_workers()) == max_workers() >= 64
    with pytest.raises(MedenvError, match="more processes than this machine runs usefully"):
        check_workers(max_workers() + 1)


def test_worker_count_defaults_to_the_cores():
    assert check_workers(None) == default_workers() >= 1
    assert check_workers(3) == 3


def test_cli_refuses_a_bad_worker_count_before_loading(tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["synth", "--n", "5", "--workers", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "workers must be a positive integer, got 0" in err[0]
    assert not out.exists()

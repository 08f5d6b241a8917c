"""Seed outcomes (`medenv.synth.seedwork.SeedOutcome`) from worker processes, in seed order.

`pooled_outcomes(work, seed_ids, workers)` forks ``workers`` processes after the parent
has built the run's shared state (`SeedWork`: graph index, describer, loaded world), so
the children share its pages copy-on-write and build nothing; each computes
`SeedWork.outcome` for the seeds it is handed, and the parent reads the outcomes in seed
order (`multiprocessing.Pool.imap`). A seed's outcome is a pure function of the run's
settings and the seed (`medenv.synth.seedwork`), so the items are the same for any
number of workers. Forking is used only where it is safe (Linux, as
`medenv.forking.fork_safe`); elsewhere, and for one worker, `usable_workers` says 1
and the caller computes in-process.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from medenv.forking import check_worker_count, cores, fork_safe, terminable_pool
from medenv.synth.seedwork import SeedOutcome, SeedWork

CHUNK = 4  # seeds handed to a worker at a time (a seed takes ~0.05-1 s)

_WORK: SeedWork | None = None  # the parent's state, inherited by the forked workers


def default_workers() -> int:
    """The CPU cores this process may use."""
    return cores()


def check_workers(workers: int | None) -> int:
    """``workers`` (None: `default_workers`); `MedenvError` unless 1 to
    `medenv.forking.max_workers`."""
    if workers is None:
        return default_workers()
    return check_worker_count(workers, "workers")


def usable_workers(workers: int, work: SeedWork) -> int:
    """1 where worker processes cannot be used: one asked for, no fork (macOS, Windows),
    a daemonic process (a pool's worker may not start children), or a rewrite hook (a
    model or a client with state stays in this process)."""
    if workers <= 1 or not fork_safe() or work.rewrite is not None:
        return 1
    if mp.current_process().daemon:
        return 1
    return workers


def _outcome(seed_id: str) -> SeedOutcome:
    assert _WORK is not None, "a synthesis worker started without its parent's state"
    return _WORK.outcome(seed_id)


@contextmanager
def pooled_outcomes(
    work: SeedWork, seed_ids: Sequence[str], workers: int
) -> Iterator[Iterator[SeedOutcome]]:
    """The outcomes of ``seed_ids`` in order, from ``workers`` forked processes; the
    workers are stopped on leaving the block (the caller reads only as many as it needs)."""
    global _WORK
    _WORK = work
    try:
        pool = terminable_pool(mp.get_context("fork"), workers)
    except BaseException:
        _WORK = None
        raise
    try:
        yield pool.imap(_outcome, seed_ids, chunksize=CHUNK)
    finally:
        pool.terminate()
        pool.join()
        _WORK = None

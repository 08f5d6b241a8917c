"""Worker processes start from a parent that has loaded the world (fork on Linux)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from medenv.events.store import connect
from medenv.workers import make_vector_env, preload_world, start_method, worker_context


@pytest.fixture(scope="module")
def items():
    from medenv.questions import default_qa_set
    from medenv.synth.io import read_qa_set

    return [it for it in read_qa_set(default_qa_set(progress=False)) if it.split == "test"][:4]


def test_start_method_forks_on_linux_except_for_model_agents():
    linux = sys.platform.startswith("linux")
    assert start_method("oracle") == ("fork" if linux else "spawn")
    assert start_method("llm") == "spawn"  # torch / vLLM threads are never forked


def _child_sees_world(queue) -> None:
    from medenv import world

    queue.put(sorted(world._WORLDS))  # what the child has without loading anything


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is Linux-only here")
def test_forked_worker_starts_with_the_parents_world():
    preload_world({})
    ctx = worker_context("oracle")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_sees_world, args=(queue,))
    proc.start()
    keys = queue.get(timeout=60)
    proc.join(timeout=60)
    assert ("hpo", "tantivy", 0) in [tuple(k[:3]) for k in keys]


def test_vector_env_workers_record_their_own_shards(items, tmp_path):
    db = tmp_path / "vec.duckdb"
    envs = make_vector_env(2, qa=items, db=str(db), max_steps=3)
    try:
        obs, infos = envs.reset(seed=[1, 2])
        assert len(obs) == 2 and all("Question:" in o for o in obs)
        obs, rewards, terminated, truncated, infos = envs.step(("<answer>nothing</answer>",) * 2)
        assert np.all(terminated) and np.all(rewards < 1.0)  # a wrong answer ends each one
    finally:
        envs.close()
    con = connect(db)
    try:
        runs, writers = con.execute("SELECT count(*), sum(n_writers) FROM runs").fetchone()
        started = con.execute("SELECT count(*) FROM episodes").fetchone()[0]
    finally:
        con.close()
    assert (runs, writers) == (1, 2) and started == 2  # one run, a shard per worker


class _Cycle:
    """A garbage cycle whose finaliser reports which process freed it."""

    def __init__(self, freed):
        self.me = self
        self.freed = freed

    def __del__(self):
        self.freed.put(("freed", __import__("os").getpid()))


def _child_collects(freed) -> None:
    import gc

    gc.collect()
    freed.put(("done", __import__("os").getpid()))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is Linux-only here")
def test_forked_child_never_frees_the_cycles_it_inherited():
    """Inherited cycles (torch models, DuckDB connections) must not be finalised in a forked
    child, where their deallocators crash it; the parent still frees them itself."""
    import gc

    import medenv  # noqa: F401  (registers the after-fork hook)

    ctx = worker_context("oracle")
    freed = ctx.Queue()
    gc.disable()  # keep the cycle alive as garbage until the fork
    try:
        _Cycle(freed)
        proc = ctx.Process(target=_child_collects, args=(freed,))
        proc.start()
        proc.join(60)
        child_messages = [freed.get(timeout=10)]
        assert child_messages == [("done", proc.pid)]
        gc.collect()
        assert freed.get(timeout=10)[0] == "freed"  # the parent frees it
    finally:
        gc.enable()

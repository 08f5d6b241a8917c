"""`medenv.forking.terminable_pool`: a pool forked from a process with its own SIGTERM handler
(a Ray actor's: `medenv.distributed.NodeRollout`, `synth --ray`) still terminates.

Without it, `Pool.terminate` signals workers that inherited the parent's handler
and live on, blocked on the task queue's lock the terminating parent holds; the parent's join
then waits forever (seen as a hung `tests/test_ray.py` in a CI run)."""

import subprocess
import sys
import textwrap

import pytest

from medenv.forking import fork_safe

SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, signal, sys
    from medenv.forking import terminable_pool
    signal.signal(signal.SIGTERM, lambda *args: None)  # the parent's own handler
    for _ in range(30):  # terminated at once: some workers are still starting up
        pool = terminable_pool(mp.get_context("fork"), 4)
        pool.map(abs, range(6))
        pool.terminate()
        pool.join()
    print("terminated")
    """
)


@pytest.mark.skipif(not fork_safe(), reason="fork pools are Linux-only in medenv")
def test_a_pool_under_a_parent_sigterm_handler_terminates():
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:  # the process ignores SIGTERM; run() kills it
        pytest.fail("Pool.terminate hung: a worker outlived SIGTERM")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "terminated"


# A SIGTERM that comes before a worker's first instruction: every child sleeps in an at-fork
# hook that runs before medenv's (registered first), with the parent's handler still in
# place, and the pool is terminated at once. Taken by that handler, the signal would be gone.
EARLY = textwrap.dedent(
    """
    import multiprocessing as mp, os, signal, time
    os.register_at_fork(after_in_child=lambda: time.sleep(0.3))
    from medenv.forking import terminable_pool
    signal.signal(signal.SIGTERM, lambda *args: None)
    for _ in range(2):
        pool = terminable_pool(mp.get_context("fork"), 3)
        pool.terminate()
        pool.join()
    print("terminated")
    """
)


@pytest.mark.skipif(not fork_safe(), reason="fork pools are Linux-only in medenv")
def test_a_terminate_before_the_workers_first_instruction_ends_them():
    try:
        done = subprocess.run(
            [sys.executable, "-c", EARLY], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.fail("Pool.terminate hung: a SIGTERM sent right after the fork was lost")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "terminated"

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

"""A rollout over worker processes: `run_in_processes` and the workers' plumbing.

Workers are forked from the rollout's process once it has loaded the world (on Linux;
spawned for model agents: `medenv.workers`), each running `run_jobs` on every
``workers``-th job with its own env and store shard. A worker dies with its parent
(`die_with_parent`); an error of the CLI's contract comes back as one line on the queue
(``("error", message)``), never as a traceback; a worker that exits without reporting the
end of its jobs fails the rollout with its exit code. Either way the other workers are
stopped and a rerun of the same command resumes.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medenv.agents.episode_loop import run_jobs
from medenv.agents.jobs import Job

from medenv.cli import error_line
from medenv.errors import MedenvError
from medenv.workers import preload_world, start_method

PR_SET_PDEATHSIG = 1  # linux/prctl.h
RESUME = "rerun the same command to resume"


def die_with_parent(parent_pid: int) -> None:
    """Make this (worker) process die when ``parent_pid`` does: on Linux the kernel's
    parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and everywhere a daemon
    thread that polls ``os.getppid()`` twice a second (the fallback, and the check for a
    parent that died before the signal was set)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the thread remains
            pass
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="medenv-parent-watch", daemon=True).start()


def worker_main(args: tuple, parent_pid: int | None = None) -> None:
    """A worker process: dies with its parent; an error of the CLI's contract goes to the
    parent as one line (``("error", message)`` on the queue), never as a traceback."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    queue = args[7]
    try:
        run_jobs(*args)
    except Exception as exc:
        message = error_line(exc)
        if message is None:
            raise
        queue.put(("error", f"worker {args[0]}: {message}"))
        sys.exit(2)


def run_in_processes(
    workers: int,
    agent: str,
    factory: Any,
    items: list,
    jobs: list[Job],
    db: Path,
    env_kwargs: dict,
    tags: dict,
    record: Callable[[bool, int], None],
) -> None:
    """Run ``jobs`` over ``workers`` processes (shard ``w`` takes ``jobs[w::workers]``),
    calling ``record(correct, calls)`` here as each episode ends."""
    method = start_method(agent)
    if method == "fork":  # workers start with the world loaded (medenv.workers)
        preload_world(env_kwargs)
    ctx = mp.get_context(method)
    queue = ctx.Queue()
    procs: list = []
    try:
        for w in range(workers):
            args = (w, factory, items, jobs[w::workers], db, env_kwargs, tags, queue)
            p = ctx.Process(target=worker_main, args=(args, os.getpid()), daemon=True)
            p.start()
            procs.append(p)
        running = workers
        while running:
            try:
                msg = queue.get(timeout=5)
            except Exception:  # queue.Empty: check for dead workers
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if not dead and all(p.exitcode is not None for p in procs):
                    dead = procs  # all exited without reporting the end of their jobs
                if dead:
                    raise MedenvError(
                        f"rollout worker exited with code {dead[0].exitcode}; {RESUME}"
                    ) from None
                continue
            if msg is None:
                running -= 1
            elif msg[0] == "error":
                raise MedenvError(f"rollout {msg[1]}; {RESUME}")
            else:
                record(*msg)
        for p in procs:
            p.join()
    finally:
        for p in procs:  # after an error: stop the other workers too
            if p.is_alive():
                p.terminate()
                p.join(5)

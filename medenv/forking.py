"""Where a process that has loaded the world may be forked: Linux. macOS and Windows
cannot fork safely, so their workers are spawned or the work stays in-process. Kept free
of heavy imports so that `medenv.synth.parallel` and `medenv.workers` share it.

`beside(child, parent)` runs two halves of one job at once: ``child`` in a forked process
(it sees the parent's memory as it was at the fork, copy-on-write) and ``parent`` here.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import TypeVar

from medenv.errors import MedenvError

FORK_SAFE_PLATFORMS = ("linux",)
T = TypeVar("T")
_OK, _FAILED = b"\x00", b"\x01"


def fork_safe() -> bool:
    """Whether this platform may fork a parent that holds loaded state."""
    return sys.platform.startswith(FORK_SAFE_PLATFORMS)


def can_fork_child() -> bool:
    """Whether this process may fork a child now: a fork-safe platform, and not a daemonic
    process (a `multiprocessing` pool's worker may not start children)."""
    return fork_safe() and not mp.current_process().daemon


def cores() -> int:
    """The CPU cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def max_workers() -> int:
    """The most worker processes a command starts: 8 per core, at least 64 (more only wait
    for a core, each holding its memory; a huge ``--workers`` would fork until the system's
    process table is full)."""
    return max(64, 8 * cores())


def check_worker_count(workers: int, flag: str = "--workers") -> int:
    """``workers`` when it is 1 to `max_workers`; else a `MedenvError` naming ``flag``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise MedenvError(f"{flag} must be a positive integer, got {workers!r}")
    if workers > max_workers():
        raise MedenvError(
            f"{flag} {workers:,} is more processes than this machine runs usefully "
            f"({cores()} cores: at most {max_workers()})"
        )
    return workers


_POOL_FORKS = 0  # > 0 while `terminable_pool` forks its first workers
_SIGTERM = {signal.SIGTERM}
_MASK: list[set] = []  # the forking thread's signal mask before `_block_sigterm`


def _block_sigterm() -> None:
    """Before a pool's fork: SIGTERM is held (pending, not lost) until the child has the
    default action, so a terminate that comes before the child's first instruction ends it."""
    if _POOL_FORKS:
        _MASK.append(signal.pthread_sigmask(signal.SIG_BLOCK, _SIGTERM))


def _unblock_in_parent() -> None:
    if _POOL_FORKS and _MASK:
        signal.pthread_sigmask(signal.SIG_SETMASK, _MASK.pop())


def _default_sigterm_in_child() -> None:
    if _POOL_FORKS:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGTERM)  # a pending one ends it now


if hasattr(os, "register_at_fork") and hasattr(signal, "pthread_sigmask"):
    os.register_at_fork(
        before=_block_sigterm,
        after_in_parent=_unblock_in_parent,
        after_in_child=_default_sigterm_in_child,
    )


def default_sigterm() -> None:
    """A pool's ``initializer``: SIGTERM ends this worker (the default action)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGTERM)


def terminable_pool(ctx, processes: int):
    """``ctx.Pool(processes)`` whose workers end on SIGTERM from their first instruction.

    A worker forked from a process with its own Python SIGTERM handler (a Ray actor's)
    inherits that handler, which does not end it: `Pool.terminate` then signals a worker
    that lives on, blocked on the task queue's lock that the terminating parent holds, and
    the parent's join waits forever. SIGTERM is blocked across the fork and the handler
    reset in the child right after it, then unblocked there (a signal sent before the
    child ran its first instruction stays pending and ends it: with the Python handler
    still installed it would be taken and dropped); not only in the pool's
    ``initializer``, which a worker still starting up has not run yet when the signal
    comes. The initializer covers workers the pool forks later."""
    global _POOL_FORKS
    _POOL_FORKS += 1
    try:
        return ctx.Pool(processes, initializer=default_sigterm)
    finally:
        _POOL_FORKS -= 1


def beside(child: Callable[[], bytes], parent: Callable[[], T], what: str) -> tuple[bytes, T]:
    """``(child(), parent())``, the two computed at once: ``child`` in a forked process,
    ``parent`` in this one. Contract: ``child`` returns bytes (its result crosses a pipe);
    an exception in ``child``, or a child that dies without answering, raises one
    `MedenvError` here naming ``what`` and the child's error (after ``parent`` returns,
    or at once if ``parent`` raises: then the child is killed and ``parent``'s exception
    propagates). The child never outlives the call. Use only where `can_fork_child`."""
    ctx = mp.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)

    def run() -> None:
        reader.close()
        try:
            answer = _OK + child()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, then exit
            last = traceback.extract_tb(exc.__traceback__)[-1:]
            where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
            answer = _FAILED + f"{type(exc).__name__}: {exc}{where}".encode()
        writer.send_bytes(answer)
        writer.close()

    proc = ctx.Process(target=run, name=f"medenv {what}", daemon=True)
    proc.start()
    writer.close()  # the child holds the only write end: its death ends the pipe
    try:
        mine = parent()
        try:
            answer = reader.recv_bytes()
        except EOFError:
            proc.join()
            raise MedenvError(
                f"{what} failed: its worker process died without an answer "
                f"(exit code {proc.exitcode})"
            ) from None
        proc.join()
    finally:
        reader.close()
        if proc.is_alive():  # ``parent`` raised: the child's half is not wanted
            proc.kill()
            proc.join()
    if answer[:1] != _OK:
        raise MedenvError(f"{what} failed in its worker process: {answer[1:].decode()}")
    return answer[1:], mine

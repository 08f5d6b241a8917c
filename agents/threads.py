"""How many CPU threads torch uses for training and evaluation.

torch starts one intra-op thread per core. On a small machine shared with other work
(the 2-core boxes medenv is developed on) two threads contend with everything else: an
SFT step of the tiny model took ~3 s with torch's default two threads against 0.3-0.5 s
with one (issue 21). `default_threads` is therefore 1 on machines with at most 2 cores and
half the cores (at most 8) above that; ``threads`` in the trainer configs and
``--threads`` on ``medenv train`` override it, and ``MEDENV_THREADS`` overrides the default.
"""

from __future__ import annotations

import os

from medenv.errors import MedenvError
from medenv.forking import max_workers


def default_threads(cores: int | None = None) -> int:
    """1 on <= 2 cores, else half the cores (at most 8); ``MEDENV_THREADS`` wins if set."""
    env = os.environ.get("MEDENV_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise MedenvError(f"MEDENV_THREADS must be a whole number, got {env!r}") from None
        return check_threads(n, "MEDENV_THREADS")
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return 1 if cores <= 2 else min(cores // 2, 8)


def check_threads(threads: int | None, flag: str = "--threads") -> int | None:
    """``threads`` when None or 1 to `medenv.forking.max_workers`; else a `MedenvError`
    naming ``flag`` (torch raised ``Overflow when unpacking long`` for 10**12)."""
    if threads is not None:
        if threads < 1:
            raise MedenvError(f"{flag} must be at least 1, got {threads}")
        if threads > max_workers():
            raise MedenvError(
                f"{flag} must be at most {max_workers()} (8 per core, 64 at least), got {threads}"
            )
    return threads


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op thread count (``None``: `default_threads`); returns it."""
    import torch

    n = default_threads() if threads is None else int(threads)
    check_threads(n)
    torch.set_num_threads(n)
    return n

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


def default_threads(cores: int | None = None) -> int:
    """1 on <= 2 cores, else half the cores (at most 8); ``MEDENV_THREADS`` wins if set."""
    env = os.environ.get("MEDENV_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise MedenvError(f"MEDENV_THREADS must be a whole number, got {env!r}") from None
        if n < 1:
            raise MedenvError(f"MEDENV_THREADS must be at least 1, got {n}")
        return n
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return 1 if cores <= 2 else min(cores // 2, 8)


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op thread count (``None``: `default_threads`); returns it."""
    import torch

    n = default_threads() if threads is None else int(threads)
    if n < 1:
        raise MedenvError(f"--threads must be at least 1, got {n}")
    torch.set_num_threads(n)
    return n

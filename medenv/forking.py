"""Where a process that has loaded the world may be forked: Linux. macOS and Windows
cannot fork safely, so their workers are spawned or the work stays in-process. Kept free
of heavy imports so that `medenv.synth.parallel` and `medenv.workers` share it."""

from __future__ import annotations

import sys

FORK_SAFE_PLATFORMS = ("linux",)


def fork_safe() -> bool:
    """Whether this platform may fork a parent that holds loaded state."""
    return sys.platform.startswith(FORK_SAFE_PLATFORMS)

"""`raise_gc_thresholds`: the cyclic garbage collector's thresholds while an env steps."""

from __future__ import annotations

import gc
import os

# The world lives in the GC's permanent generation (`medenv.world` freezes it once loaded);
# a step still allocates a few thousand objects, so at the default young threshold (700)
# collections run several times a step, and the older ones hold the tail of step latency.
# While an env exists the thresholds are at least these; ``MEDENV_GC_TUNE=0`` keeps
# Python's own, and a process that disabled collection (threshold 0) is left alone.
GC_THRESHOLDS = (20_000, 20, 20)


def raise_gc_thresholds() -> None:
    """Raise the cyclic GC's thresholds to at least `GC_THRESHOLDS` (see there)."""
    current = gc.get_threshold()
    if os.environ.get("MEDENV_GC_TUNE", "1") == "0" or current[0] == 0:
        return
    gc.set_threshold(*(max(c, t) for c, t in zip(current, GC_THRESHOLDS, strict=True)))

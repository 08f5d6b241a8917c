"""How many examples the costliest property tests draw.

The default (``make test``, CI) draws a smaller, derandomized sample that still meets every
coverage assertion of its test (each error kind, a truncated 1 MB action, ...);
``MEDENV_HYPOTHESIS=thorough`` draws the full count, e.g. before a release or after a change
to the parser or the env step::

    MEDENV_HYPOTHESIS=thorough pytest tests/test_actions_property.py
"""

from __future__ import annotations

import os

THOROUGH = os.environ.get("MEDENV_HYPOTHESIS", "").strip().lower() == "thorough"


def examples(full: int, quick: int) -> int:
    """``full`` under ``MEDENV_HYPOTHESIS=thorough``, else ``quick``."""
    return full if THOROUGH else quick

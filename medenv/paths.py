"""Where medenv keeps what it builds: ``$MEDENV_HOME`` (default ``~/.cache/medenv``)."""

from __future__ import annotations

import os
from pathlib import Path


def medenv_home() -> Path:
    """The cache/data folder, created on first use."""
    home = Path(os.environ.get("MEDENV_HOME") or Path.home() / ".cache" / "medenv")
    home.mkdir(parents=True, exist_ok=True)
    return home

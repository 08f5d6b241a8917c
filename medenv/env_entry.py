"""`make_env`: the entry point ``gym.make("MedResearch-v0", ...)`` calls.

It checks the arguments gymnasium's own ``make`` would otherwise trip over, or that the env
takes before anything is loaded, then builds a `medenv.env.MedResearchEnv`. Being a function
(no ``metadata``), it makes gymnasium skip its own ``render_mode`` check, which failed with
gymnasium's traceback (``render_mode=5``: AttributeError ``'int' object has no attribute
'endswith'``) or a warning before the env's error. Contract: for any kwargs, either an env
or one `MedenvError` naming the argument (or gymnasium's TypeError for an unknown keyword).
"""

from __future__ import annotations

from typing import Any

from medenv.env import MedResearchEnv
from medenv.env_config import check_render_mode


def make_env(**kwargs: Any) -> MedResearchEnv:
    """`MedResearchEnv(**kwargs)` once ``render_mode`` is None or a mode the env renders (the
    env checks its other arguments itself, ``shard`` included)."""
    check_render_mode(kwargs.get("render_mode"), MedResearchEnv.metadata["render_modes"])
    return MedResearchEnv(**kwargs)

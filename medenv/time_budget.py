"""`TimeBudget`: makes ``gym.make(..., max_episode_steps=N)`` truncate inside the env.

Gymnasium's `TimeLimit` truncates from the outside: the env would never learn that its
episode ended, so it would log neither truncation nor reward. ``MedResearch-v0`` is
registered with this wrapper as an ``additional_wrappers`` entry, which ``gym.make`` applies
after ``TimeLimit``: it reads the limit from the wrapped ``env.spec.max_episode_steps`` and
lowers the env's own ``max_steps`` to it (`MedResearchEnv.cap_steps`), so the env truncates,
logs ``reward_assigned``/``episode_ended`` and returns the reward on the very step where
``TimeLimit`` truncates. Without a limit it changes nothing. A ``TimeLimit`` added by hand
around a made env is not visible to it: pass ``max_episode_steps`` to ``gym.make`` (or
``max_steps``) instead.
"""

from __future__ import annotations

import gymnasium as gym


def time_limit(env: gym.Env) -> int | None:
    """The step limit of the `TimeLimit` among the wrappers beneath ``env`` (None without one).
    Read from the wrapper itself: a wrapper's ``spec`` deep-copies the make kwargs, which hold
    the whole question set (0.6 s per env for the default set)."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return int(env._max_episode_steps)
        env = env.env
    return None


class TimeBudget(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Caps the env's step budget at the ``TimeLimit`` that ``gym.make`` put beneath it."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        limit = time_limit(env)
        if limit is not None and hasattr(env.unwrapped, "cap_steps"):
            env.unwrapped.cap_steps(int(limit))

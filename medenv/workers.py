"""Worker processes that start from a parent which has loaded the world.

Loading the default world (KG, corpus, two search indexes) takes seconds and hundreds of
MB; a spawned worker pays both again. On Linux a worker is forked instead, after the
parent has loaded the world once (`preload_world`): the child finds it in `load_world`'s
in-process cache and shares its pages copy-on-write (the world is frozen out of the
cyclic GC, so the children do not touch, hence do not copy, those pages).

- `worker_context(agent)`: ``fork`` on Linux, ``spawn`` elsewhere (macOS and Windows
  cannot fork safely) and for agents that load a model (``llm``: torch/vLLM threads must not
  be forked);
- `preload_world(env_kwargs)`: load the world those env kwargs would load;
- `make_vector_env(n, **env_kwargs)`: a `gymnasium.vector.AsyncVectorEnv` of
  ``MedResearch-v0`` built the same way (one run; each sub-env writes its own store shard).
"""

from __future__ import annotations

import multiprocessing as mp

import gymnasium as gym

from medenv.events.store import new_run_id
from medenv.forking import fork_safe
from medenv.world import World, load_world
from medenv.worldspec import WorldSpec


def start_method(agent: str | None = None) -> str:
    """``"fork"`` where forking a parent that loaded the world is safe, else ``"spawn"``."""
    if fork_safe() and agent != "llm":
        return "fork"
    return "spawn"


def worker_context(agent: str | None = None):
    return mp.get_context(start_method(agent))


def preload_world(env_kwargs: dict) -> None:
    """Load (into `load_world`'s cache) the world an env with ``env_kwargs`` would use, its
    parts included (a lazy world would otherwise load them in every worker); a `WorldSpec`
    or `medenv.world.World` ``world`` is loaded too; nothing for a world factory."""
    world = env_kwargs.get("world")
    if isinstance(world, WorldSpec):
        world.load().load()
        return
    if isinstance(world, World):
        world.load()
        return
    if world is not None:
        return
    load_world(
        env_kwargs.get("source", "hpo"),
        env_kwargs.get("backend", "tantivy"),
        seed=int(env_kwargs.get("world_seed", 0)),
        progress=False,
    ).load()


def make_vector_env(n: int, **env_kwargs):
    """``n`` copies of ``MedResearch-v0`` in worker processes started from this one after
    it has loaded the world (`start_method`); ``env_kwargs`` go to every copy."""

    env_kwargs.setdefault("run_id", new_run_id())  # one run; a store shard per worker
    method = start_method()
    if method == "fork":
        preload_world(env_kwargs)
    return gym.vector.AsyncVectorEnv(
        [lambda: gym.make("MedResearch-v0", **env_kwargs) for _ in range(n)],
        context=method,
        shared_memory=False,  # text observations travel pickled, not as fixed arrays
    )

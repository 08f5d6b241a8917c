"""The episode loop: one env, one agent, a list of `Job`s (`run_jobs`).

Every rollout path ends here: in this process, in each worker process
(`medenv.agents.processes`), on each Ray node (`medenv.distributed`). The env writes its
events into ``db`` under ``shard``; after each episode ``on_episode(correct, calls)`` and/or
``queue.put((correct, calls))`` report it (research calls: tool calls without the final
answer), and a finished run puts ``None`` on the queue.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
from medenv.agents.factory import agent_name, explore_options, is_named, make_agent
from medenv.agents.jobs import Job
from medenv.agents.oracle import plans_explore

from medenv.errors import MedenvError


def run_jobs(
    worker: int,
    factory: Any,
    items: list,
    jobs: list[Job],
    db: Path,
    env_kwargs: dict,
    tags: dict,
    queue: Any = None,
    on_episode: Callable | None = None,
) -> None:
    """Run ``jobs`` in one env writing ``db``; report ``(correct, calls)`` per episode."""

    agent = None
    if is_named(factory) and agent_name(factory) != "oracle":
        # built before the env opens the store: a model that fails to load leaves no run
        agent = make_agent(factory)
    env = gym.make("MedResearch-v0", qa=items, db=str(db), shard=worker, tags=tags, **env_kwargs)
    explore = explore_options(factory)
    try:
        base = env.unwrapped
        for job in jobs:
            if explore is not None:  # label the episode: the oracle plans a wrong try
                planned = plans_explore(*explore, job.question_id, job.seed)
                base.tags = {**tags, "explore": planned}
            obs, info = env.reset(seed=job.seed, options={"question_id": job.question_id})
            if agent is None:  # the env loads its world on the first reset
                agent = (
                    make_agent(factory, base.world) if is_named(factory) else factory(base.world)
                )
            agent.reset(base.item, seed=job.seed)
            if hasattr(getattr(agent, "backend", None), "parallel_tool_calls"):
                agent.backend.parallel_tool_calls = base.parallel_calls  # one call per step
            correct, calls = _episode(env, agent, obs, info, job)
            if queue is not None:
                queue.put((correct, calls))
            if on_episode is not None:
                on_episode(correct, calls)
    finally:
        env.close()
    if queue is not None:
        queue.put(None)


def _episode(env: Any, agent: Any, obs: Any, info: dict, job: Job) -> tuple[bool, int]:
    """Act until the episode ends; (correct, research calls)."""
    calls = 0
    limit = int(info.get("budget") or 12) + 8
    for _ in range(limit):
        action = agent.act(obs, info)
        obs, _reward, terminated, truncated, info = env.step(action)
        if not info.get("error"):
            calls += 1
        if terminated or truncated:
            # research calls: the answer is not counted
            return bool(info.get("correct")), calls - int(terminated)
    raise MedenvError(  # pragma: no cover - the env's budget ends every episode
        f"episode of {job.question_id} did not end within {limit} steps"
    )

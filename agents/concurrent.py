"""Many LLM episodes in flight in one process: `run_concurrent` (``rollout --concurrency N``).

A teacher model behind an HTTP API answers in seconds, so trajectory synthesis is bound by
requests in flight, not by cores. `run_concurrent` keeps ``concurrency`` episodes open at
once on one asyncio event loop:

- each in-flight slot has its own env (`MedResearchEnv`, one episode at a time) and its own
  `LLMAgent` over an `AsyncOpenAIBackend` clone; all clones share one ``AsyncOpenAI``
  client and all envs share one loaded world;
- every env records into ONE `EventStore` (one run, one shard file): the envs' events
  interleave in the store, each episode keeping its own ``seq`` order; each slot labels its
  episode ids ``RUN-s<shard>c<slot>-e<n>`` so they never collide;
- env steps (tool calls, milliseconds) run on the loop between awaits; only model requests
  overlap.

Determinism: an episode's seed goes to its own backend clone (the request's ``seed``) and
its env reset, exactly as in a sequential rollout, so a server that answers the same
request the same way gives the same per-episode results at any concurrency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
from medenv.agents.backend_openai import AsyncOpenAIBackend
from medenv.agents.llm import LLMAgent, model_contract

from medenv.errors import MedenvError
from medenv.events.store import EventStore


class SlotStore:
    """The shared `EventStore` as one slot's env sees it: same writer, own ``shard`` label
    (used in episode ids), and ``close`` left to the owner of the store."""

    def __init__(self, store, slot: int) -> None:
        self._store = store
        self.shard = f"{store.shard}c{slot}"

    def emit(self, payload, episode_id=None) -> int:
        return self._store.emit(payload, episode_id)

    def commit(self) -> None:
        self._store.commit()

    def end_episode(self, episode_id=None) -> None:
        self._store.end_episode(episode_id)

    def flush(self) -> None:
        self._store.flush()

    def close(self) -> None:  # the runner closes the real store once, after every slot
        pass


def async_backend_spec(model: str | None) -> tuple[str, str]:
    """``openai:URL#MODEL`` -> ``(URL, MODEL)``; anything else is a one-line error."""
    kind, _, rest = (model or "").partition(":")
    url, _, name = rest.partition("#")
    if kind != "openai" or not url or not name:
        raise MedenvError(
            "--concurrency keeps requests in flight against an OpenAI-compatible server: "
            f"give --model openai:URL#MODEL (got {model!r})"
        )
    return url, name


async def _episodes(
    slot: int,
    jobs: list,
    env,
    agent,
    on_episode: Callable[[bool, int], None] | None,
    results: dict,
) -> None:
    base = env.unwrapped
    for job in jobs:
        obs, info = env.reset(seed=job.seed, options={"question_id": job.question_id})
        agent.reset(base.item, seed=job.seed)
        calls, done, correct = 0, False, False
        limit = int(info.get("budget") or 12) + 8
        for _ in range(limit):
            action = await agent.aact(obs, info)
            obs, _reward, terminated, truncated, info = env.step(action)
            if not info.get("error"):
                calls += 1
            if terminated or truncated:
                correct, done = bool(info.get("correct")), True
                calls -= int(terminated)  # research calls: the answer is not counted
                break
        if not done:  # pragma: no cover - the env's budget ends every episode
            raise MedenvError(f"episode of {job.question_id} did not end within {limit} steps")
        results[(job.question_id, job.seed)] = (correct, calls)
        if on_episode is not None:
            on_episode(correct, calls)


async def _run_all(slots: list[tuple[list, Any, Any]], on_episode, results) -> None:
    tasks = [
        asyncio.create_task(_episodes(i, jobs, env, agent, on_episode, results))
        for i, (jobs, env, agent) in enumerate(slots)
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if slots:
            await slots[0][2].backend.aclose()


def run_concurrent(
    model: str,
    items: Sequence,
    jobs: Sequence,
    db: str | Path,
    *,
    concurrency: int,
    env_kwargs: dict,
    tags: dict,
    backend_options: dict | None = None,
    agent_options: dict | None = None,
    on_episode: Callable[[bool, int], None] | None = None,
) -> dict[tuple[str, int], tuple[bool, int]]:
    """Run ``jobs`` with up to ``concurrency`` episodes in flight; record them in ``db``.

    ``model`` is ``openai:URL#MODEL``; ``env_kwargs`` go to every env (``run_id`` included:
    one run). Jobs are dealt round-robin to the slots. Returns ``{(question id, seed):
    (correct, tool calls)}``.
    """

    if concurrency < 1:
        raise MedenvError(f"--concurrency must be at least 1, got {concurrency}")
    url, name = async_backend_spec(model)
    backend = AsyncOpenAIBackend(url, name, **(backend_options or {}))
    n = max(1, min(concurrency, len(jobs)))
    kwargs = dict(env_kwargs)
    run_id = kwargs.pop("run_id")
    store = EventStore(db, run_id=run_id, shard=0, durability=kwargs.pop("durability", "step"))
    results: dict = {}
    envs = []
    try:
        for i in range(n):  # every env gets the same in-process world (`load_world` cache)
            env = gym.make("MedResearch-v0", qa=list(items), db=None, run_id=run_id, tags=tags,
                           **kwargs)  # fmt: skip
            base = env.unwrapped
            base.store = SlotStore(store, i)
            base._run_logged = i > 0  # slot 0 logs the run's run_started, once
            envs.append(env)
        envs[0].unwrapped._ensure_ready(None)  # loads the world and logs run_started
        options = dict(agent_options or {})
        # the prompt contract: the asked parts (a server model has no saved contract)
        options["contract"] = model_contract(
            model, options.pop("prompt", None), options.pop("adapt_prompt", False)
        )
        slots = [
            (list(jobs[i::n]), env, LLMAgent(backend.clone(), **options))
            for i, env in enumerate(envs)
        ]
        asyncio.run(_run_all(slots, on_episode, results))
    finally:
        for env in envs:
            env.close()  # ends an unfinished episode into the shared store
        store.close()
    return results

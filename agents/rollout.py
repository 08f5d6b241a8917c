"""Run many episodes of an agent in `MedResearch-v0`, recording them in the event store.

`rollout(agent_factory, qa, episodes, workers, db, seed, k=1, ...)`:

- plans ``episodes`` question attempts over the QA set in its order (cycling when
  ``episodes`` exceeds it), each sampled ``k`` times; every (question, sample) gets its
  own episode seed derived with hashlib from ``seed``, so reruns are identical;
- is resumable: (question id, episode seed) pairs already finished in the store for the
  same agent are skipped, so an interrupted run continues where it stopped;
- runs ``workers`` processes (forked from this one once it has loaded the world, on
  Linux: `medenv.workers`; `medenv.agents.processes`), each with its own env and its own store shard
  (``db`` for worker 0, ``NAME.shard-<i>.duckdb`` beside it for the others: DuckDB allows
  one writer per file); readers query all shards together (`medenv.events.episodes.store_paths`);
- shows a progress bar with live accuracy and mean tool calls (research calls: without
  the final answer, the paper's unit);
- with ``ray`` (an address, or "" for a local Ray) spreads the episodes over a Ray
  cluster, a worker per CPU, each node loading the world once (`medenv.distributed`);
- with ``concurrency`` > 1 (the llm agent against an ``openai:URL#MODEL`` server) keeps that
  many episodes in flight in this process (`medenv.agents.concurrent.run_concurrent`).
- labels episodes: an oracle spec with ``explore`` tags each episode ``explore: bool``
  (whether it plans a wrong try, `medenv.agents.oracle.plans_explore`); an llm spec with
  ``guidance`` tags the run ``guidance: True``.

Rejection sampling (keep correct answers within budget; with ``k`` samples the shortest
correct one) is applied when exporting: `medenv.training.export.select_episodes`. The store
keeps every episode, so the choice can be revisited without rerunning.

``agent_factory`` is an agent name (``oracle``, ``heuristic``, ``random``, ``llm``), an
`AgentSpec` (name plus options), or a picklable callable ``world -> Agent``
(`medenv.agents.factory`). The plan and its seeds are `medenv.agents.jobs`; every path
runs episodes with `medenv.agents.episode_loop.run_jobs`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from medenv.agents.concurrent import async_backend_spec, run_concurrent
from medenv.agents.episode_loop import run_jobs
from medenv.agents.factory import (
    AGENT_NAMES,
    LLM_NEEDS_MODEL,
    AgentSpec,
    agent_name,
    guidance_tags,
    is_named,
)
from medenv.agents.jobs import finished_jobs, plan_jobs
from medenv.agents.processes import run_in_processes
from tqdm.auto import tqdm

from medenv.curriculum import select_hops
from medenv.distributed import require_ray, rollout_on_ray
from medenv.errors import MedenvError
from medenv.events.parquet import check_writable_store
from medenv.events.store import new_run_id, shard_files
from medenv.forking import check_worker_count
from medenv.paths import check_out_file, medenv_home
from medenv.questions import load_questions

__all__ = ["AgentSpec", "RolloutResult", "rollout"]


class RolloutResult(msgspec.Struct, kw_only=True):
    """What a rollout did: episodes run now, skipped (already stored), and their outcome."""

    agent: str
    planned: int
    ran: int
    skipped: int
    correct: int
    accuracy: float
    mean_tool_calls: float  # research calls: tool calls without the final answer
    seconds: float
    db: list[str]


def check_oracle_items(items: list, qa: Any, who: str = "the oracle agent") -> None:
    """The oracle follows each question's gold chain: refuse a set without chains up front
    (not one episode in, with a half-written run in the store)."""
    bad = [it for it in items if not it.chain or len(it.chain) != len(it.hops) + 1]
    if bad:
        where = f" in {qa}" if isinstance(qa, (str, Path)) else ""
        raise MedenvError(
            f"{who} needs questions with a gold chain; {len(bad)} of {len(items)} "
            f"questions{where} have none (e.g. {bad[0].id!r}): use a set made by `medenv "
            "synth`, or the heuristic, random or llm agent"
        )


def check_concurrency(factory: Any, concurrency: int, workers: int) -> None:
    if concurrency < 1:
        raise MedenvError(f"--concurrency must be at least 1, got {concurrency}")
    if not is_named(factory, "llm"):
        raise MedenvError(
            "--concurrency keeps LLM requests in flight: use it with --agent llm "
            "--model openai:URL#MODEL"
        )
    if workers != 1:
        raise MedenvError("give --concurrency or --workers, not both")
    async_backend_spec(dict(getattr(factory, "options", {})).get("model"))


def rollout(
    agent_factory: str | AgentSpec | Callable = "oracle",
    qa: Any = None,
    episodes: int | None = None,
    workers: int = 1,
    db: str | Path | None = None,
    seed: int = 0,
    *,
    k: int = 1,
    split: str | None = None,
    max_steps: int = 12,
    env_kwargs: dict | None = None,
    tags: dict | None = None,
    progress: bool = True,
    concurrency: int = 1,
    ray: str | None = None,
    hops: tuple[int, ...] | None = None,
) -> RolloutResult:
    """Run ``episodes`` question attempts (``k`` samples each) and record them in ``db``.

    ``qa``: a QA set folder/file, a list of `QAItem`, or None for the default set;
    ``episodes`` defaults to one pass over it. Returns counts for this call; episodes
    already in the store are skipped (resume). ``hops``: only questions with these hop
    counts (the curriculum, `medenv.curriculum`). See the module docstring.
    """
    if workers < 1:
        raise MedenvError(f"workers must be at least 1, got {workers}")
    check_worker_count(workers)
    name = agent_name(agent_factory)
    if db is not None:
        check_writable_store(db)
    if concurrency != 1:
        check_concurrency(agent_factory, concurrency, workers)
    if ray is not None:  # "" = a local Ray; else the cluster's address (medenv.distributed)
        require_ray()
        if workers != 1 or concurrency != 1:
            raise MedenvError("with --ray each node runs a worker per CPU: drop --workers "
                              "and --concurrency")  # fmt: skip
    if is_named(agent_factory):
        if name not in AGENT_NAMES:
            raise MedenvError(f"unknown agent {name!r}; choose one of {', '.join(AGENT_NAMES)}")
        if name == "llm" and not dict(getattr(agent_factory, "options", {})).get("model"):
            raise MedenvError(LLM_NEEDS_MODEL)
    source = str((env_kwargs or {}).get("source", "hpo"))
    items = select_hops(load_questions(qa, source, split), hops)
    if is_named(agent_factory, "oracle"):
        check_oracle_items(items, qa)
    if guidance_tags(agent_factory):
        check_oracle_items(items, qa, "masked trajectory guidance (--guidance)")
    episodes = len(items) if episodes is None else episodes
    jobs = plan_jobs([it.id for it in items], episodes, k, seed)
    db = Path(db) if db is not None else medenv_home() / "runs" / f"{name}.duckdb"
    check_out_file(db, "event store")
    db.parent.mkdir(parents=True, exist_ok=True)
    done = finished_jobs(db, name)
    todo = [j for j in jobs if (j.question_id, j.seed) not in done]
    skipped = len(jobs) - len(todo)
    # one run for the whole call: every worker writes its shard under the same run id
    env_kwargs = {"max_steps": max_steps, "run_id": new_run_id(), **(env_kwargs or {})}
    run_tags = {
        "agent": name,
        "rollout_seed": seed,
        **guidance_tags(agent_factory),
        **(tags or {}),
    }
    workers = max(1, min(workers, len(todo) or 1))

    bar = tqdm(total=len(todo), desc=f"rollout {name}", disable=not progress, unit="ep")
    tally = {"n": 0, "correct": 0, "calls": 0}

    def record(correct: bool, calls: int) -> None:
        tally["n"] += 1
        tally["correct"] += int(correct)
        tally["calls"] += calls
        bar.update(1)
        bar.set_postfix(
            acc=f"{tally['correct'] / tally['n']:.3f}", calls=f"{tally['calls'] / tally['n']:.2f}"
        )

    start = time.perf_counter()
    try:
        if ray is not None and todo:
            rollout_on_ray(ray, agent_factory, items, todo, db, env_kwargs, run_tags, record)
        elif concurrency > 1 and todo:
            opts = dict(agent_factory.options)
            model = opts.pop("model")
            run_concurrent(
                model, items, todo, db, concurrency=concurrency, env_kwargs=env_kwargs,
                tags=run_tags, backend_options=opts.pop("backend_options", {}),
                agent_options=opts, on_episode=record,
            )  # fmt: skip
        elif workers == 1 or not todo:
            if todo:
                run_jobs(0, agent_factory, items, todo, db, env_kwargs, run_tags, on_episode=record)
        else:
            run_in_processes(workers, name, agent_factory, items, todo, db, env_kwargs,
                             run_tags, record)  # fmt: skip
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    n = tally["n"]
    return RolloutResult(
        agent=name,
        planned=len(jobs),
        ran=n,
        skipped=skipped,
        correct=tally["correct"],
        accuracy=tally["correct"] / n if n else 0.0,
        mean_tool_calls=tally["calls"] / n if n else 0.0,
        seconds=round(seconds, 3),
        db=[str(p) for p in shard_files(db)],
    )

"""Run many episodes of an agent in `MedResearch-v0`, recording them in the event store.

`rollout(agent_factory, qa, episodes, workers, db, seed, k=1, ...)`:

- plans ``episodes`` question attempts over the QA set in its order (cycling when
  ``episodes`` exceeds it), each sampled ``k`` times; every (question, sample) gets its
  own episode seed derived with hashlib from ``seed``, so reruns are identical;
- is resumable: (question id, episode seed) pairs already finished in the store for the
  same agent are skipped, so an interrupted run continues where it stopped;
- runs ``workers`` processes (forked from this one once it has loaded the world, on
  Linux: `medenv.workers`), each with its own env and its own store shard
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
`AgentSpec` (name plus options), or a picklable callable ``world -> Agent``.
"""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import msgspec
from medenv.agents.concurrent import async_backend_spec, run_concurrent
from medenv.agents.heuristic import HeuristicAgent
from medenv.agents.llm import LLMAgent, make_backend, model_contract
from medenv.agents.oracle import OracleAgent, plans_explore
from medenv.agents.random import RandomAgent
from tqdm.auto import tqdm

from medenv.cli import error_line
from medenv.curriculum import select_hops
from medenv.distributed import require_ray, rollout_on_ray
from medenv.errors import MedenvError
from medenv.events.episodes import load_episodes, store_paths
from medenv.events.parquet import check_writable_store
from medenv.events.store import new_run_id, shard_files
from medenv.paths import check_out_file, medenv_home
from medenv.questions import load_questions
from medenv.workers import preload_world, start_method

AGENT_NAMES = ("oracle", "heuristic", "random", "llm")
MAX_JOBS = 1_000_000  # episodes x k planned by one call (the plan is held in memory)


class AgentSpec(msgspec.Struct, frozen=True):
    """An agent by name, with keyword options for its constructor (picklable)."""

    name: str
    options: dict = {}


class Job(msgspec.Struct, frozen=True):
    question_id: str
    sample: int
    seed: int


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


def make_agent(spec: str | AgentSpec, world: Any = None):
    """Build an agent from its name/spec. The oracle needs ``world`` (its KG names)."""
    if isinstance(spec, str):
        spec = AgentSpec(spec)
    opts = dict(spec.options)
    if spec.name == "oracle":
        if world is None:
            raise MedenvError("the oracle agent needs the world (its knowledge graph)")
        return OracleAgent(world, **opts)
    if spec.name == "heuristic":
        return HeuristicAgent(**opts)
    if spec.name == "random":
        return RandomAgent(**opts)
    if spec.name == "llm":
        model = opts.pop("model", None)
        if not model:
            raise MedenvError(
                "the llm agent needs a model: --model PATH|openai:URL#MODEL|vllm:MODEL"
            )
        backend_opts = opts.pop("backend_options", {})
        # the prompt contract: the model folder's saved one, with the asked parts
        contract = model_contract(model, opts.pop("prompt", None), opts.pop("adapt_prompt", False))
        return LLMAgent(make_backend(model, **backend_opts), contract=contract, **opts)
    raise MedenvError(f"unknown agent {spec.name!r}; choose one of {', '.join(AGENT_NAMES)}")


def agent_name(factory: str | AgentSpec | Callable) -> str:
    if isinstance(factory, str):
        return factory
    if isinstance(factory, AgentSpec):
        return factory.name
    return getattr(factory, "agent_name", None) or getattr(factory, "__name__", "custom")


def episode_seed(seed: int, question_id: str, sample: int) -> int:
    digest = hashlib.sha256(f"{seed}|{question_id}|{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def plan_jobs(question_ids: Sequence[str], episodes: int, k: int, seed: int) -> list[Job]:
    """``episodes`` attempts over the questions in order (cycling), ``k`` samples each."""
    if not question_ids:
        raise MedenvError("the QA set is empty")
    if episodes < 0 or k < 1:
        raise MedenvError(f"episodes must be >= 0 and k >= 1 (got episodes={episodes}, k={k})")
    if episodes * k > MAX_JOBS:
        raise MedenvError(
            f"episodes x k = {episodes * k:,} is more than one rollout plans "
            f"({MAX_JOBS:,}); run it in parts with different seeds"
        )
    jobs = []
    n = len(question_ids)
    for i in range(episodes):
        qid = question_ids[i % n]
        for j in range(k):
            sample = (i // n) * k + j
            jobs.append(Job(qid, sample, episode_seed(seed, qid, sample)))
    return jobs


def finished_jobs(db: Path, agent: str) -> set[tuple[str, int]]:
    """(question id, episode seed) of episodes of ``agent`` already finished in ``db``.

    Finished means terminated (answered) or truncated (budget spent); an episode cut off
    by a crash or ``close()`` does not count and is run again."""
    try:
        paths = store_paths(db)
    except MedenvError:
        return set()
    return {
        (ep.question_id, int(ep.seed))
        for ep in load_episodes(paths)
        if ep.agent == agent and ep.seed is not None and (ep.terminated or ep.truncated)
    }


def _check_oracle_items(items: list, qa: Any, who: str = "the oracle agent") -> None:
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


def _run_jobs(
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
    if isinstance(factory, (str, AgentSpec)) and agent_name(factory) != "oracle":
        # built before the env opens the store: a model that fails to load leaves no run
        agent = make_agent(factory)
    env = gym.make("MedResearch-v0", qa=items, db=str(db), shard=worker, tags=tags, **env_kwargs)
    explore = _explore_options(factory)
    try:
        base = env.unwrapped
        for job in jobs:
            if explore is not None:  # label the episode: the oracle plans a wrong try
                planned = plans_explore(*explore, job.question_id, job.seed)
                base.tags = {**tags, "explore": planned}
            obs, info = env.reset(seed=job.seed, options={"question_id": job.question_id})
            if agent is None:  # the env loads its world on the first reset
                if isinstance(factory, (str, AgentSpec)):
                    agent = make_agent(factory, base.world)
                else:
                    agent = factory(base.world)
            agent.reset(base.item, seed=job.seed)
            if hasattr(getattr(agent, "backend", None), "parallel_tool_calls"):
                agent.backend.parallel_tool_calls = base.parallel_calls  # one call per step
            calls = 0
            done = False
            limit = int(info.get("budget") or 12) + 8
            correct = False
            for _ in range(limit):
                action = agent.act(obs, info)
                obs, _reward, terminated, truncated, info = env.step(action)
                if not info.get("error"):
                    calls += 1
                if terminated or truncated:
                    correct = bool(info.get("correct"))
                    calls -= int(terminated)  # research calls: the answer is not counted
                    done = True
                    break
            if not done:  # pragma: no cover - the env's budget ends every episode
                raise MedenvError(f"episode of {job.question_id} did not end within {limit} steps")
            if queue is not None:
                queue.put((correct, calls))
            if on_episode is not None:
                on_episode(correct, calls)
    finally:
        env.close()
    if queue is not None:
        queue.put(None)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Make this (worker) process die when ``parent_pid`` does: on Linux the kernel's
    parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and everywhere a daemon
    thread that polls ``os.getppid()`` twice a second (the fallback, and the check for a
    parent that died before the signal was set)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the thread remains
            pass
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="medenv-parent-watch", daemon=True).start()


def _worker_main(args: tuple, parent_pid: int | None = None) -> None:
    """A worker process: dies with its parent; an error of the CLI's contract goes to the
    parent as one line (``("error", message)`` on the queue), never as a traceback."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    queue = args[7]
    try:
        _run_jobs(*args)
    except Exception as exc:
        message = error_line(exc)
        if message is None:
            raise
        queue.put(("error", f"worker {args[0]}: {message}"))
        sys.exit(2)


def _check_concurrency(factory: Any, concurrency: int, workers: int) -> None:
    if concurrency < 1:
        raise MedenvError(f"--concurrency must be at least 1, got {concurrency}")
    if not isinstance(factory, (str, AgentSpec)) or agent_name(factory) != "llm":
        raise MedenvError(
            "--concurrency keeps LLM requests in flight: use it with --agent llm "
            "--model openai:URL#MODEL"
        )
    if workers != 1:
        raise MedenvError("give --concurrency or --workers, not both")
    async_backend_spec(dict(getattr(factory, "options", {})).get("model"))


def _guidance_tags(factory: Any) -> dict:
    """``{"guidance": True}`` for an llm spec with masked trajectory guidance (export strips
    it from SFT prompts and flags the rows)."""
    if isinstance(factory, AgentSpec) and factory.options.get("guidance"):
        return {"guidance": True}
    return {}


def _explore_options(factory: Any) -> tuple[int, float] | None:
    """(agent seed, explore share) of an oracle spec that explores, else None."""
    if isinstance(factory, AgentSpec) and factory.name == "oracle":
        share = float(factory.options.get("explore") or 0.0)
        if share > 0:
            return int(factory.options.get("seed") or 0), share
    return None


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
    name = agent_name(agent_factory)
    if db is not None:
        check_writable_store(db)
    if concurrency != 1:
        _check_concurrency(agent_factory, concurrency, workers)
    if ray is not None:  # "" = a local Ray; else the cluster's address (medenv.distributed)
        require_ray()
        if workers != 1 or concurrency != 1:
            raise MedenvError("with --ray each node runs a worker per CPU: drop --workers "
                              "and --concurrency")  # fmt: skip
    if isinstance(agent_factory, (str, AgentSpec)):
        if name not in AGENT_NAMES:
            raise MedenvError(f"unknown agent {name!r}; choose one of {', '.join(AGENT_NAMES)}")
        if name == "llm" and not dict(getattr(agent_factory, "options", {})).get("model"):
            raise MedenvError(
                "the llm agent needs a model: --model PATH|openai:URL#MODEL|vllm:MODEL"
            )
    source = str((env_kwargs or {}).get("source", "hpo"))
    items = select_hops(load_questions(qa, source, split), hops)
    if isinstance(agent_factory, (str, AgentSpec)) and name == "oracle":
        _check_oracle_items(items, qa)
    if _guidance_tags(agent_factory):
        _check_oracle_items(items, qa, "masked trajectory guidance (--guidance)")
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
        **_guidance_tags(agent_factory),
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
    procs: list = []
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
                _run_jobs(
                    0, agent_factory, items, todo, db, env_kwargs, run_tags, on_episode=record
                )
        else:
            method = start_method(name)
            if method == "fork":  # workers start with the world loaded (medenv.workers)
                preload_world(env_kwargs)
            ctx = mp.get_context(method)
            queue = ctx.Queue()
            for w in range(workers):
                part = todo[w::workers]
                p = ctx.Process(
                    target=_worker_main,
                    args=(
                        (w, agent_factory, items, part, db, env_kwargs, run_tags, queue),
                        os.getpid(),
                    ),
                    daemon=True,
                )
                p.start()
                procs.append(p)
            running = workers
            while running:
                try:
                    msg = queue.get(timeout=5)
                except Exception:  # queue.Empty: check for dead workers
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if not dead and all(p.exitcode is not None for p in procs):
                        dead = procs  # all exited without reporting the end of their jobs
                    if dead:
                        raise MedenvError(
                            f"rollout worker exited with code {dead[0].exitcode}; "
                            "rerun the same command to resume"
                        ) from None
                    continue
                if msg is None:
                    running -= 1
                elif msg[0] == "error":
                    raise MedenvError(f"rollout {msg[1]}; rerun the same command to resume")
                else:
                    record(*msg)
            for p in procs:
                p.join()
    finally:
        bar.close()
        for p in procs:  # after an error: stop the other workers too
            if p.is_alive():
                p.terminate()
                p.join(5)
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

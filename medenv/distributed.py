"""Rollouts and synthesis on a Ray cluster (``--ray [ADDRESS]``; extra ``medenv[ray]``).

Ray is the engine (veRL, SkyRL and OpenRLHF use it); nothing here schedules work itself.

Rollouts (`rollout_on_ray`): the driver plans the episodes exactly as a local rollout does
(same jobs, same episode seeds, same run id), then starts one `NodeRollout` actor per alive
node, pinned there (``NodeAffinitySchedulingStrategy``) and holding the node's CPUs. The
actor loads the world once, then forks one worker per CPU from itself
(`medenv.workers`), so the node's workers share that world; each worker writes its own
event shard (``<db>.shard-<k>.duckdb``, ``k`` unique in the cluster). Episodes are dealt
round-robin over all workers of the cluster. ``db`` must be a path every node can write
(a shared filesystem); `medenv events export` then moves the shards to object storage.

Synthesis (`synth_on_ray`): one Ray task per ``--seed`` value, each running the local
`synthesize` for that seed on some node (loading the KG and world there once); the same
seed gives the same items as a local run. One seed's set is not split across nodes (its
deduplication is sequential over seed entities).

Errors are one line: a missing extra names it; an address that does not answer says so
before Ray's own (long) connection retries.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from medenv.agents.episode_loop import run_jobs
from medenv.agents.factory import agent_name
from medenv.errors import MedenvError
from medenv.forking import terminable_pool
from medenv.kg.cache import load_kg
from medenv.synth import synthesize
from medenv.workers import preload_world, start_method
from medenv.worldspec import world_factory

RAY_MISSING = "--ray needs the ray extra: pip install 'medenv[ray]'"


def require_ray():
    try:
        import ray
    except ImportError:
        raise MedenvError(RAY_MISSING) from None
    return ray


def _check_reachable(address: str) -> None:
    """One-line `MedenvError` when ``HOST:PORT`` (optionally ``ray://``) does not accept a
    TCP connection within 5 s. ``auto`` and other forms are left to Ray."""
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as exc:
        raise MedenvError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}"
        ) from None


def init_ray(address: str | None, num_cpus: int | None = None):
    """Connect to the cluster at ``address`` or, when it is empty/None, start a local one
    (``num_cpus`` CPUs, default all). Reuses a connection already made in this process."""
    ray = require_ray()
    if address:
        _check_reachable(address)
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING",
                              "log_to_driver": False}  # fmt: skip
    if address:
        kwargs["address"] = address
    elif num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        line = next((s for s in str(exc).splitlines() if s.strip()), type(exc).__name__)
        where = f"at {address}" if address else "(local)"
        raise MedenvError(f"cannot start or join the Ray cluster {where}: {line}") from None
    return ray


def _alive_nodes(ray) -> list[tuple[str, int]]:
    """(node id, whole CPUs) of every alive node with at least one CPU."""
    nodes = []
    for node in ray.nodes():
        cpus = int(node.get("Resources", {}).get("CPU", 0))
        if node.get("Alive") and cpus >= 1:
            nodes.append((node["NodeID"], cpus))
    if not nodes:
        raise MedenvError("the Ray cluster has no alive node with a CPU")
    return sorted(nodes)


def _node_run(args: tuple) -> list[tuple[str, int, bool, int]]:
    """One forked worker of a node: `medenv.agents.episode_loop.run_jobs` on its jobs and shard."""

    shard, factory, items, jobs, db, env_kwargs, tags = args
    out: list[tuple[str, int, bool, int]] = []
    it = iter(jobs)

    def record(correct: bool, calls: int) -> None:
        job = next(it)
        out.append((job.question_id, job.seed, correct, calls))

    run_jobs(shard, factory, items, jobs, Path(db), env_kwargs, tags, on_episode=record)
    return out


class NodeRollout:
    """One per node: loads the world once, forks a worker per shard (`medenv.workers`)."""

    def __init__(self, env_kwargs: dict, agent: str) -> None:
        self.method = start_method(agent)  # spawn for model agents (see medenv.workers)
        if self.method == "fork":
            preload_world(env_kwargs)

    def run(self, work: list[tuple]) -> list[tuple[str, int, bool, int]]:
        if len(work) == 1:
            return _node_run(work[0])
        pool = terminable_pool(mp.get_context(self.method), len(work))
        try:
            parts = pool.map(_node_run, work, chunksize=1)
            pool.close()  # done: the workers leave on the queue's sentinels, no signal needed
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
        return [r for part in parts for r in part]


def rollout_on_ray(
    address: str | None,
    factory: Any,
    items: Sequence,
    jobs: Sequence,
    db: str | Path,
    env_kwargs: dict,
    tags: dict,
    on_episode: Callable[[bool, int], None] | None = None,
    num_cpus: int | None = None,
) -> list[tuple[str, int, bool, int]]:
    """Run ``jobs`` over the cluster (see the module docstring); returns
    ``(question id, seed, correct, tool calls)`` per episode."""
    ray = init_ray(address, num_cpus)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = _alive_nodes(ray)
    slots = [(node, w) for node, cpus in nodes for w in range(cpus)]
    slots = slots[: max(1, len(jobs))]
    shares = [list(jobs[i :: len(slots)]) for i in range(len(slots))]
    actor_cls = ray.remote(NodeRollout)
    refs = []
    for node, cpus in nodes:
        work = [
            (k, factory, list(items), shares[k], str(db), env_kwargs, tags)
            for k, (n, _) in enumerate(slots)
            if n == node
        ]
        if not work:
            continue
        actor = actor_cls.options(
            num_cpus=cpus,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False),
        ).remote(env_kwargs, agent_name(factory))
        refs.append(actor.run.remote(work))
    results: list[tuple[str, int, bool, int]] = []
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for part in ray.get(done):
            for r in part:
                results.append(r)
                if on_episode is not None:
                    on_episode(r[2], r[3])
    return results


def _synth_task(kg_spec: tuple, config, world_seed: int, corpus: bool):
    """`synthesize` one config on the KG named by ``kg_spec`` (`medenv.commands.kgargs`)."""
    names, path, options = kg_spec
    kg = load_kg(names, path, progress=False, **options)
    world = world_factory(names, path, options, kg, world_seed, False) if corpus else None
    return synthesize(kg, config, world=world, progress=False)


def synth_on_ray(
    address: str | None,
    configs: Sequence,
    *,
    kg_spec: tuple = (["hpo"], None, {}),
    world_seed: int = 0,
    corpus: bool = True,
    num_cpus: int | None = None,
) -> list:
    """`synthesize` for each config (one per seed) as Ray tasks; results in config order."""
    ray = init_ray(address, num_cpus)
    task = ray.remote(_synth_task)
    refs = [task.remote(kg_spec, c, world_seed, corpus) for c in configs]
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if isinstance(getattr(exc, "cause", None), Exception) else exc
        if isinstance(cause, MedenvError):
            raise MedenvError(str(cause)) from None
        raise

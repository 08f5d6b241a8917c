"""Env step overhead with logging on: scripted actions over the default world (search
included), one process, for each durability mode and with logging off.

Each episode is 5 steps: a Hermes/Qwen ``<tool_call>`` search, a malformed action, a
tool-call dict browse, a Qwen3-Coder XML web search, the ``<answer>``; questions are real
one-hop KG facts (see ``tests/test_env.make_items``). Reported: steps/s over all rounds
(``steps_per_s``, DuckDB ingests included).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import gymnasium as gym
import pytest

import medenv  # noqa: F401
from medenv.tools.cache import clear_cache
from tests.test_env import make_items

STEPS = 2000


@pytest.fixture(scope="module")
def world():
    from medenv.world import load_world

    return load_world(progress=False)


@pytest.fixture(scope="module")
def plans(world):
    items = make_items(world.kg, 40)
    out = {}
    for item in items:
        name = world.kg.node(item.chain[0]).name
        url = world.corpus.get(f"med:{item.chain[0]}").url
        out[item.id] = [
            f'<think>look up {name}</think>\n<tool_call>\n{{"name": "medical_search", '
            f'"arguments": {{"query": "{name} inheritance"}}}}\n</tool_call>',
            "I am not sure what to do.",
            {"name": "browse", "arguments": {"url": url, "goal": "inheritance"}},
            f"<tool_call>\n<function=web_search>\n<parameter=query>\n{name}\n</parameter>\n"
            "</function>\n</tool_call>",
            f"<answer>{item.answer}</answer>",
        ]
    return items, out


def _run(env, plans, steps: int) -> float:
    start = time.perf_counter()
    done, seed = 0, 0
    while done < steps:
        env.reset(seed=seed)
        seed += 1
        for action in plans[env.unwrapped.item.id]:
            env.step(action)
            done += 1
    return done / (time.perf_counter() - start)


@pytest.mark.parametrize("durability", ["step", "sync", "episode", "none", "off"])
def test_env_steps_per_second(benchmark, extra, bench_dir, plans, durability):
    items, by_id = plans
    db = None if durability == "off" else bench_dir / f"env-{durability}.duckdb"
    env = gym.make(
        "MedResearch-v0", qa=items, db=db, durability="step" if db is None else durability,
        max_steps=8,
    )  # fmt: skip
    _run(env, by_id, 50)  # warm up: world, store, caches
    rounds = 5
    benchmark.pedantic(lambda: _run(env, by_id, STEPS), rounds=rounds, iterations=1)
    env.close()
    # DuckDB ingests land in some rounds and not others: report steps over the total time
    total_s = benchmark.stats.stats.mean * rounds
    extra(benchmark, steps_per_s=round(STEPS * rounds / total_s), steps_per_round=STEPS)


def _replay(
    env, trace, latencies: list[float], cpu: list[float] | None = None, group: int = 1
) -> float:
    """Replay every item's oracle actions (``group`` times in a row, as the G rollouts of
    a GRPO group); steps/s over the pass (resets included). ``cpu`` gets the CPU seconds
    the stepping thread spent per step (its own work, which the box's other jobs do not
    stretch the way they stretch wall time)."""
    clear_cache(env.unwrapped.world)  # each pass starts cold: no hits from the last one
    start = time.perf_counter()
    steps = 0
    for question_id, actions in trace:
        for _ in range(group):
            env.reset(seed=0, options={"question_id": question_id})
            for action in actions:
                t, c = time.perf_counter(), time.thread_time()
                env.step(action)
                latencies.append(time.perf_counter() - t)
                if cpu is not None:
                    cpu.append(time.thread_time() - c)
            steps += len(actions)
    return steps / (time.perf_counter() - start)


def _figures(rates: dict, lat: dict, cpu: dict, proc: dict, child: dict) -> dict:
    """steps/s (best pass), CPU microseconds per step (the stepping thread's; the whole
    stepping process's, ``process_cpu_us_*``; its ingest process's, ``child_cpu_us_*``)
    and latency percentiles (wall, and the stepping thread's CPU) of each env
    (``off``, ``on``: the default store, ``thread``: ``ingest="thread"``), and the ratios
    to ``off``."""
    figures = {}
    for name in lat:
        ms = sorted(x * 1000 for x in lat[name])
        cpu_ms = sorted(x * 1000 for x in cpu[name])
        figures[f"steps_per_s_{name}"] = max(rates[name])
        figures[f"step_cpu_us_{name}"] = 1e6 * sum(cpu[name]) / len(cpu[name])
        figures[f"process_cpu_us_{name}"] = 1e6 * sum(proc[name]) / len(cpu[name])
        figures[f"child_cpu_us_{name}"] = 1e6 * sum(child[name]) / len(cpu[name])
        for label, q in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999)):
            figures[f"{label}_ms_{name}"] = ms[min(len(ms) - 1, int(q * len(ms)))]
        figures[f"p999_cpu_ms_{name}"] = cpu_ms[min(len(ms) - 1, int(0.999 * len(ms)))]
    figures["logging_ratio"] = figures["steps_per_s_on"] / figures["steps_per_s_off"]
    figures["thread_ratio"] = figures["steps_per_s_thread"] / figures["steps_per_s_off"]
    figures["cpu_ratio"] = figures["step_cpu_us_off"] / figures["step_cpu_us_on"]
    figures["process_cpu_ratio"] = figures["process_cpu_us_off"] / figures["process_cpu_us_on"]
    return figures


def _child_cpu_s(env) -> float:
    """CPU seconds so far of the env's ingest process (0 without one; Linux ``/proc``)."""
    child = getattr(env.unwrapped.store, "_child", None)
    if child is None:
        return 0.0
    try:
        fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_oracle_steps(benchmark, extra, bench_dir):
    """Issue 19's one-pass workload: the grounded oracle's recorded actions over the whole
    default set (2,000 questions, ~10k steps, each question once: caches do not stay hot),
    replayed with logging off (``off``), with logging on (``on``: ``durability="step"``,
    the default, and the default ingest: a forked ingest process on Linux) and with the
    ingest on a thread of the stepping process (``thread``), interleaved, 2 passes each.
    Reported: steps/s of each (best pass), their ratio to ``off`` (target >= 0.87), the
    step latency percentiles (p99.9 target < 3 ms with logging), wall and the stepping
    thread's CPU (``p999_cpu_ms_*``: what a loaded box does not stretch), the CPU
    microseconds per step of each (stepping thread, stepping process, ingest process) and
    their ratios, and the load average."""
    from bench.oracle_trace import oracle_actions

    _oracle_workload(benchmark, extra, bench_dir / "oracle-steps.duckdb", oracle_actions(), 1)


def bench_oracle_steps_grpo8(benchmark, extra, bench_dir):
    """The RL workload: oracle actions, 8 rollouts per question as in a GRPO group (the
    first 250 questions of the default set, each replayed 8 times in a row: ~10k steps),
    logging off, on and on with the ingest thread, interleaved, 2 passes each; the same
    figures as `bench_oracle_steps`. Repeated (tool, arguments) on one world are served by the tool
    result cache (`medenv.tools.cache`; ``MEDENV_TOOL_CACHE=0`` turns it off);
    ``cache_hit_rate`` is its share of hits."""
    from bench.oracle_trace import oracle_actions
    from medenv.tools.cache import cache_stats

    trace = oracle_actions()[:250]
    figures = _oracle_workload(benchmark, extra, bench_dir / "grpo8.duckdb", trace, 8)
    hits, misses, _ = cache_stats(figures.pop("world"))
    extra(benchmark, cache_hit_rate=hits / max(1, hits + misses))


def _oracle_workload(benchmark, extra, db, trace, group: int) -> dict:
    from medenv.events.store import EventStore

    thread_store = EventStore(db.with_name(f"{db.stem}-thread.duckdb"), ingest="thread")
    envs = {
        "off": gym.make("MedResearch-v0", db=None),
        "on": gym.make("MedResearch-v0", db=db, durability="step"),
        "thread": gym.make("MedResearch-v0", db=thread_store, disable_env_checker=True),
    }
    for env in envs.values():
        env.reset(seed=0)
    rates, lat, cpu, proc, child = ({name: [] for name in envs} for _ in range(5))
    cpu_s = time.process_time()

    def passes():
        for _ in range(2):
            for name, env in envs.items():
                start, child_start = time.process_time(), _child_cpu_s(env)
                rates[name].append(_replay(env, trace, lat[name], cpu[name], group))
                proc[name].append(time.process_time() - start)
                child[name].append(_child_cpu_s(env) - child_start)

    benchmark.pedantic(passes, rounds=1, iterations=1)
    cpu_s = time.process_time() - cpu_s
    world = envs["on"].unwrapped.world
    for env in envs.values():
        env.close()
    figures = _figures(rates, lat, cpu, proc, child)
    extra(
        benchmark,
        steps=len(lat["on"]) // 2,
        load_avg=os.getloadavg()[0],
        process_cpu_s=cpu_s,
        **figures,
    )
    return {"world": world, **figures}

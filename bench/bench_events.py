"""Event store speed: replaying one 10-step episode out of a 100k-event store, and raw
emit+commit throughput.

The store is written by the real `EventStore` (3,000+ episodes of ~32 events: prompt,
ten searches with observations, reward, end). Replay = `read_episode` on an open
`connect` result + `trajectory` (what ``medenv replay`` and SFT export do per episode).
`bench_emit_parts` (issue 19) prices each part of logging an event, on the events the env
logs for oracle actions.
"""

from __future__ import annotations

import os
import random
import time

import duckdb
import pytest

from medenv.events import schema as ev
from medenv.events.replay import trajectory
from medenv.events.store import EventStore, connect, read_episode

OBS = (
    'medical_search results for "x":\n1. Marfan syndrome | https://medref.medenv.org/entity/ORPHA:558\n   '
    * 3
)


RUN_STARTED = ev.RunStarted(
    config={"split": "test", "max_steps": 32}, kg_source="hpo", kg_version="2025-01-16",
    corpus_hash="c", parser_version="1", reward_weights={"accuracy": 1.0}, seed=0,
)  # fmt: skip


def _write_episode(store: EventStore, episode_id: str, rng: random.Random) -> int:
    store.emit(
        ev.EpisodeStarted(question_id=f"q{rng.randrange(2000)}", seed=0, split="test",
                          specialty="genetics", n_hops=3, optimal_calls=4, answer="A",
                          aliases=[], prompt="Which disease ... " * 20, config_hash="c",
                          tags={"agent": "bench"}),
        episode_id,
    )  # fmt: skip
    for step in range(10):
        store.emit(
            ev.ActionReceived(step=step, text='<tool_call>{"name": "medical_search"}</tool_call>'),
            episode_id,
        )
        store.emit(
            ev.ToolCalled(step=step, name="medical_search", arguments={"query": "x"}), episode_id
        )
        store.emit(ev.ToolReturned(step=step, name="medical_search", observation=OBS, latency_ms=1.0,
                                   doc_ids=["med:ORPHA:558"]), episode_id)  # fmt: skip
        store.commit()
    store.emit(ev.RewardAssigned(accuracy=1.0, format=1.0, efficiency=1.0, total=1.4, correct=True,
                                 evidence_recall=1.0, weights={}), episode_id)  # fmt: skip
    store.emit(ev.EpisodeEnded(steps=10, terminated=True, truncated=False, n_tool_calls=10,
                               n_format_errors=0), episode_id)  # fmt: skip
    store.end_episode(episode_id)
    return 33


@pytest.fixture(scope="module")
def store_100k(bench_dir):
    path = bench_dir / "events-100k.duckdb"
    rng = random.Random(0)
    n, k = 0, 0
    with EventStore(path, run_id="bench", durability="none", batch_events=50_000) as store:
        store.emit(RUN_STARTED)
        n += 1
        while n < 100_000:
            n += _write_episode(store, f"e{k:05d}", rng)
            k += 1
    return path, k, n


def test_replay_one_episode_from_100k_events(benchmark, extra, store_100k):
    path, episodes, n = store_100k
    con = connect(path)
    rng = random.Random(1)

    def replay():
        return trajectory(read_episode(con, f"e{rng.randrange(episodes):05d}"))

    traj = benchmark(replay)
    assert len(traj.steps) == 10
    assert read_episode(con, "e00000")[0].payload == RUN_STARTED  # as `medenv replay` reads it
    extra(benchmark, events=n, median_ms=benchmark.stats.stats.median * 1000)


@pytest.mark.parametrize("durability", ["step", "none"])
def test_emit_commit_throughput(benchmark, extra, bench_dir, durability):
    rng = random.Random(0)
    counter = iter(range(10**9))
    store = EventStore(
        bench_dir / f"emit-{durability}.duckdb", run_id="emit", durability=durability
    )

    def episode():
        return _write_episode(store, f"e{next(counter)}", rng)

    benchmark.pedantic(episode, rounds=300, iterations=1, warmup_rounds=5)
    store.close()
    extra(benchmark, events_per_s=33 / benchmark.stats.stats.median)


class _Capture:
    """A `Recorder` that keeps what the env gives it: ("emit", payload, episode_id),
    ("step", LoggedStep, episode_id), ("commit",), ("end", episode_id)."""

    shard = 0

    def __init__(self) -> None:
        self.log: list[tuple] = []

    def emit(self, payload, episode_id=None) -> int:
        self.log.append(("emit", payload, episode_id))
        return 0

    def emit_step(self, step, episode_id) -> int:
        self.log.append(("step", step, episode_id))
        return 0

    def commit(self) -> None:
        self.log.append(("commit",))

    def end_episode(self, episode_id=None) -> None:
        self.log.append(("end", episode_id))

    def discard(self) -> None:
        pass

    def close(self) -> None:
        pass


def _cpu_us(fn, n: int, rounds: int = 5) -> float:
    """The stepping thread's CPU microseconds per item of ``fn()`` (best of ``rounds``)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time_ns()
        fn()
        best = min(best, time.thread_time_ns() - start)
    return best / n / 1000


def bench_emit_parts(benchmark, extra, bench_dir):
    """Issue 19: what logging costs per event, part by part, on the events the env logs for
    the grounded oracle's actions over the first 300 questions of the default set (thread
    CPU microseconds per event, best of 5; ``*_per_step`` per committed step). ``definition_*``:
    the parts as the writer ran them before (`with_tokens`, `encode_payload`, `chain.link`,
    `chain.seal`, `encode_line`); ``raw_lines_us``: `medenv.events.encode.encode_staged`, every
    event as its raw line; ``step_lines_us``: the same with each step as one line (what the
    step path encodes: `medenv.events.logged_step`); ``sealer_us``: `medenv.events.sealer.Sealer` sealing those raw
    payloads as one chain (what the ingest process adds per event: count, hash, fold;
    ``summary_fold_us`` its fold alone);
    ``store_*``: `EventStore` emit, emit_step, commit and end_episode as the env calls them
    (no ingest);
    ``ingest_*`` / ``checkpoint_*``: the background thread's DuckDB insert and checkpoint."""
    import gymnasium as gym

    import medenv  # noqa: F401
    from bench.oracle_trace import oracle_actions
    from medenv.events import chain, encode
    from medenv.events.codec import encode_payload
    from medenv.events.ingest import Pending, insert
    from medenv.events.logged_step import events_of
    from medenv.events.seal_summary import SummaryFold
    from medenv.events.sealer import Sealer
    from medenv.events.spool import MappedSpool, Spool, encode_line
    from medenv.events.table import TABLE_SQL
    from medenv.events.tokens import TOKEN_FIELDS, count_tokens, with_tokens

    cap = _Capture()
    env = gym.make("MedResearch-v0", db=cap)
    for question_id, actions in oracle_actions()[:300]:
        env.reset(seed=0, options={"question_id": question_id})
        for action in actions:
            env.step(action)
    env.close()
    emits = [
        (payload, e[2])
        for e in cap.log
        if e[0] in ("emit", "step")
        for payload in ([e[1]] if e[0] == "emit" else [p for _, p in events_of(e[1])])
    ]  # a step's events as `events_of` gives them
    n, steps = len(emits), sum(1 for e in cap.log if e[0] == "commit")
    payloads = [p for p, _ in emits]
    texts = [getattr(p, TOKEN_FIELDS[type(p)]) for p in payloads if type(p) in TOKEN_FIELDS]
    full = [with_tokens(p) for p in payloads]
    bodies = [encode_payload(p) for p in full]
    kinds = [encode.EVENT_KINDS[type(p)] for p in payloads]
    ts = 1_700_000_000_000_000
    staged = [
        ("run", "episode", i, ts, k, p)
        for i, (k, p) in enumerate(zip(kinds, payloads, strict=True))
    ]
    step_rows = [  # the step path's rows: whole steps as one line each, other events as theirs
        ("run", "episode", i, ts, "step", e[1]) if e[0] == "step" else ("run", "episode", i,
         ts, encode.EVENT_KINDS[type(e[1])], e[1])
        for i, e in enumerate(x for x in cap.log if x[0] in ("emit", "step"))
    ]  # fmt: skip
    sealed = [chain.seal(b, chain.ZERO) for b in bodies]
    lines = [encode_line("run", "episode", 1, ts, k, s) for k, s in zip(kinds, sealed, strict=True)]
    raws = [encode_payload(p) for p in payloads]

    def seal_all() -> None:
        seal = Sealer().seal
        for i, (k, r) in enumerate(zip(kinds, raws, strict=True)):
            seal("run", "episode", i, ts, k, r)

    figures = {
        "events": n,
        "events_per_step": n / steps,
        "mean_payload_bytes": sum(map(len, bodies)) / n,
        "count_tokens_us": _cpu_us(lambda: [count_tokens(t) for t in texts], n),
        "definition_tokens_us": _cpu_us(lambda: [with_tokens(p) for p in payloads], n),
        "definition_encode_us": _cpu_us(lambda: [encode_payload(p) for p in full], n),
        "definition_hash_us": _cpu_us(
            lambda: [
                chain.link(chain.ZERO, "run", "episode", 1, ts, k, b)
                for k, b in zip(kinds, bodies, strict=True)
            ],
            n,
        ),
        "definition_seal_us": _cpu_us(lambda: [chain.seal(b, chain.ZERO) for b in bodies], n),
        "definition_line_us": _cpu_us(
            lambda: [
                encode_line("run", "episode", 1, ts, k, s)
                for k, s in zip(kinds, sealed, strict=True)
            ],
            n,
        ),
        "raw_lines_us": _cpu_us(lambda: encode.encode_staged(staged), n),
        "step_lines_us": _cpu_us(lambda: encode.encode_staged(step_rows), n),
        "sealer_us": _cpu_us(seal_all, n),
        "pending_append_us": _cpu_us(
            lambda: [
                Pending("r").append("e", 1, ts, k, s) for k, s in zip(kinds, sealed, strict=True)
            ],
            n,
        ),
        "summary_fold_us": _cpu_us(
            lambda: [SummaryFold().add(k, r) for k, r in zip(kinds, raws, strict=True)], n
        ),
    }
    per = max(1, round(n / steps))
    writes = [b"".join(lines[i : i + per]) for i in range(0, n, per)]
    for name, kind in (("spool", Spool), ("mapped_spool", MappedSpool)):
        spool = kind(bench_dir / f"parts-{name}-{time.time_ns()}.spool")
        write = _cpu_us(lambda spool=spool: [spool.write(w) for w in writes], 1)
        figures[f"{name}_write_us_per_step"] = write / len(writes)
        spool.close()

    def store_pass(durability: str) -> float:
        path = bench_dir / f"parts-{durability}-{time.time_ns()}.duckdb"
        store = EventStore(path, run_id="parts", durability=durability, batch_events=10**9)
        start = time.thread_time_ns()
        for entry in cap.log:
            if entry[0] == "emit":
                store.emit(entry[1], entry[2])
            elif entry[0] == "step":
                store.emit_step(entry[1], entry[2])
            elif entry[0] == "commit":
                store.commit()
            elif entry[0] == "end":
                store.end_episode(entry[1])
        spent = time.thread_time_ns() - start
        store.close()
        return spent / 1000

    for durability in ("step", "none"):
        best = min(store_pass(durability) for _ in range(3))
        figures[f"store_{durability}_us_per_event"] = best / n
        figures[f"store_{durability}_us_per_step"] = best / steps

    pending = Pending("r")
    for (_, episode_id), k, s in zip(emits, kinds, sealed, strict=True):
        pending.append(episode_id, 1, ts, k, s)
    con = duckdb.connect(
        str(bench_dir / f"parts-ingest-{time.time_ns()}.duckdb"), config={"threads": 1}
    )
    con.execute(TABLE_SQL)
    ins = ckpt = float("inf")
    for _ in range(3):
        start = time.thread_time_ns()
        insert(con, bench_dir / "x", bench_dir / "x.spool", pending)
        mid = time.thread_time_ns()
        con.execute("CHECKPOINT")
        ins, ckpt = min(ins, mid - start), min(ckpt, time.thread_time_ns() - mid)
    con.close()
    figures["ingest_insert_us"] = ins / n / 1000
    figures["checkpoint_us"] = ckpt / n / 1000
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    extra(benchmark, load_avg=os.getloadavg()[0], **figures)

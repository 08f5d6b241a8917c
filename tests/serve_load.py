"""A loopback load test of `medenv serve`: many concurrent sessions of scripted episodes.

`start_server(sessions)` runs the app on a free 127.0.0.1 port in a thread (uvicorn);
`run_load(url, n_sessions, episodes_each, items)` drives ``n_sessions`` `RemoteEnv`
clients at once from threads; each plays scripted episodes (search the question's first
quoted phrase, search the first result's title, answer with the second search's first
title) and records what it sent and received, with per-step latency."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

QUOTED = re.compile(r'"([^"]+)"')
RESULT = re.compile(r"^\d+\. (.+?) \| ", re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def start_server(sessions) -> Iterator[str]:
    import uvicorn

    from medenv.serve import create_app

    port = free_port()
    config = uvicorn.Config(create_app(sessions), host="127.0.0.1", port=port,
                            log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the env server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def play(url: str, jobs: list[tuple[str, int]]) -> dict:
    """One client: one session, the scripted episodes of ``jobs`` ((question id, seed))."""
    from medenv.serve_client import RemoteEnv

    env = RemoteEnv(url)
    episodes, latencies = [], []
    try:
        for qid, seed in jobs:
            prompt, info = env.reset(seed=seed, options={"question_id": qid})
            question = prompt.rpartition("Question:")[2]
            found = QUOTED.findall(question)
            sent, received = [], []
            action = {"name": "medical_search",
                      "arguments": {"query": found[0] if found else question[-60:]}}  # fmt: skip
            for _ in range(3):
                t = time.perf_counter()
                obs, reward, terminated, truncated, info = env.step(action)
                latencies.append(time.perf_counter() - t)
                sent.append(action)
                received.append(obs)
                if terminated or truncated:
                    break
                titles = RESULT.findall(obs)
                if len(sent) == 1 and titles:
                    action = {"name": "medical_search", "arguments": {"query": titles[0]}}
                else:
                    action = f"<answer>{titles[0] if titles else 'unknown'}</answer>"
            episodes.append({"episode_id": env.episode_id, "question_id": qid, "seed": seed,
                             "sent": sent, "received": received, "reward": reward})  # fmt: skip
        session = env.session_id
    finally:
        env.close()
    return {"session": session, "episodes": episodes, "latencies": latencies}


def run_load(url: str, n_sessions: int, episodes_each: int, question_ids: list[str]) -> list:
    """``n_sessions`` clients at once; client ``i`` plays questions ``i*e .. i*e+e-1``."""
    plans = [
        [(question_ids[(i * episodes_each + j) % len(question_ids)], 1000 * i + j)
         for j in range(episodes_each)]
        for i in range(n_sessions)
    ]  # fmt: skip
    with ThreadPoolExecutor(n_sessions) as pool:
        return list(pool.map(lambda plan: play(url, plan), plans))

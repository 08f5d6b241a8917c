"""Oracle actions over the default question set, recorded once and replayed by benches.

`oracle_actions()` runs `medenv.agents.oracle.OracleAgent` (seed 0) over every item of the default
set once, with logging off, and returns ``[(question_id, [action, ...]), ...]`` in set
order. The trace is cached as JSON under ``$MEDENV_HOME/bench/`` (keyed by the set's folder
name), so a bench that times the env on oracle actions times the env alone, not the agent.
"""

from __future__ import annotations

import json
import os

from medenv.paths import medenv_home


def oracle_actions(progress: bool = False) -> list[tuple[str, list[str]]]:
    from medenv.questions import default_qa_set

    folder = default_qa_set(progress=progress)
    cache = medenv_home() / "bench" / f"oracle-actions-{folder.name}.json"
    if cache.is_file():
        return [(q, a) for q, a in json.loads(cache.read_text())]
    trace = record_actions(folder)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(trace))
    os.replace(tmp, cache)
    return trace


def record_actions(folder, limit: int | None = None) -> list[tuple[str, list[str]]]:
    """The oracle's actions (seed 0, logging off) on the first ``limit`` items of ``folder``
    (all when None), in set order."""
    import gymnasium as gym
    from medenv.agents.oracle import OracleAgent

    import medenv  # noqa: F401  (registers MedResearch-v0)

    env = gym.make("MedResearch-v0", qa=folder, db=None)
    base = env.unwrapped
    obs, info = env.reset(seed=0)
    agent = OracleAgent(base.world, seed=0)
    trace = []
    for item in base.items[:limit]:
        obs, info = env.reset(seed=0, options={"question_id": item.id})
        agent.reset(item, seed=0)
        actions, done = [], False
        while not done:
            action = agent.act(obs, info)
            actions.append(action)
            obs, _r, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        trace.append((item.id, actions))
    env.close()
    return trace

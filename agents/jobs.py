"""A rollout's plan: which (question, sample) episodes to run, with which seeds.

`plan_jobs` lays out ``episodes`` attempts over the questions in order (cycling), ``k``
samples each; every (question, sample) gets its own episode seed derived with hashlib from
the rollout seed (`episode_seed`), so reruns are identical. `finished_jobs` reads the store
for the (question id, episode seed) pairs an agent already finished: a rerun skips them
(resume).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import msgspec

from medenv.errors import MedenvError
from medenv.events.episodes import load_episodes, store_paths

MAX_JOBS = 1_000_000  # episodes x k planned by one call (the plan is held in memory)


class Job(msgspec.Struct, frozen=True):
    question_id: str
    sample: int
    seed: int


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

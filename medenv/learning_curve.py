"""Reward by training step, from the event log: is a training run learning?

GRPO tags every training episode ``{"agent": "grpo", "training_step": N}`` (`medenv.trl`);
its ``reward_assigned`` event holds the total reward. `episode_rewards` reads the pairs
(step, reward) of every tagged episode, `by_step` averages them per step, `reward_slope`
fits the least-squares slope of reward on step over episodes with a 95% CI from a
bootstrap that resamples whole training steps (the episodes of one step share a policy
and a question group, so they are not independent), and `plot_reward_by_step` draws the
curve (``medenv eval --plot-steps PATH``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec
import numpy as np

from medenv.errors import MedenvError
from medenv.evaluation import connect_stores
from medenv.paths import save_figure


class StepReward(msgspec.Struct, frozen=True):
    step: int
    episodes: int
    mean_reward: float
    accuracy: float


class Slope(msgspec.Struct, frozen=True):
    slope: float  # reward per training step (least squares over episodes)
    ci: tuple[float, float]  # 95% bootstrap interval, resampling training steps
    steps: int
    episodes: int


_QUERY = """
select s.run_id, s.episode_id,
       json_extract(s.payload, '$.tags.training_step')::INT as step,
       json_extract(r.payload, '$.total')::DOUBLE as total,
       json_extract(r.payload, '$.correct')::BOOLEAN as correct
from events s join events r
  on s.run_id = r.run_id and s.episode_id = r.episode_id
where s.type = 'episode_started' and r.type = 'reward_assigned'
  and json_extract(s.payload, '$.tags.training_step') is not null
"""


def episode_rewards(
    db: str | Path | Sequence[str | Path], runs: Sequence[str] | None = None
) -> list[tuple[int, float, bool]]:
    """(training step, total reward, correct) of every episode tagged with a training step
    in the store(s) ``db`` (files or globs; shards included), optionally only ``runs``."""
    out = []
    # one connection over every file: a main file's `connect` reads its shards too, so
    # connecting file by file would count each shard's episodes twice
    con = connect_stores(db)
    try:
        for run_id, _, step, total, correct in con.execute(_QUERY).fetchall():
            if runs is None or run_id in runs:
                out.append((int(step), float(total), bool(correct)))
    finally:
        con.close()
    return sorted(out)


def by_step(rows: list[tuple[int, float, bool]]) -> list[StepReward]:
    """Mean reward and accuracy per training step."""
    groups: dict[int, list[tuple[float, bool]]] = {}
    for step, total, correct in rows:
        groups.setdefault(step, []).append((total, correct))
    return [
        StepReward(
            step, len(g), float(np.mean([t for t, _ in g])), float(np.mean([c for _, c in g]))
        )
        for step, g in sorted(groups.items())
    ]


def _ols(x: np.ndarray, y: np.ndarray) -> float:
    dx = x - x.mean()
    denom = float((dx * dx).sum())
    return 0.0 if denom == 0 else float((dx * (y - y.mean())).sum() / denom)


def reward_slope(
    rows: list[tuple[int, float, bool]], resamples: int = 2000, seed: int = 0
) -> Slope:
    """Least-squares slope of reward on training step over episodes, with a 95% CI from
    a bootstrap over training steps (each resample draws steps with replacement and keeps
    all their episodes). Needs episodes at two or more steps."""
    steps = sorted({s for s, _, _ in rows})
    if len(steps) < 2:
        raise MedenvError(
            f"a reward slope needs episodes at 2 or more training steps, got {len(steps)}"
        )
    x = np.array([s for s, _, _ in rows], dtype=float)
    y = np.array([t for _, t, _ in rows], dtype=float)
    members = [np.flatnonzero(x == s) for s in steps]
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(resamples):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(steps), len(steps))])
        boots.append(_ols(x[idx], y[idx]))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Slope(_ols(x, y), (float(lo), float(hi)), len(steps), len(rows))


def plot_reward_by_step(
    points: list[StepReward], path: str | Path, title: str = "reward by training step"
) -> Path:
    """A PNG of the mean reward (and accuracy) per training step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not points:
        raise MedenvError("no episodes tagged with a training step to plot")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [p.step for p in points]
    ax.plot(steps, [p.mean_reward for p in points], marker="o", label="mean reward")
    ax.plot(steps, [p.accuracy for p in points], marker=".", linestyle="--", label="accuracy")
    ax.set_xlabel("training step")
    ax.set_ylabel("per-episode mean")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path

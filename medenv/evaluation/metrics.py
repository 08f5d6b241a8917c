"""The metrics of `medenv.evaluation`: result types and pure functions over episode records.

`group_metrics` computes every metric of one group of `EpisodeRecord`s (definitions in the
`medenv.evaluation` docstring). It reads each record's fields once into plain lists, so a
group of 100k episodes costs a few hundred milliseconds; the bootstrap interval draws the
count of each distinct value per resample (`bootstrap_ci`) instead of resampling indices.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence

import msgspec
import numpy as np

from medenv.errors import MedenvError
from medenv.events.episodes import EpisodeRecord
from medenv.reward import optimal_research_calls, research_calls

RARITY_BUCKETS = (("common", 0.5), ("uncommon", 0.8), ("rare", math.inf))


class Breakdown(msgspec.Struct, frozen=True):
    """Accuracy and calls for one slice (a specialty, a hop count, a rarity bucket)."""

    n: int
    accuracy: float
    mean_tool_calls: float


class GroupMetrics(msgspec.Struct, frozen=True, kw_only=True):
    group: str
    n_episodes: int
    n_ended: int
    n_questions: int
    accuracy: float
    accuracy_ci: tuple[float, float]
    judged_accuracy: float | None
    n_judged: int
    pass_at_k: dict[str, float]
    mean_tool_calls: float
    median_tool_calls: float
    tool_call_efficiency: float | None
    format_error_rate: float
    format_error_episodes: float
    mean_tokens: float | None
    mean_action_tokens: float | None
    evidence_recall: float | None
    mean_reward: float | None
    grounded: float | None = None
    recovered: float | None = None
    by_specialty: dict[str, Breakdown]
    by_hops: dict[str, Breakdown]
    by_rarity: dict[str, Breakdown]
    accuracy_by_calls: dict[str, Breakdown]


class EvalResult(msgspec.Struct, frozen=True, kw_only=True):
    sources: tuple[str, ...]
    group_by: str
    seed: int
    n_bootstrap: int
    groups: tuple[GroupMetrics, ...]

    def group(self, name: str) -> GroupMetrics:
        for g in self.groups:
            if g.group == name:
                return g
        raise MedenvError(
            f"no group {name!r} in this evaluation (have {[g.group for g in self.groups]})"
        )


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one question: ``n`` samples, ``c`` correct (Chen et al., 2021)."""
    if k > n:
        raise ValueError(f"k={k} > n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def bootstrap_ci(
    values: Sequence[float], seed: int = 0, n_resamples: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded: same input -> same interval).

    A resample of ``n`` values drawn with replacement holds each distinct value a
    multinomially distributed number of times, so each resample's mean is drawn as
    ``counts @ distinct / n`` with ``counts ~ Multinomial(n, share of each value)``: the
    same distribution as resampling indices, in O(distinct values) per resample (two for
    correct/wrong) instead of O(n)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    distinct, counts = np.unique(x, return_counts=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(x.size, counts / x.size, size=n_resamples)
    means = draws @ distinct / x.size
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def rarity_bucket(rarity: float | None) -> str:
    if rarity is None:
        return "unknown"
    for name, upper in RARITY_BUCKETS:
        if rarity < upper:
            return name
    return RARITY_BUCKETS[-1][0]


def _breakdown(
    keys: Sequence, correct: Sequence[bool], calls: Sequence[int]
) -> dict[str, Breakdown]:
    """Accuracy and mean research calls per distinct key (numbers in numeric order first,
    then the other keys in text order)."""
    slices: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # n, correct, calls
    for key, ok, n_calls in zip(keys, correct, calls, strict=True):
        s = slices[str(key)]
        s[0] += 1
        s[1] += ok
        s[2] += n_calls

    def order(k: str):
        return (0, int(k), "") if k.lstrip("-").isdigit() else (1, 0, k)

    return {
        k: Breakdown(n=n, accuracy=c / n, mean_tool_calls=t / n)
        for k, (n, c, t) in sorted(slices.items(), key=lambda kv: order(kv[0]))
    }


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def _pass_at_ks(questions: Sequence[str], correct: Sequence[bool]) -> tuple[int, dict[str, float]]:
    """(number of questions, ``pass@k`` for k = 1, 2, 4, ... up to the fewest samples any
    question has, and that fewest)."""
    by_q: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # samples, correct
    for q, ok in zip(questions, correct, strict=True):
        c = by_q[q]
        c[0] += 1
        c[1] += ok
    k_max = min(n for n, _ in by_q.values())
    ks = sorted({k for k in (2**i for i in range(0, 20)) if k <= k_max} | {k_max})
    return len(by_q), {
        f"pass@{k}": sum(pass_at_k(n, c, k) for n, c in by_q.values()) / len(by_q) for k in ks
    }


def group_metrics(
    name: str, episodes: Sequence[EpisodeRecord], seed: int = 0, n_bootstrap: int = 1000
) -> GroupMetrics:
    """All metrics of one group of episodes (see the `medenv.evaluation` docstring)."""
    if not episodes:
        raise MedenvError(f"group {name!r} has no episodes")
    n = len(episodes)
    correct = [bool(e.correct) for e in episodes]
    calls = [research_calls(e.n_tool_calls, e.prediction is not None) for e in episodes]
    n_questions, pak = _pass_at_ks([e.question_id for e in episodes], correct)
    eff = [
        min(1.0, optimal_research_calls(e.optimal_calls) / max(1, c))
        for e, c, ok in zip(episodes, calls, correct, strict=True)
        if ok and e.optimal_calls is not None
    ]
    n_actions = sum(e.n_actions for e in episodes)
    format_errors = [e.n_format_errors for e in episodes]
    checked = [e for e in episodes if e.grounded is not None]
    n_judged = sum(e.judged_correct is not None for e in episodes)
    return GroupMetrics(
        group=name,
        n_episodes=n,
        n_ended=sum(e.ended for e in episodes),
        n_questions=n_questions,
        accuracy=sum(correct) / n,
        accuracy_ci=bootstrap_ci(correct, seed=seed, n_resamples=n_bootstrap),
        judged_accuracy=(
            sum(ok or bool(e.judged_correct) for e, ok in zip(episodes, correct, strict=True)) / n
            if n_judged
            else None
        ),
        n_judged=n_judged,
        pass_at_k=pak,
        mean_tool_calls=sum(calls) / n,
        median_tool_calls=float(statistics.median(calls)),
        tool_call_efficiency=_mean(eff),
        format_error_rate=sum(format_errors) / n_actions if n_actions else 0.0,
        format_error_episodes=sum(f > 0 for f in format_errors) / n,
        mean_tokens=_mean([e.tokens for e in episodes if e.tokens is not None]),
        mean_action_tokens=_mean(
            [e.action_tokens for e in episodes if e.action_tokens is not None]
        ),
        evidence_recall=_mean(
            [e.evidence_recall for e in episodes if e.evidence_recall is not None]
        ),
        mean_reward=_mean([e.reward for e in episodes if e.reward is not None]),
        grounded=_mean([float(e.grounded) for e in checked]),
        recovered=_mean([float(bool(e.recovered)) for e in checked]),
        by_specialty=_breakdown([e.specialty for e in episodes], correct, calls),
        by_hops=_breakdown(
            ["?" if e.n_hops is None else e.n_hops for e in episodes], correct, calls
        ),
        by_rarity=_breakdown([rarity_bucket(e.rarity) for e in episodes], correct, calls),
        accuracy_by_calls=_breakdown(calls, correct, calls),
    )

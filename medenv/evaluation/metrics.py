"""The metrics of `medenv.evaluation`: result types and pure functions over episode records.

`group_metrics` computes every metric of one group of `EpisodeRecord`s (definitions in the
`medenv.evaluation` docstring). It reads each record's fields once into plain lists, so a
group of 100k episodes costs a few hundred milliseconds; the bootstrap interval draws the
count of each distinct value per resample (`bootstrap_ci`) instead of resampling indices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np

from medenv.errors import MedenvError
from medenv.events.episodes import EpisodeRecord

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


def _factorize(values: Sequence) -> tuple[list, np.ndarray]:
    """The distinct values in first-appearance order and each value's index among them
    (a dict lookup per value: cheaper than sorting Python objects)."""
    codes: dict = {}
    inverse = np.fromiter((codes.setdefault(v, len(codes)) for v in values), np.int64, len(values))
    return list(codes), inverse


def _breakdown(keys: Sequence, correct: np.ndarray, calls: np.ndarray) -> dict[str, Breakdown]:
    """Accuracy and mean research calls per distinct key (numbers in numeric order first,
    then the other keys in text order); counted with ``np.bincount``."""
    distinct, inverse = _factorize(keys)
    n = np.bincount(inverse, minlength=len(distinct))
    ok = np.bincount(inverse, weights=correct, minlength=len(distinct))
    total = np.bincount(inverse, weights=calls, minlength=len(distinct))
    slices = {
        str(k): (int(a), int(b), int(c)) for k, a, b, c in zip(distinct, n, ok, total, strict=True)
    }

    def order(k: str):
        return (0, int(k), "") if k.lstrip("-").isdigit() else (1, 0, k)

    return {
        k: Breakdown(n=n, accuracy=c / n, mean_tool_calls=t / n)
        for k, (n, c, t) in sorted(slices.items(), key=lambda kv: order(kv[0]))
    }


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def _pass_at_ks(questions: Sequence[str], correct: np.ndarray) -> tuple[int, dict[str, float]]:
    """(number of questions, ``pass@k`` for k = 1, 2, 4, ... up to the fewest samples any
    question has); the per-question sums run in first-appearance order."""
    distinct, inverse = _factorize(questions)
    samples = np.bincount(inverse, minlength=len(distinct))
    right = np.bincount(inverse, weights=correct, minlength=len(distinct))
    by_q = list(zip(samples.tolist(), right.astype(np.int64).tolist(), strict=True))
    k_max = min(n for n, _ in by_q)
    ks = sorted({k for k in (2**i for i in range(0, 20)) if k <= k_max} | {k_max})
    # questions sharing (samples, correct) share pass@k: compute each pair once
    table = {pair: None for pair in by_q}
    out = {}
    for k in ks:
        for n, c in table:
            table[(n, c)] = pass_at_k(n, c, k)
        out[f"pass@{k}"] = sum(table[pair] for pair in by_q) / len(by_q)
    return len(by_q), out


def _rarity_buckets(rarity: np.ndarray) -> np.ndarray:
    """`rarity_bucket` of each value (NaN = None -> ``unknown``)."""
    names = np.array([name for name, _ in RARITY_BUCKETS] + ["unknown"], dtype=object)
    index = np.searchsorted(np.array([u for _, u in RARITY_BUCKETS[:-1]]), rarity, side="right")
    return names[np.where(np.isnan(rarity), len(RARITY_BUCKETS), index)]


def group_metrics(
    name: str, episodes: Sequence[EpisodeRecord], seed: int = 0, n_bootstrap: int = 1000
) -> GroupMetrics:
    """All metrics of one group of episodes (see the `medenv.evaluation` docstring). Each
    record field is read once into a column; counts and breakdowns are numpy operations,
    means of floats are Python sums in episode order."""
    if not episodes:
        raise MedenvError(f"group {name!r} has no episodes")
    n = len(episodes)
    correct = np.fromiter((bool(e.correct) for e in episodes), bool, n)
    answered = np.fromiter((e.prediction is not None for e in episodes), np.int64, n)
    n_tool_calls = np.fromiter((e.n_tool_calls for e in episodes), np.int64, n)
    calls = np.maximum(0, n_tool_calls - answered)  # `research_calls`
    n_questions, pak = _pass_at_ks([e.question_id for e in episodes], correct)
    optimal = np.fromiter(
        (-1 if e.optimal_calls is None else e.optimal_calls for e in episodes), np.int64, n
    )
    scored = correct & (optimal >= 0)
    # `optimal_research_calls` over the research calls, capped at 1
    eff = np.minimum(1.0, np.maximum(1, optimal[scored] - 1) / np.maximum(1, calls[scored]))
    n_actions = sum(e.n_actions for e in episodes)
    format_errors = np.fromiter((e.n_format_errors for e in episodes), np.int64, n)
    checked = [e for e in episodes if e.grounded is not None]
    judged = [e.judged_correct for e in episodes]
    n_judged = n - judged.count(None)
    hops = ["?" if e.n_hops is None else str(e.n_hops) for e in episodes]
    rarity = np.fromiter((math.nan if e.rarity is None else e.rarity for e in episodes), float, n)
    return GroupMetrics(
        group=name,
        n_episodes=n,
        n_ended=sum(e.ended for e in episodes),
        n_questions=n_questions,
        accuracy=int(correct.sum()) / n,
        accuracy_ci=bootstrap_ci(correct, seed=seed, n_resamples=n_bootstrap),
        judged_accuracy=(
            int((correct | np.array([bool(j) for j in judged])).sum()) / n if n_judged else None
        ),
        n_judged=n_judged,
        pass_at_k=pak,
        mean_tool_calls=int(calls.sum()) / n,
        median_tool_calls=float(np.median(calls)),
        tool_call_efficiency=_mean(eff.tolist()),
        format_error_rate=int(format_errors.sum()) / n_actions if n_actions else 0.0,
        format_error_episodes=int((format_errors > 0).sum()) / n,
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
        by_hops=_breakdown(hops, correct, calls),
        by_rarity=_breakdown(_rarity_buckets(rarity).tolist(), correct, calls),
        accuracy_by_calls=_breakdown(calls.tolist(), correct, calls),
    )

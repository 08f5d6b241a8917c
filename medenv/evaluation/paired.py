"""Two runs on the same questions, compared question by question.

Two models evaluated on one held-out set are not independent samples: each question is
easy or hard for both. `paired_accuracy` compares them on the questions both answered:
how many each alone got right (the discordant pairs, where any difference lives), the
difference in accuracy with a 95% bootstrap interval that resamples questions (keeping
each question's pair together), and the exact two-sided McNemar p-value (a binomial test
of the discordant pairs at 1/2) when every question has one episode in each run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from math import comb

import msgspec
import numpy as np

from medenv.errors import MedenvError


class PairedComparison(msgspec.Struct, frozen=True, kw_only=True):
    questions: int  # question ids with episodes in both runs
    both: int  # right in both (one episode per question; else questions right on average in both)
    only_a: int  # right in A, wrong in B
    only_b: int  # right in B, wrong in A
    neither: int
    accuracy_a: float  # on the shared questions
    accuracy_b: float
    difference: float  # accuracy_b - accuracy_a
    difference_ci: tuple[float, float]  # 95% bootstrap over questions (paired)
    mcnemar_p: float | None  # exact two-sided; None when a question has several episodes


def per_question(episodes: Iterable) -> dict[str, float]:
    """Mean correctness per question id of records with ``question_id`` and ``correct``
    (an episode without a verdict counts as wrong)."""
    hits: dict[str, list[float]] = defaultdict(list)
    for ep in episodes:
        hits[ep.question_id].append(1.0 if ep.correct else 0.0)
    return {q: sum(v) / len(v) for q, v in hits.items()}


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: P(a binomial(n, 1/2) is as far from n/2 as the
    smaller discordant count), doubled, at most 1."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_accuracy(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    single: bool = True,
    seed: int = 0,
    resamples: int = 2000,
) -> PairedComparison:
    """Compare per-question accuracies ``a`` and ``b`` (question id -> share right) on
    their shared questions; ``single``: each question had one episode per run (the
    McNemar test applies). Seeded: same input, same interval."""
    shared = sorted(set(a) & set(b))
    if not shared:
        raise MedenvError("the two runs share no question: nothing to compare")
    x = np.array([a[q] for q in shared])
    y = np.array([b[q] for q in shared])
    right_a, right_b = x >= 0.5, y >= 0.5
    only_a = int(np.sum(right_a & ~right_b))
    only_b = int(np.sum(right_b & ~right_a))
    d = y - x
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(shared), size=(resamples, len(shared)))
    lo, hi = np.percentile(d[idx].mean(axis=1), [2.5, 97.5])
    return PairedComparison(
        questions=len(shared),
        both=int(np.sum(right_a & right_b)),
        only_a=only_a,
        only_b=only_b,
        neither=int(np.sum(~right_a & ~right_b)),
        accuracy_a=float(x.mean()),
        accuracy_b=float(y.mean()),
        difference=float(d.mean()),
        difference_ci=(float(lo), float(hi)),
        mcnemar_p=mcnemar_exact(only_a, only_b) if single else None,
    )


def describe(c: PairedComparison, a: str = "A", b: str = "B") -> str:
    """One line for a terminal."""
    p = "" if c.mcnemar_p is None else f"; exact McNemar p {c.mcnemar_p:.3g}"
    return (
        f"{c.questions} shared questions: right in both {c.both}, only {a} {c.only_a}, "
        f"only {b} {c.only_b}, neither {c.neither}; accuracy {c.accuracy_a:.3f} -> "
        f"{c.accuracy_b:.3f}, difference {c.difference:+.3f} [95% CI {c.difference_ci[0]:+.3f}, "
        f"{c.difference_ci[1]:+.3f}]{p}"
    )


def compare_stores(db_a, db_b, *, runs_b=None, **kwargs) -> PairedComparison:
    """`paired_accuracy` of the episodes in store(s) ``db_a`` against ``db_b`` (``runs_b``:
    only those run ids of ``db_b``)."""
    from medenv.evaluation import load_episodes

    eps_a = load_episodes(db_a, grounding=False)
    eps_b = load_episodes(db_b, runs_b, grounding=False)
    single = all(len({e.question_id for e in eps}) == len(eps) for eps in (eps_a, eps_b))
    return paired_accuracy(per_question(eps_a), per_question(eps_b), single=single, **kwargs)

"""`medenv.evaluation.paired`: two runs compared question by question (issue 21: "the
post-GRPO evaluation is not worse than the SFT one", read on the same held-out questions)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from medenv.errors import MedenvError
from medenv.evaluation.paired import compare_stores, mcnemar_exact, paired_accuracy


@pytest.mark.parametrize("only_a, only_b", [(0, 0), (0, 4), (3, 3), (8, 2), (1, 12), (20, 7)])
def test_mcnemar_matches_scipys_exact_binomial_test(only_a, only_b):
    expected = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert mcnemar_exact(only_a, only_b) == pytest.approx(expected, rel=1e-12)


def test_counts_difference_and_interval_against_a_loop():
    rng = np.random.default_rng(3)
    qs = [f"q{i}" for i in range(60)]
    a = {q: float(rng.random() < 0.3) for q in qs}
    b = {q: float(rng.random() < 0.4) for q in qs[10:] + ["extra"]}  # 50 shared
    r = paired_accuracy(a, b)
    shared = [q for q in qs if q in b]
    assert r.questions == len(shared) == 50
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for q in shared:
        counts[(a[q] == 1.0, b[q] == 1.0)] += 1
    assert (r.both, r.only_a, r.only_b, r.neither) == (
        counts[True, True],
        counts[True, False],
        counts[False, True],
        counts[False, False],
    )
    assert r.accuracy_a == pytest.approx(sum(a[q] for q in shared) / 50)
    assert r.accuracy_b == pytest.approx(sum(b[q] for q in shared) / 50)
    assert r.difference == pytest.approx((r.only_b - r.only_a) / 50)
    lo, hi = r.difference_ci
    assert lo <= r.difference <= hi
    # the interval's width is the paired one: about 2 x 1.96 x sd(d) / sqrt(n)
    d = np.array([b[q] - a[q] for q in shared])
    assert hi - lo == pytest.approx(2 * 1.96 * d.std() / np.sqrt(50), rel=0.25)
    swapped = paired_accuracy(b, a)
    assert swapped.difference == pytest.approx(-r.difference)
    assert (swapped.only_a, swapped.only_b) == (r.only_b, r.only_a)
    assert paired_accuracy(a, b) == r  # seeded


def test_identical_runs_differ_by_nothing_and_disjoint_runs_are_refused():
    a = {"x": 1.0, "y": 0.0, "z": 1.0}
    r = paired_accuracy(a, dict(a))
    assert (r.difference, r.difference_ci, r.mcnemar_p) == (0.0, (0.0, 0.0), 1.0)
    assert paired_accuracy(a, dict(a), single=False).mcnemar_p is None
    with pytest.raises(MedenvError, match="share no question"):
        paired_accuracy(a, {"w": 1.0})


class _RightOn:
    """A scripted agent that answers the gold answer on the questions in ``right`` and a
    wrong name elsewhere, so each question's verdict is known."""

    right: frozenset = frozenset()

    def __init__(self, world=None):
        self.item = None

    def reset(self, item=None, seed=None):
        self.item = item

    def act(self, observation, info):
        from medenv.agents.text import answer_text

        return answer_text(
            None, self.item.answer if self.item.id in self.right else "Not A Disease"
        )


def _agent(name: str, right: set[str]):
    return type(name, (_RightOn,), {"right": frozenset(right), "agent_name": name})


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two real stores of the same 8 questions: A right on 4, B on 5 (2 in common)."""
    from medenv.agents.rollout import rollout

    from medenv.questions import load_questions

    tmp = tmp_path_factory.mktemp("paired")
    items = load_questions()[:8]
    ids = [item.id for item in items]
    a_right, b_right = set(ids[:4]), set(ids[2:7])  # both 2, only A 2, only B 3, neither 1
    for name, right in (("a", a_right), ("b", b_right)):
        rollout(_agent(name, right), qa=items, db=tmp / f"{name}.duckdb", progress=False)
    return tmp / "a.duckdb", tmp / "b.duckdb"


def test_compare_stores_reads_each_questions_verdict_from_real_logs(two_runs):
    r = compare_stores(*two_runs)
    assert (r.questions, r.both, r.only_a, r.only_b, r.neither) == (8, 2, 2, 3, 1)
    assert (r.accuracy_a, r.accuracy_b) == (0.5, 0.625)
    assert r.mcnemar_p == pytest.approx(binomtest(2, 5, 0.5).pvalue)


def test_eval_paired_with_prints_the_comparison_and_refuses_a_missing_store(two_runs, capsys):
    from medenv.cli import main

    a, b = two_runs
    assert main(["eval", "--db", str(b), "--paired-with", str(a), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "8 shared questions: right in both 2, only baseline 2, only this 3, neither 1" in err
    assert "difference +0.125" in err and "McNemar p 1" in err
    assert main(["eval", "--db", str(b), "--paired-with", str(a) + ".missing"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # refused before any table is printed
    assert "missing" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1

"""Reward: answer normalisation and matching, composite components, evidence recall."""

from __future__ import annotations

import msgspec
import pytest

from medenv.errors import MedenvError
from medenv.reward import (
    RewardTerm,
    RewardWeights,
    Rubric,
    answer_forms,
    compute_reward,
    evidence_recall,
    evidence_recall_term,
    is_correct,
    normalize_answer,
    outcome,
    research_calls,
    weights_from,
)
from medenv.synth.qa import Hop, QAItem


@pytest.fixture(scope="module")
def item(kg):
    """A real one-hop fact of the HPO graph: Apert syndrome's mode of inheritance."""
    disease = next(n for n in kg.find("Apert syndrome") if n.type == "disease")
    edge = kg.out_edges(disease.id, "has_inheritance")[0]
    target = kg.node(edge.target)
    return QAItem(
        id="q-apert",
        question="What is the mode of inheritance of Apert syndrome?",
        answer=target.name,
        answer_id=target.id,
        aliases=("AD", "dominant inheritance, autosomal"),
        chain=(disease.id, target.id),
        hops=(Hop(disease.id, "has_inheritance", target.id),),
        n_hops=1,
        optimal_calls=2,
        evidence=((f"med:{disease.id}", f"web:{disease.id}:x"),),
    )


def test_normalize_answer():
    assert normalize_answer("  The Marfan-Syndrome. ") == "marfan syndrome"
    assert normalize_answer("Ménière's disease") == normalize_answer("meniere s disease")
    assert normalize_answer("α-Thalassemia") == "α thalassemia"  # Greek kept
    assert normalize_answer("a") == ""


def test_is_correct_accepts_answer_aliases_and_id(item):
    assert is_correct(item.answer.upper(), item)
    assert is_correct(" ad ", item)
    assert is_correct("Dominant inheritance, autosomal.", item)
    assert is_correct(item.answer_id, item)
    assert not is_correct("Autosomal recessive inheritance", item)
    assert not is_correct("", item) and not is_correct(None, item) and not is_correct("the", item)


def test_components(item):
    w = RewardWeights()
    best = compute_reward(item, item.answer, n_tool_calls=2, n_format_errors=0, weights=w)
    assert (best.accuracy, best.format, best.efficiency) == (1.0, 1.0, 1.0)
    assert best.total == pytest.approx(1.4)
    # efficiency counts research calls (the answer call excluded) against n_hops = 1
    slow = compute_reward(item, item.answer, n_tool_calls=3, n_format_errors=1, weights=w)
    assert (slow.efficiency, slow.format) == (0.0, 0.5)
    assert slow.total == pytest.approx(1.0 + 0.2 * 0.5)
    two_hop = msgspec.structs.replace(item, n_hops=2, optimal_calls=3)
    for n_calls, expected in ((3, 1.0), (4, 0.5), (5, 0.0), (2, 1.0)):
        research = n_calls - 1  # the answer is one of the env's calls
        assert compute_reward(two_hop, item.answer, n_calls, 0, w).efficiency == expected
        assert expected == max(0.0, 1 - max(0, research - 2) / 2)
    wrong = compute_reward(item, "Autosomal recessive inheritance", 2, 0, w)
    assert (wrong.accuracy, wrong.format, wrong.efficiency) == (0.0, 1.0, 0.0)
    none = compute_reward(item, None, 12, 3, w)
    assert none.total == 0.0
    unanswered = compute_reward(item, None, 2, 0, w)  # well-formed calls, no answer
    assert (unanswered.accuracy, unanswered.format, unanswered.efficiency) == (0.0, 0.5, 0.0)
    assert compute_reward(item, None, 2, 1, w).format == 0.25
    assert compute_reward(item, None, 0, 0, w).format == 0.0
    custom = compute_reward(
        item, item.answer, 2, 0, RewardWeights(accuracy=2.0, format=0.0, efficiency=0.5)
    )
    assert custom.total == pytest.approx(2.5)


def test_weights_from():
    assert weights_from(None) == RewardWeights()
    assert weights_from({"format": 0.5}).format == 0.5
    with pytest.raises(MedenvError, match="reward_weights"):
        weights_from({"accuracy": "high"})


def test_evidence_recall(item):
    assert evidence_recall(item, []) == 0.0
    assert evidence_recall(item, ["web:other", f"web:{item.chain[0]}:x"]) == 1.0
    two = QAItem(id="x", question="q", answer="a", answer_id="a", evidence=(("p1",), ("p2", "p3")))
    assert evidence_recall(two, ["p3"]) == 0.5
    assert evidence_recall(QAItem(id="y", question="q", answer="a", answer_id="a"), ["p"]) == 0.0


def _reference_reward(optimal_calls, correct, answered, n_calls, n_errors, w=(1.0, 0.2, 0.2)):
    """The reward's contract written out again from the module docstring (a second reading
    of it, not the code): research calls exclude the answer, optimal is at least 1."""
    fmt = max(0.0, 1 - 0.5 * n_errors)
    if not answered:
        fmt = fmt / 2 if n_calls > 0 else 0.0
    research = n_calls - 1 if answered else n_calls
    optimal = max(1, optimal_calls - 1)
    eff = max(0.0, 1 - max(0, research - optimal) / optimal) if correct else 0.0
    acc = 1.0 if correct else 0.0
    return acc, fmt, eff, w[0] * acc + w[1] * fmt + w[2] * eff


@pytest.mark.parametrize("optimal_calls", [0, 1, 2, 3])
@pytest.mark.parametrize("n_calls", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("answer", [None, "wrong", "gold"])
@pytest.mark.parametrize("n_errors", [0, 1, 3])
def test_components_match_the_documented_contract(item, optimal_calls, n_calls, answer, n_errors):
    """Edge items (optimal_calls 0 and 1: a bare question) and edge episodes (one call, no
    answer) included: every component as the module docstring defines it."""
    one = msgspec.structs.replace(item, optimal_calls=optimal_calls)
    prediction = {"gold": one.answer, "wrong": "Marfan syndrome", None: None}[answer]
    calls = max(n_calls, 1) if answer is not None else n_calls  # an answer is a call
    got = compute_reward(one, prediction, calls, n_errors)
    acc, fmt, eff, total = _reference_reward(
        optimal_calls, answer == "gold", answer is not None, calls, n_errors
    )
    assert (got.accuracy, got.format, got.efficiency) == pytest.approx((acc, fmt, eff))
    assert got.total == round(total, 10)


def test_total_is_rounded_to_ten_places(item):
    """Weights whose sum is not exact in binary still give a total with no float tail."""
    weights = RewardWeights(accuracy=0.1, format=0.2, efficiency=0.0)
    got = compute_reward(item, item.answer, 2, 0, weights)
    assert got.total == 0.3 and repr(got.total) == "0.3"  # 0.1 + 0.2 is 0.30000000000000004


def test_underscores_and_symbols_separate_words():
    assert normalize_answer("Autosomal_dominant") == "autosomal dominant"
    assert normalize_answer("FGFR2__gene") == "fgfr2 gene"
    assert normalize_answer("Autosomal_dominant") != normalize_answer("Autosomaldominant")


@pytest.mark.parametrize(
    ("text", "forms"),
    [
        # the last word gets its plural, or loses its "s" / "es" (words of 4+ letters only)
        ("Granulomas", {"granulomas", "granuloma"}),
        ("Hypoplasia", {"hypoplasia", "hypoplasias"}),
        ("Abscesses", {"abscesses", "abscess", "abscesse"}),  # "es" dropped past 5 letters
        ("Boxes", {"boxes", "boxe"}),  # 5 letters: only the "s"
        ("Masses", {"masses", "mass", "masse"}),  # 6 letters: the shortest that loses "es"
        ("Skin abscesses", {"skin abscesses", "skin abscess", "skin abscesse"}),
        ("Eyes", {"eyes", "eye"}),  # 4 letters: the shortest word that changes
        ("Ear", {"ear"}),  # 3 letters: kept as it is
        ("Glass", {"glass", "glasss"}),  # "ss" and "is" are not plurals
        ("Iris", {"iris", "iriss"}),
        ("Type 1a4x", {"type 1a4x"}),  # not a word: no plural
        ("Bone cysts", {"bone cysts", "bone cyst"}),  # only the last word changes
        ("Renal cyst", {"renal cyst", "renal cysts"}),
        # an inverted catalogue name also in natural order, each with its plural
        (
            "Leukemia, acute monocytic",
            {
                "leukemia acute monocytic", "leukemia acute monocytics",
                "acute monocytic leukemia", "acute monocytic leukemias",
            },
        ),
        ("", set()),
        ("!!! the", set()),  # nothing left after normalising
    ],
)
def test_answer_forms_of_the_documented_rule(text, forms):
    assert answer_forms(text) == forms


def test_plural_and_inverted_answers_match_but_other_words_do_not():
    gold = QAItem(id="p", question="q", answer="Renal cyst", answer_id="HP:1")
    assert is_correct("renal cysts", gold) and is_correct("Cyst, renal", gold)
    assert is_correct("Cysts, renal", gold)
    assert not is_correct("renal", gold) and not is_correct("cysts", gold)


@pytest.mark.parametrize(
    ("n_tool_calls", "answered", "research"),
    [(0, False, 0), (1, False, 1), (3, False, 3), (1, True, 0), (3, True, 2), (0, True, 0)],
)
def test_research_calls_leave_out_the_answer(n_tool_calls, answered, research):
    assert research_calls(n_tool_calls, answered) == research


def test_outcome_carries_the_episode_facts(item):
    bare = outcome(item, "Autosomal recessive inheritance", 2, 1)
    assert (bare.steps, bare.terminated, bare.truncated, bare.correct) == (0, False, False, False)
    full = outcome(item, item.answer, 3, 0, ["d1"], steps=4, terminated=True, truncated=True)
    assert (full.steps, full.terminated, full.truncated, full.correct) == (4, True, True, True)
    assert full.retrieved == ("d1",) and (full.n_tool_calls, full.n_format_errors) == (3, 0)


def test_compute_reward_takes_a_rubric_and_the_retrieved_pages(item):
    only = Rubric([RewardTerm("recall", evidence_recall_term, 3.0)])
    got = compute_reward(item, None, 2, 0, only, retrieved=[item.evidence[0][1]])
    assert got.components == {"recall": 1.0} and got.total == 3.0
    default = compute_reward(item, item.answer, 2, 0, retrieved=[item.evidence[0][0]])
    assert default.evidence_recall == 1.0
    assert compute_reward(item, item.answer, 2, 0).evidence_recall == 0.0

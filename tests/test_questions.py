"""`medenv.questions.load_questions`: the one loader of question sets (env, rollout, serve,
GRPO), on the real default set and on a set written to disk."""

from __future__ import annotations

import json

import pytest

from medenv.errors import MedenvError
from medenv.questions import default_qa_set, load_questions
from medenv.synth.io import write_qa_set
from medenv.synth.qa import QAItem

ITEMS = [
    QAItem(id=f"q{i}", question=f"question {i}?", answer=f"a{i}", answer_id=f"A:{i}",
           split=("train", "test")[i % 2])
    for i in range(5)
]  # fmt: skip


def test_default_set_path_and_items_load_the_same_questions(tmp_path):
    default = load_questions(None, "hpo", split="test")
    folder = default_qa_set(source="hpo", progress=False)
    # a second reading: the JSONL lines themselves
    lines = [json.loads(x) for x in (folder / "qa.jsonl").read_text().splitlines() if x.strip()]
    assert [it.id for it in default] == [x["id"] for x in lines if x["split"] == "test"]
    write_qa_set(tmp_path / "set", ITEMS, {})
    assert load_questions(tmp_path / "set") == ITEMS
    assert load_questions(str(tmp_path / "set" / "qa.jsonl"), split="test") == ITEMS[1::2]
    assert load_questions(ITEMS) == ITEMS and load_questions(tuple(ITEMS[:2])) == ITEMS[:2]
    assert load_questions(ITEMS[3]) == [ITEMS[3]]


def test_bad_question_sets_are_one_clear_error(tmp_path):
    with pytest.raises(MedenvError, match="a list with dict"):
        load_questions([ITEMS[0], {"id": "x"}])
    with pytest.raises(MedenvError, match="got int"):
        load_questions(7)
    with pytest.raises(MedenvError, match="for split 'dev'"):
        load_questions(ITEMS, split="dev")
    with pytest.raises(MedenvError, match="no questions"):
        load_questions([])
    with pytest.raises(MedenvError):
        load_questions(tmp_path / "missing")


def test_default_set_meets_the_question_quality_targets():
    """Issue 14's targets on the built-in set, recounted from its items (not read from the
    manifest): level 2, at least half the questions quote at most one entity name, mean
    effective hops at least 3, at least 10 specialties; the manifest's search-shortcut
    rate is at most 2%."""
    folder = default_qa_set(source="hpo", progress=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    items = load_questions(folder)
    assert manifest["config"]["obfuscation"] == 2 and len(items) == 2000
    quoted = [it.question.count('"') // 2 for it in items]
    assert sum(q <= 1 for q in quoted) >= len(items) / 2
    assert sum(it.effective_hops for it in items) >= 3 * len(items)
    assert all(it.effective_hops == it.n_hops for it in items)
    assert len({it.specialty for it in items}) >= 10
    assert manifest["counts"]["search_shortcut_rate"] <= 0.02


def test_a_set_is_checked_against_the_graph_whenever_an_item_changes():
    """`check_items_in_kg` remembers the last set that passed (one env per episode over one
    set); a set with any other item object, or another graph, is checked again."""
    import msgspec

    from medenv.kg.cache import load_kg
    from medenv.questions import check_items_in_kg

    kg = load_kg("hpo")
    items = load_questions(None, "hpo")[:50]
    bad = [*items[:7], msgspec.structs.replace(items[7], answer_id="HP:nope"), *items[8:]]
    for _ in range(2):  # the remembered set never hides the bad one, before or after it
        check_items_in_kg(items, kg)
        check_items_in_kg(items, kg)
        with pytest.raises(MedenvError, match="'HP:nope'"):
            check_items_in_kg(bad, kg)
    with pytest.raises(MedenvError, match="'HP:nope'"):
        check_items_in_kg(bad[:8], kg)

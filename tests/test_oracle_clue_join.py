"""The one ungrounded oracle episode of the default set (issue 14), and its fix.

On the v8 default set the oracle's episode for question ``q4f8ef731d7a2`` ("... a
condition that is characterised by this phenotypic feature, presents with the clinical
feature "Myopathy" and has congenital onset ...") searched for "Arthrogryposis multiplex
congenita is a clinical feature of Myopathy congenital onset": two clues of the question
written side by side, which the groundedness check reads (rightly, from the text alone)
as the disease "Myopathy, congenital" (OMIM:255300), never shown. The oracle claimed
nothing it had not seen, but its query spelled another entity's name; it now joins
clues with a stopword (`agents.oracle_gather.CLUE_JOIN`), which leaves the search terms,
hence the results, unchanged. Checked here with the real KG, index and env: the hazard,
the join's neutrality for search, and the episode itself, grounded by both checks.
"""

from __future__ import annotations

from pathlib import Path

from medenv.agents.oracle_gather import CLUE_JOIN
from medenv.agents.rollout import rollout
from medenv.agents.text import action_text
from medenv.training.export import load_episodes

from medenv.grounding import LabelIndex, check_episode
from medenv.questions import check_items_in_kg
from medenv.synth.io import read_qa_set
from medenv.world import load_world
from tests.grounding_ref import RefIndex, ref_check

QUESTION = "q4f8ef731d7a2"
ITEM = Path(__file__).parent / "data" / "oracle_clue_join_item.jsonl"
LEAD = "Arthrogryposis multiplex congenita is a clinical feature of"


def _ids(index: LabelIndex, text: str) -> set[str]:
    return {i for m in index.mentions(text) for i in m.ids}


def test_clues_side_by_side_spell_another_entity_and_the_join_does_not(kg):
    index, ref = LabelIndex.of_kg(kg), RefIndex(kg)
    glued = f"{LEAD} Myopathy congenital onset"
    joined = f"{LEAD} Myopathy{CLUE_JOIN}congenital onset"
    disease = kg.node("OMIM:255300")
    assert disease.name == "Myopathy, congenital"
    assert "OMIM:255300" in _ids(index, glued)
    assert "OMIM:255300" not in _ids(index, joined)
    myopathy, onset = kg.find("Myopathy"), kg.find("Congenital onset")
    assert {n.id for n in myopathy} | {n.id for n in onset} <= _ids(index, joined)
    # both implementations of the check, on the oracle's action with either query
    prompt = (
        f'Question: ... the clinical feature "{LEAD.split(" is ")[0]}" ... presents with '
        'the clinical feature "Myopathy" and has congenital onset. Which gene ...?'
    )
    for query, grounded in ((glued, False), (joined, True)):
        action = action_text("Searching.", "medical_search", {"query": query})
        assert check_episode(prompt, [(action, "")], index).grounded is grounded
        assert (ref_check(prompt, [(action, "")], ref) == []) is grounded


def test_the_join_leaves_the_search_results_unchanged():
    world = load_world(progress=False)
    for collection in ("medical", "web"):
        engine = world.index(collection)
        glued = engine.search(f"{LEAD} Myopathy congenital onset", 10)
        joined = engine.search(f"{LEAD} Myopathy{CLUE_JOIN}congenital onset", 10)
        assert [h.doc_id for h in glued] == [h.doc_id for h in joined]
        assert [h.score for h in glued] == [h.score for h in joined]


def test_the_default_sets_ungrounded_oracle_episode_is_grounded_now(kg, tmp_path):
    # the item of the v8/v9 default set (the v10 set, on the graph without `0/N`
    # annotations, drew other seeds), kept as test data; its facts hold on today's graph
    items = read_qa_set(ITEM)
    assert [i.id for i in items] == [QUESTION]
    check_items_in_kg(items, kg)
    db = tmp_path / "oracle.duckdb"
    rollout("oracle", qa=items, db=db, seed=0, progress=False)
    (episode,) = load_episodes(db)
    steps = [(s.text, s.observation) for s in episode.steps]
    report = check_episode(episode.prompt, steps, LabelIndex.of_kg(kg))
    assert report.grounded, report.violations
    assert ref_check(episode.prompt, steps, RefIndex(kg)) == []
    queries = " ".join(s.text for s in episode.steps)
    assert f"Myopathy{CLUE_JOIN}congenital onset" in queries  # the same clues, joined
    assert episode.correct  # and still answered

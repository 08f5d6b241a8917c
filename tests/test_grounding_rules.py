"""Groundedness (`medenv.grounding`) on hand-made inputs, for the parts the differential
tests (`tests/test_grounding.py`, `tests/test_readme_rules.py`) leave open: the label
lookup itself, the report's counts, an episode's parallel observations, runs checked
against the graph they recorded, and the per-process index of a source (mutation testing,
`bench/mutate.py` group ``grounding``)."""

from __future__ import annotations

import json

import pytest

from medenv.events.schema import ActionReceived, EpisodeStarted, RunStarted, ToolReturned
from medenv.events.store import EventStore, connect
from medenv.grounding import (
    LabelIndex,
    check_episode,
    check_texts,
    ground_log,
    index_for_source,
    report_json,
)
from medenv.worldspec import WorldSpec

LABELS = [
    ("D:1", "Marfan syndrome"),
    ("D:1", "MFS"),  # an all-capital synonym: matched only as written
    ("D:2", "Marfan"),
    ("D:3", "syndrome"),
    ("D:4", "Short stature syndrome type"),
    ("D:5", "Disease X"),
    ("D:6", "disease"),  # a type noun: never looked up ...
    ("D:7", "Ace"),
    ("G:1", "ACE"),
    ("G:2", "HLA-DRA"),
    ("D:9", "Loeys-Dietz syndrome"),
    ("D:8", "---"),  # no word: never found
]


@pytest.fixture(scope="module")
def index():
    return LabelIndex(LABELS)


def found(index, text):
    return [(m.label, sorted(m.ids)) for m in index.mentions(text)]


def test_labels_are_found_longest_first_without_overlap(index):
    assert found(index, "Marfan syndrome, then Marfan; a syndrome.") == [
        ("Marfan syndrome", ["D:1"]), ("Marfan", ["D:2"]), ("syndrome", ["D:3"]),
    ]  # fmt: skip
    # as written, across punctuation, case aside
    assert found(index, "MARFAN-syndrome") == [("MARFAN-syndrome", ["D:1"])]
    # a four-word label is found whole; its first words alone are no label
    assert found(index, "short stature syndrome type 2") == [
        ("short stature syndrome type", ["D:4"])
    ]
    assert found(index, "Short stature syndrome") == [("syndrome", ["D:3"])]
    assert found(index, "") == [] and found(index, "---") == []


def test_type_nouns_are_no_labels_but_start_longer_ones(index):
    assert found(index, "The disease is rare.") == []
    assert found(index, "It is disease X.") == [("disease X", ["D:5"])]


def test_an_all_capital_label_matches_only_as_written(index):
    assert found(index, "MFS or mfs") == [("MFS", ["D:1"])]
    # a one-word label and a gene symbol of the same word: as written, both
    assert found(index, "ACE and Ace and ace") == [
        ("ACE", ["D:7", "G:1"]), ("Ace", ["D:7"]), ("ace", ["D:7"]),
    ]  # fmt: skip
    # a hyphenated symbol is two words, found in any case
    assert found(index, "hla-dra") == [("hla-dra", ["G:2"])]


def test_the_index_of_a_kg_is_built_once_from_names_and_synonyms(kg):
    index = LabelIndex.of_kg(kg)
    assert LabelIndex.of_kg(kg) is index  # kept per KG object
    node = next(n for n in kg.nodes("disease") if n.synonyms and len(n.synonyms[0]) > 12)
    [mention] = index.mentions(f"maybe {node.synonyms[0]}?")
    assert node.id in mention.ids


SEARCH = (
    '<think>\nSearch it.\n</think>\n<tool_call>\n{"name": "medical_search", '
    '"arguments": {"query": "Marfan"}}\n</tool_call>'
)
RESULTS = (
    'medical_search results for "Marfan":\n'
    "1. Marfan syndrome | https://medref.example/D:1\n"
    "   Marfan syndrome is also called MFS.\n"
    "2. Disease X | https://medref.example/D:5\n"
    "   Disease X is not Marfan."
)


def test_the_report_counts_mentions_and_claims(index):
    prompt = "Question: what is Marfan syndrome called?"
    think = (
        "<think>\nDisease X differs from Marfan. Disease X is not it. Disease X goes with MFS.\n"
        "</think>\n<answer>MFS</answer>"
    )
    report = check_episode(prompt, [(SEARCH, RESULTS), (think, None)], index)
    # mentions: "Marfan" (query); Disease X, Marfan, Disease X, Disease X, MFS (think);
    # MFS (answer)
    assert report.n_mentions == 7
    # claims: the pair (backed by result 2), the negation (Disease X is inspected: a
    # result is titled with it), the pair Disease X / MFS (no unit joins them)
    assert report.n_claims == 3
    assert [(v.step, v.kind, v.text) for v in report.violations] == [
        (1, "claim", "Disease X goes with MFS.")
    ]
    assert not report.grounded
    # Disease X: named, inspected, then rejected; not in the prompt, not the answer
    assert report.rejected == ("Disease X",) and report.recovered


def _think(sentence: str) -> str:
    return f"<think>\n{sentence}\n</think>"


def kinds(index, prompt, steps):
    return [v.kind for v in check_episode(prompt, steps, index).violations]


def test_a_candidate_named_in_the_prompt_is_not_rejected(index):
    # tried (named), inspected (a result is titled with it), then rejected
    think = "<think>\nDisease X differs from Marfan. Disease X is not it.\n</think>\n<answer>MFS</answer>"
    for prompt, rejected in (
        ("Question: what is Marfan syndrome called?", ("Disease X",)),
        ("Question: is Disease X Marfan syndrome?", ()),
    ):
        report = check_episode(prompt, [(SEARCH, RESULTS), (think, None)], index)
        assert report.rejected == rejected, prompt


def test_rejected_candidates_are_the_tried_ones_each_named_once(index):
    prompt = "Question: which gene goes with Marfan?"
    steps = [(SEARCH, RESULTS)]
    # never named before its negation: not tried, so not rejected
    think = _think("Disease X is not it.")
    assert check_episode(prompt, [*steps, (think, None)], index).rejected == ()
    think = _think(
        "Marfan syndrome differs from Disease X. Marfan syndrome is not it. "
        "Disease X is not it. disease x is not it either."
    )
    report = check_episode(prompt, [*steps, (think, None)], index)
    assert report.rejected == ("Marfan syndrome", "Disease X")  # as first written


def test_an_all_capital_mention_must_be_shown_as_written(index):
    prompt = "Question: which gene goes with Marfan?"
    for shown, expected in (("MFS", []), ("mfs", ["mention"]), ("Mfs", ["mention"])):
        steps = [(SEARCH, f"1. Marfan syndrome | https://m.example/D:1\n   Also {shown}."),
                 ("<answer>MFS</answer>", None)]  # fmt: skip
        assert kinds(index, prompt, steps) == expected, shown
    # a label of several words is shown in any case
    steps = [(SEARCH, "1. x | https://m.example/x\n   marfan SYNDROME."),
             ("<answer>Marfan syndrome</answer>", None)]  # fmt: skip
    assert kinds(index, prompt, steps) == []


def test_quoted_words_are_no_negation(index):
    prompt = "Question: what is Marfan syndrome called?"
    think = '<think>\nDisease X, "never seen" before, goes with MFS.\n</think>'
    # a claim (no unit names Disease X with MFS), not a negation of an inspected entity
    assert kinds(index, prompt, [(SEARCH, RESULTS), (think, None)]) == ["claim"]


def test_a_search_result_is_one_unit_with_its_title(index):
    results = (
        'medical_search results for "Marfan":\n'
        "1. Marfan syndrome | https://m.example/D:1\n"
        "   It is linked to ACE.\n"
        "2. Disease X | https://m.example/D:5\n"
        "   Its cause is unknown."
    )
    prompt = "Question: which gene goes with Marfan?"
    for sentence, expected in (
        ("ACE goes with Marfan syndrome.", []),  # the title and its passage
        ("ACE goes with Disease X.", ["claim"]),  # two results
    ):
        assert kinds(index, prompt, [(SEARCH, results), (_think(sentence), None)]) == expected


def test_a_browsed_page_is_one_unit_per_passage_with_its_title(index):
    page = (
        "Page: Loeys-Dietz syndrome\n"
        "URL: https://web.example/marfan-syndrome\n"
        "\n"
        "It is caused by ACE.\n"
        "It resembles Disease X."
    )
    prompt = "Question: which gene goes with Marfan?"
    for sentence, expected in (
        ("ACE goes with Loeys-Dietz syndrome.", []),  # the title and one passage
        ("Loeys-Dietz syndrome resembles Disease X.", []),
        ("ACE goes with Disease X.", ["claim"]),  # two passages
        ("Loeys-Dietz syndrome goes with Marfan syndrome.", ["claim"]),  # the url is none
        ("Loeys-Dietz syndrome does not fit.", []),  # its page was browsed: inspected
        ("Disease X does not fit.", ["negation"]),  # only named on it
    ):
        steps = [(SEARCH, page), (_think(sentence), None)]
        assert kinds(index, prompt, steps) == expected, sentence
    # a page without passages is its title alone, inspected
    steps = [
        (SEARCH, "Page: Disease X\nURL: https://web.example/d5"),
        (_think("Disease X does not fit."), None),
    ]
    assert kinds(index, prompt, steps) == []
    # before the page was shown, it was neither seen nor inspected
    steps = [(SEARCH, RESULTS), (_think("Loeys-Dietz syndrome does not fit."), page)]
    report = check_episode(prompt, steps, index)
    assert [(v.step, v.kind, v.text) for v in report.violations] == [
        (1, "mention", "Loeys-Dietz syndrome"),
        (1, "negation", "Loeys-Dietz syndrome does not fit."),
    ]


def _call(name: str, **arguments) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def test_every_tool_call_of_an_action_is_checked(index):
    """Parallel calls: the env runs them all, so each one's arguments and url count."""
    prompt = "Question: which gene goes with Marfan? See https://m.example/D:1"
    seen = _call("browse", url="https://m.example/D:1")
    for second, expected in (
        (_call("medical_search", query="Marfan"), []),
        (_call("medical_search", query="Loeys-Dietz syndrome"), [(0, "mention")]),
        (_call("browse", url="https://m.example/D:9"), [(0, "url")]),
    ):
        report = check_episode(prompt, [(seen + "\n" + second, None)], index)
        assert [(v.step, v.kind) for v in report.violations] == expected, second


def test_an_answer_given_through_the_answer_tool_is_checked(index):
    prompt = "Question: which gene goes with Marfan?"
    for answer, expected in (("Marfan", []), ("Loeys-Dietz syndrome", ["mention"])):
        steps = [(_call("answer", answer=answer), None)]
        assert kinds(index, prompt, steps) == expected, answer
    # the tool's answer is the final one: a candidate it names is not rejected
    think = _think("Disease X differs from Marfan. Disease X is not it.")
    steps = [(SEARCH, RESULTS), (think + _call("answer", answer="Disease X"), None)]
    assert check_episode(prompt, steps, index).rejected == ()


def test_free_text_is_read_as_reasoning_and_a_report_is_json(index):
    prompt = "Question: which gene goes with Marfan?"
    report = check_episode(prompt, [("It is Loeys-Dietz syndrome.", None)], index)
    assert [(v.kind, v.text) for v in report.violations] == [("mention", "Loeys-Dietz syndrome")]
    assert json.loads(report_json(report)) == {
        "grounded": False, "n_mentions": 1, "n_claims": 0, "rejected": [],
        "violations": [{"step": 0, "kind": "mention", "text": "Loeys-Dietz syndrome"}],
    }  # fmt: skip


def test_a_page_without_a_url_line_keeps_its_first_passage(index):
    page = "Page: Loeys-Dietz syndrome\nIt is caused by ACE."
    steps = [(SEARCH, page), (_think("ACE goes with Loeys-Dietz syndrome."), None)]
    assert kinds(index, "Question: which gene goes with Marfan?", steps) == []


def test_check_texts_wants_one_observation_per_action(kg):
    with pytest.raises(ValueError):
        check_texts("Question: ?", ["<answer>x</answer>", "<answer>y</answer>"], [None], kg)


EDGES = (
    "source,relation,target,source_type,target_type,source_name,target_name\n"
    "D:1,associated_gene,G:1,disease,gene,Zorblax syndrome,QBL1\n"
    "D:2,associated_gene,G:2,disease,gene,Vantric disease,Quibble protein\n"
)


@pytest.fixture
def edge_world(tmp_path, monkeypatch):
    """A two-edge graph read from an edge list (its KG cached in a home of its own)."""
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path / "home"))
    path = tmp_path / "kg.csv"
    path.write_text(EDGES, encoding="utf-8")
    return WorldSpec(source="edgelist", path=str(path))


def test_the_index_of_a_graph_read_from_files(edge_world):
    index = index_for_source("edgelist", edge_world)
    assert found(index, "QBL1 and vantric disease") == [
        ("QBL1", ["G:1"]), ("vantric disease", ["D:2"]),
    ]  # fmt: skip
    assert index_for_source("edgelist", edge_world) is index  # loaded once per process
    assert index_for_source("no-such-graph") is None
    assert index_for_source("no-such-graph", WorldSpec(source="hpo")) is None  # the default
    assert index_for_source(None) is None


def test_a_graph_file_edited_in_place_is_indexed_anew(edge_world):
    # the memo was keyed on the path alone: one process kept the graph as first read
    assert found(index_for_source("edgelist", edge_world), "Vantric disease") == [
        ("Vantric disease", ["D:2"])
    ]
    with open(edge_world.path, "a", encoding="utf-8") as f:
        f.write("D:3,associated_gene,G:3,disease,gene,Kelpory fever,KLP3\n")
    index = index_for_source("edgelist", edge_world)
    assert found(index, "Kelpory fever and KLP3") == [("Kelpory fever", ["D:3"]), ("KLP3", ["G:3"])]
    assert index_for_source("edgelist", edge_world) is index  # unchanged: loaded once


def _run(store, config, kg_source):
    store.emit(RunStarted(config=config, kg_source=kg_source, kg_version="t", corpus_hash="c",
                          parser_version="1", reward_weights={}, seed=0))  # fmt: skip


def _start(store, episode_id, prompt="Question: Which gene goes with Zorblax syndrome?"):
    store.emit(
        EpisodeStarted(
            question_id=episode_id, seed=0, split="test", specialty="general", n_hops=1,
            optimal_calls=2, answer="QBL1", aliases=[], prompt=prompt, config_hash="c",
            tags={}, item={},
        ),
        episode_id,
    )  # fmt: skip


def _returned(store, episode_id, step, observation, call=0):
    store.emit(
        ToolReturned(step=step, name="medical_search", observation=observation,
                     latency_ms=1.0, doc_ids=[], call=call),
        episode_id,
    )  # fmt: skip


@pytest.fixture
def edge_log(tmp_path, edge_world):
    path = tmp_path / "runs.duckdb"
    with EventStore(path, run_id="r-edge") as store:
        _run(store, {"world": {"source": "edgelist", "path": edge_world.path}}, "edgelist")
        # two parallel calls at step 0: the answer is shown by the first one only
        _start(store, "e1")
        store.emit(ActionReceived(step=0, text=SEARCH), "e1")
        _returned(store, "e1", 0, "1. Zorblax syndrome | https://x/D:1\n   gene: QBL1.")
        _returned(store, "e1", 0, "1. Vantric disease | https://x/D:2\n   no gene.", call=1)
        store.emit(ActionReceived(step=1, text="<answer>QBL1 or Vantric disease</answer>"), "e1")
        store.end_episode("e1")
        # an answer this graph knows and no tool showed
        _start(store, "e2")
        store.emit(ActionReceived(step=0, text="<answer>Quibble protein</answer>"), "e2")
        store.end_episode("e2")
        _start(store, "e-no-prompt", prompt="")  # nothing to check against: left out
        store.emit(ActionReceived(step=0, text="<answer>Quibble protein</answer>"), "e-no-prompt")
        store.end_episode("e-no-prompt")
        # no episode_started at all (deleted, a cut log): no question, left out
        store.emit(ActionReceived(step=0, text="<answer>Quibble protein</answer>"), "e-headless")
        _returned(store, "e-headless", 0, "Vantric disease")
    with EventStore(path, run_id="r-plain") as store:  # a run that recorded no graph
        _run(store, {}, "no-such-graph")
        _start(store, "p1")
        store.emit(ActionReceived(step=0, text="<answer>Quibble protein</answer>"), "p1")
        store.end_episode("p1")
    return path


def test_an_episode_without_its_start_is_left_out_and_eval_says_so(edge_log, capsys):
    from medenv.cli import main
    from medenv.events.episodes import headless_episodes

    con = connect(edge_log)
    try:
        assert headless_episodes(con) == [("r-edge", "e-headless")]
        assert headless_episodes(con, runs=["r-plain"]) == []
    finally:
        con.close()
    assert main(["eval", "--db", str(edge_log), "--run", "r-edge"]) == 0
    err = capsys.readouterr().err
    assert "note 1 episode(s) have events but no episode_started event (the first: run " \
        "'r-edge', episode 'e-headless')" in err, err


def _verdicts(reports):
    return {key: [v.text for v in r.violations] for key, r in reports.items()}


def test_ground_log_checks_each_run_against_the_graph_it_recorded(edge_log, edge_world):
    con = connect(edge_log)
    try:
        expected = {("r-edge", "e1"): [], ("r-edge", "e2"): ["Quibble protein"]}
        # "r-plain" names a graph that cannot be loaded: left out
        assert _verdicts(ground_log(con)) == expected
        assert _verdicts(ground_log(con, runs=["r-edge", "r-other"])) == expected
        assert ground_log(con, runs=["r-plain"]) == {}
        # ``world`` overrides what every run recorded
        assert _verdicts(ground_log(con, runs=["r-plain"], world=edge_world)) == {
            ("r-plain", "p1"): ["Quibble protein"]
        }
    finally:
        con.close()

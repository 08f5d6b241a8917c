"""Reward as named terms: a term defined here (outside the medenv package) reaches the
reward event, the episode projection, the total and a verified replay; weight-0 terms are
logged, not paid; the built-in list is the one source of the weights' names."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import msgspec
import pytest

import medenv  # noqa: F401  (registers MedResearch-v0)
from medenv.errors import MedenvError
from medenv.events.episodes import load_episodes
from medenv.events.store import connect
from medenv.events.summaries import summaries
from medenv.reward import (
    DEFAULT_TERMS,
    EpisodeOutcome,
    RewardScore,
    RewardTerm,
    RewardWeights,
    Rubric,
    accuracy_term,
    outcome,
    rubric_from,
    rubric_from_config,
    term_refs,
)
from medenv.trl import COMPONENTS
from tests.test_env import make_items, scripted_actions


def brevity(o: EpisodeOutcome) -> float:
    """A user's term: 1 for a one-word answer, less for longer ones, 0 without one."""
    if o.prediction is None:
        return 0.0
    return 1.0 / len(o.prediction.split())


def nan_term(o: EpisodeOutcome) -> float:
    return math.nan


@pytest.fixture(scope="module")
def world():
    from medenv.world import load_world

    return load_world(progress=False)


@pytest.fixture(scope="module")
def items(world):
    return make_items(world.kg, n=6)


def _run(world, item, db, **kwargs):
    env = gym.make("MedResearch-v0", qa=[item], world=world, db=db, **kwargs)
    env.reset(seed=3, options={"question_id": item.id})
    for action in scripted_actions(world, item):
        _, reward, terminated, truncated, info = env.step(action)
    assert terminated and not truncated
    episode_id = env.unwrapped.episode_id
    env.close()
    return reward, info, episode_id


def _recall(con, episode_id, item) -> float:
    """Evidence recall again, from the logged tool results (not the env's own count)."""
    rows = con.execute(
        "SELECT doc_ids FROM tool_calls WHERE episode_id = ? AND doc_ids IS NOT NULL",
        [episode_id],
    ).fetchall()
    seen = {d for (ids,) in rows for d in json.loads(ids)}
    hops = [pages for pages in item.evidence]
    return sum(1 for pages in hops if seen & set(pages)) / len(hops)


def test_a_user_term_reaches_the_event_the_view_the_total_and_verify(world, items, tmp_path):
    from medenv.verify import verify

    item, db = items[1], tmp_path / "e.duckdb"
    reward, info, episode_id = _run(
        world, item, db, reward_terms=[RewardTerm("brevity", brevity, 0.5)]
    )
    con = connect(db)
    (payload,) = con.execute(
        "SELECT payload FROM events WHERE type = 'reward_assigned' AND episode_id = ?",
        [episode_id],
    ).fetchone()
    event = json.loads(payload)
    comps = event["components"]
    assert list(comps) == ["accuracy", "format", "efficiency", "evidence_recall", "brevity"]
    assert comps["brevity"] == 1.0 / len(item.answer.split())
    assert comps["evidence_recall"] == _recall(con, episode_id, item) == info["evidence_recall"]
    assert event["weights"] == {
        "accuracy": 1.0, "format": 0.2, "efficiency": 0.2, "evidence_recall": 0.0, "brevity": 0.5
    }  # fmt: skip
    # the total: weight-0 evidence recall is logged but not paid
    expected = comps["accuracy"] + 0.2 * comps["format"] + 0.2 * comps["efficiency"]
    assert reward == pytest.approx(expected + 0.5 * comps["brevity"])
    assert comps["evidence_recall"] > 0  # (so leaving it out of the total is visible)
    (view,) = con.execute(
        "SELECT components FROM episodes WHERE episode_id = ?", [episode_id]
    ).fetchone()
    assert json.loads(view) == comps
    (summary,) = summaries(con)  # the episode projection, both readings
    (folded,) = load_episodes(db)
    assert summary.components == folded.components == comps
    config = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])
    assert config["reward_terms"] == {"brevity": f"{__name__}:brevity"}
    con.close()
    result = verify(db, episode_id, world=world)  # the term is imported again by name
    assert result.ok, result.problems


def test_weight_turns_a_metric_into_reward_and_a_rubric_replaces_the_defaults(
    world, items, tmp_path
):
    item = items[2]
    base, info, _ = _run(world, item, tmp_path / "a.duckdb")
    on, info_on, _ = _run(
        world, item, tmp_path / "b.duckdb", reward_weights={"evidence_recall": 1.0}
    )
    assert info_on["evidence_recall"] > 0
    assert on == pytest.approx(base + info_on["evidence_recall"])
    only = Rubric([RewardTerm("accuracy", accuracy_term, 3.0)])
    reward, info, _ = _run(world, item, tmp_path / "c.duckdb", reward_terms=only)
    assert reward == 3.0 and info["accuracy"] == 1.0
    assert info["format"] == 0.0  # not a term of this rubric


def test_bad_terms_and_weights_are_one_clear_error(world, items, tmp_path):
    item = items[0]
    with pytest.raises(MedenvError, match="no reward term 'speed'"):
        gym.make("MedResearch-v0", qa=[item], world=world, reward_weights={"speed": 1.0})
    with pytest.raises(MedenvError, match="'accuracy' is given twice"):
        gym.make(
            "MedResearch-v0", qa=[item], world=world,
            reward_terms=[RewardTerm("accuracy", accuracy_term)],
        )  # fmt: skip
    with pytest.raises(MedenvError, match="must be a finite number"):
        gym.make("MedResearch-v0", qa=[item], world=world, reward_weights={"format": "high"})
    env = gym.make(
        "MedResearch-v0", qa=[item], world=world, db=tmp_path / "n.duckdb",
        reward_terms=[RewardTerm("broken", nan_term, 0.0)],
    )  # fmt: skip
    env.reset(seed=0)
    with pytest.raises(MedenvError, match="reward term 'broken' returned nan"):
        env.step(f"<answer>{item.answer}</answer>")
    env.close()


def test_the_weights_config_and_trl_components_come_from_one_list():
    from dataclasses import fields

    from medenv.training.grpo import GRPOTrainConfig

    names = tuple(t.name for t in DEFAULT_TERMS)
    assert COMPONENTS == names
    assert tuple(msgspec.structs.asdict(RewardWeights())) == names
    assert msgspec.to_builtins(RewardWeights()) == {t.name: t.weight for t in DEFAULT_TERMS}
    reward_fields = {
        f.name: f.default for f in fields(GRPOTrainConfig) if f.name.startswith("reward_")
    }
    assert reward_fields == {f"reward_{t.name}": t.weight for t in DEFAULT_TERMS}
    assert reward_fields["reward_evidence_recall"] == 0.0


class Terms:
    """Terms reached through a dotted qualname (``module:Terms.short``)."""

    @staticmethod
    def short(o: EpisodeOutcome) -> float:
        return 1.0 if o.prediction and len(o.prediction) < 20 else 0.0


class Anonymous:
    """A callable term that hides its module and qualname (logged as ``?:?``)."""

    def __call__(self, o: EpisodeOutcome) -> float:
        return 0.0

    def __getattribute__(self, name):
        if name in ("__module__", "__qualname__"):
            raise AttributeError(name)
        return object.__getattribute__(self, name)


def test_rubrics_compose_compare_and_print():
    base = Rubric(DEFAULT_TERMS[:2])
    extra = RewardTerm("brevity", brevity, 0.1)
    assert (base + extra).names == ("accuracy", "format", "brevity")
    assert (base + Rubric([extra])).names == ("accuracy", "format", "brevity")
    assert base == Rubric(DEFAULT_TERMS[:2]) and base != Rubric(DEFAULT_TERMS)
    assert base != DEFAULT_TERMS[:2] and base != "accuracy"
    assert hash(base) == hash(Rubric(DEFAULT_TERMS[:2])) != hash(Rubric(DEFAULT_TERMS))
    assert repr(base) == "Rubric(accuracy=1.0, format=0.2)"
    with pytest.raises(MedenvError, match="'accuracy' is given twice"):
        base + DEFAULT_TERMS[0]
    with pytest.raises(MedenvError, match="^reward term: the weight of 'w' must be a finite"):
        Rubric([RewardTerm("w", brevity, math.inf)])
    # the env's rubric: one extra term or a list of them is added to the defaults
    names = tuple(t.name for t in DEFAULT_TERMS)
    assert rubric_from(extra).names == (*names, "brevity") == rubric_from([extra]).names
    assert rubric_from(base, {"format": 0.5}).weights == {"accuracy": 1.0, "format": 0.5}


def test_term_refs_name_every_term_that_is_not_a_default_one():
    renamed = RewardTerm("mine", accuracy_term)  # a default fn under another name
    replaced = RewardTerm("accuracy", brevity)  # a default name with another fn
    refs = term_refs(Rubric([renamed, replaced, DEFAULT_TERMS[1], RewardTerm("x", Anonymous())]))
    assert refs == {
        "mine": "medenv.reward:accuracy_term",
        "accuracy": "tests.test_reward_terms:brevity",
        "x": "?:?",
    }
    assert term_refs(Rubric()) == {}


def test_rubric_from_config_rebuilds_logged_terms_in_order():
    weights = {"short": 0.5, "accuracy": 2.0, "brevity": 0.1}
    refs = {"short": "tests.test_reward_terms:Terms.short", "brevity": "tests.test_reward_terms:brevity"}
    rubric = rubric_from_config(weights, refs)
    assert rubric.names == ("short", "accuracy", "brevity") and rubric.weights == weights
    assert [t.fn for t in rubric.terms] == [Terms.short, accuracy_term, brevity]
    with pytest.raises(MedenvError, match="reward term 'mystery' is not a medenv term"):
        rubric_from_config({"accuracy": 1.0, "mystery": 0.5}, None)
    for ref in ("tests.test_reward_terms:Missing", "no_such_module:f", "?:?"):
        with pytest.raises(MedenvError) as err:
            rubric_from_config({"x": 1.0}, {"x": ref})
        assert str(err.value) == (
            f"reward term 'x' ({ref}) cannot be imported: pass reward_terms= to rebuild the env"
        )


def test_a_score_reads_its_components_as_attributes_and_names_a_missing_one():
    score = RewardScore(components={"accuracy": 1.0, "brevity": 0.0}, weights={}, total=1.0)
    assert (score.accuracy, score.brevity) == (1.0, 0.0)
    assert getattr(score, "speed", None) is None and not hasattr(score, "speed")
    with pytest.raises(AttributeError) as err:
        score.speed  # noqa: B018
    assert err.value.args == ("speed",)


def _str_term(o: EpisodeOutcome):
    return "1"


def _bool_term(o: EpisodeOutcome):
    return True


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Rubric(["accuracy"]), "^a reward term must be a RewardTerm, got str$"),
        (lambda: Rubric([RewardTerm("not valid", brevity)]), "^reward term name 'not valid' is not"),
        (lambda: Rubric([RewardTerm(3, brevity)]), "^reward term name 3 is not an identifier$"),
        (lambda: Rubric([RewardTerm("x", "brevity")]), "^reward term 'x': fn is not callable$"),
        (lambda: Rubric([RewardTerm("w", brevity, "high")]), "weight of 'w' must be a finite"),
        (lambda: Rubric().reweighted([1]), r"^bad reward_weights \[1\]: expected a mapping"),
        (
            lambda: Rubric().reweighted({"speed": 1.0}),
            r"no reward term 'speed' \(terms: accuracy, format, efficiency, evidence_recall\)$",
        ),
        (
            lambda: Rubric().reweighted({"format": math.nan}),
            "^bad reward_weights: the weight of 'format' must be a finite number, got nan$",
        ),
    ],
)
def test_bad_rubrics_are_one_clear_line(make, message):
    with pytest.raises(MedenvError, match=message):
        make()


def test_a_term_must_return_a_number_and_the_total_keeps_ten_places(items):
    o = outcome(items[0], items[0].answer, 2, 0)
    for fn, shown in ((_str_term, "'1'"), (_bool_term, "True")):
        with pytest.raises(MedenvError, match=f"^reward term 's' returned {shown}, not a number$"):
            Rubric([RewardTerm("s", fn)]).score(o)
    third = Rubric([RewardTerm("a", accuracy_term, 1 / 3)]).score(o)
    assert third.total == 0.3333333333 and third.components == {"a": 1.0}

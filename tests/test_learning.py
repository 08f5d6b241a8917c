"""Curriculum by hops, reward-by-step slopes from the event log, torch threads, and the
share of assistant turns that receive loss: each checked against a second implementation
on real data (a real 1-hop synth run, a real event store)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from medenv.cli import main
from medenv.errors import MedenvError

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def one_hop(tmp_path_factory):
    base = tmp_path_factory.mktemp("learn")
    assert main(["synth", "--hops", "1", "--n", "24", "--seed", "3", "--out",
                 str(base / "qa1"), "--no-progress"]) == 0  # fmt: skip
    return base


def test_synth_hops_builds_a_one_hop_set_and_rollout_selects_by_hops(one_hop, capsys):
    from medenv.curriculum import parse_hops, select_hops
    from medenv.synth.io import read_qa_set

    items = read_qa_set(one_hop / "qa1")
    assert items and {len(i.hops) for i in items} == {1} and {i.n_hops for i in items} == {1}
    assert parse_hops("2, 1,2") == (1, 2) and parse_hops(3) == (3,)
    for bad in ("0", "x", ""):
        with pytest.raises(MedenvError):
            parse_hops(bad)
    assert select_hops(items, (1,)) == items
    with pytest.raises(MedenvError, match=r"hop counts \[1\]"):
        select_hops(items, (2,))
    db = one_hop / "o.duckdb"
    assert main(["rollout", "--agent", "oracle", "--qa", str(one_hop / "qa1"), "--hops", "1",
                 "--db", str(db), "--no-progress"]) == 0  # fmt: skip
    assert f"ran {len(items)} episodes" in capsys.readouterr().out
    rc = main(["rollout", "--agent", "oracle", "--qa", str(one_hop / "qa1"), "--hops", "2",
               "--db", str(one_hop / "o2.duckdb"), "--no-progress"])  # fmt: skip
    assert rc == 2 and "no questions with 2 hop(s)" in capsys.readouterr().err


def _slope_reference(rows):
    """Second implementation: numpy's degree-1 polyfit."""
    x = np.array([r[0] for r in rows], float)
    y = np.array([r[1] for r in rows], float)
    return float(np.polyfit(x, y, 1)[0])


def test_reward_slope_matches_polyfit_and_its_ci_separates_trends():
    from medenv.learning_curve import by_step, reward_slope

    rng = np.random.default_rng(5)
    rising = [(s, 0.02 * s + rng.normal(0, 0.05), False) for s in range(20) for _ in range(4)]
    flat = [(s, rng.normal(0.3, 0.05), False) for s in range(20) for _ in range(4)]
    up, level = reward_slope(rising, resamples=500), reward_slope(flat, resamples=500)
    assert up.slope == pytest.approx(_slope_reference(rising), rel=1e-9)
    assert level.slope == pytest.approx(_slope_reference(flat), abs=1e-12)
    assert up.ci[0] > 0 and level.ci[0] < 0 < level.ci[1]
    assert (up.steps, up.episodes) == (20, 80)
    means = by_step(rising)
    assert [p.step for p in means] == list(range(20)) and all(p.episodes == 4 for p in means)
    assert means[3].mean_reward == pytest.approx(np.mean([r[1] for r in rising if r[0] == 3]))
    with pytest.raises(MedenvError, match="2 or more training steps"):
        reward_slope([(0, 1.0, True), (0, 0.0, False)])


def test_eval_plots_reward_by_training_step_from_a_real_store(tmp_path, capsys):
    """Episodes tagged with training steps (as GRPO tags them) in a real store; the last
    step's in a shard beside the main file (as GRPO's concurrent rollouts write them), read
    once: 12 episodes, not the shard's counted again with the main file's."""
    from medenv.agents.rollout import rollout

    from medenv.learning_curve import episode_rewards

    db = tmp_path / "steps.duckdb"
    for step in range(3):
        path = db if step < 2 else tmp_path / "steps.shard-1.duckdb"
        rollout("heuristic" if step < 2 else "oracle", qa=None, episodes=4, db=path, seed=step,
                tags={"training_step": step}, progress=False)  # fmt: skip
    rows = episode_rewards(db)
    assert sorted({r[0] for r in rows}) == [0, 1, 2] and len(rows) == 12
    assert sum(r[0] == 2 for r in rows) == 4
    png = tmp_path / "reward.png"
    assert main(["eval", "--db", str(db), "--plot-steps", str(png)]) == 0
    err = capsys.readouterr().err
    assert png.stat().st_size > 1000 and "slope" in err and "over 3 steps, 12 episodes" in err


def test_default_threads(monkeypatch):
    from medenv.agents.threads import default_threads

    monkeypatch.delenv("MEDENV_THREADS", raising=False)
    assert [default_threads(c) for c in (1, 2, 4, 16, 64)] == [1, 1, 2, 8, 8]
    monkeypatch.setenv("MEDENV_THREADS", "3")
    assert default_threads(2) == 3
    monkeypatch.setenv("MEDENV_THREADS", "zero")
    with pytest.raises(MedenvError, match="MEDENV_THREADS"):
        default_threads()


def test_assistant_turn_share_matches_direct_tokenisation(one_hop):
    """Turn ends from `row_token_lengths` against apply_chat_template(tokenize=True) of
    each prefix, and the share at several cuts against a direct count."""
    from medenv.agents.rollout import rollout
    from medenv.agents.tiny import tiny_model_path
    from medenv.training.export import export
    from medenv.training.token_lengths import assistant_turn_share, row_token_lengths
    from transformers import AutoTokenizer

    db = one_hop / "share.duckdb"
    rollout("oracle", qa=one_hop / "qa1", episodes=8, db=db, seed=0, progress=False)
    export(db, one_hop / "ex", ["sft"], hf=False)
    rows = [json.loads(x) for x in (one_hop / "ex" / "sft.jsonl").read_text().splitlines()]
    tok = AutoTokenizer.from_pretrained(str(tiny_model_path()))
    lengths = row_token_lengths(rows, tok)
    ends = []
    for row in rows:
        msgs = row["messages"]
        for i, m in enumerate(msgs):
            if m["role"] == "assistant":
                ids = tok.apply_chat_template(msgs[: i + 1], tools=row["tools"], tokenize=True,
                                              return_dict=True)["input_ids"]  # fmt: skip
                ends.append(len(ids))
    assert [e for r in lengths for e in r.turn_ends] == ends
    for cut in (min(ends) - 1, int(np.median(ends)), max(ends)):
        assert assistant_turn_share(lengths, cut) == sum(e <= cut for e in ends) / len(ends)
    assert assistant_turn_share(lengths, None) == 1.0


class _Stumbler:
    """A scripted test agent: turn k of an episode is malformed when k is in ``bad``, else a
    real search; it answers on turn 4. Its turns are known, so the shares are too."""

    agent_name = "stumbler"

    def __init__(self, world=None, bad=(0, 2)):
        self.bad, self.k = set(bad), 0

    def reset(self, item=None, seed=None):
        self.k = 0

    def act(self, observation, info):
        from medenv.agents.text import action_text, answer_text

        k, self.k = self.k, self.k + 1
        if k == 4:
            return answer_text(None, "Marfan syndrome")
        if k in self.bad:
            return "I think I should search <tool_call>{not json</tool_call>"
        return action_text(None, "medical_search", {"query": f"ataxia {k}"})


def test_turn_shares_of_the_learning_benchmark(tmp_path):
    """`medenv.training.learn.turn_shares` against the scripted agent's known turns and against
    `medenv eval`'s format-error rate (a second reading of the same log)."""
    from medenv.agents.rollout import rollout
    from medenv.training.learn import turn_shares

    from medenv import evaluation

    db = tmp_path / "stumble.duckdb"
    rollout(_Stumbler, qa=None, episodes=3, db=db, seed=0, progress=False)
    shares = turn_shares(db)
    # per episode: 5 turns, 2 malformed, 2 tool calls, 1 answer
    assert shares == {"turns": 15, "parseable_turns": 0.6, "tool_call_turns": 0.4}
    (group,) = evaluation.evaluate([str(db)]).groups
    assert shares["parseable_turns"] == pytest.approx(1 - group.format_error_rate)


def test_make_learn_samples_its_pool_as_its_grpo_stage_trains():
    """The pool stage samples at GRPO's temperature and step budget, GRPO trains on that
    pool file, and the default batch holds every pool question every step (the commands
    read back by medenv's own parser)."""
    from pathlib import Path

    from medenv.training.grpo import GRPOTrainConfig
    from medenv.training.learn import FULL, QUICK, grpo_args, pool_args

    from medenv.cli import build_parser

    sft, qa1, grpo, pool = Path("m/sft"), Path("qa1"), Path("m/grpo"), Path("m/pool.json")
    parser = build_parser()
    p = parser.parse_args(pool_args(FULL, sft, qa1, pool))
    g = parser.parse_args(grpo_args(FULL, sft, qa1, grpo, pool))
    assert (p.mode, g.mode) == ("pool", "grpo")
    assert p.temperature == g.temperature == FULL["temperature"]
    assert p.env_max_steps == g.env_max_steps and p.hops == g.hops == "1"
    assert p.model == g.model == str(sft) and g.pool == p.out == str(pool)
    assert g.loss_type == FULL["grpo_loss"] and g.learning_rate == FULL["grpo_lr"]
    assert g.beta == FULL["grpo_beta"] and g.logprob_support == FULL["grpo_support"]
    assert (p.k, p.size, p.seed) == (FULL["grpo_pool_k"], FULL["grpo_pool"], FULL["grpo_pool_seed"])
    assert p.patience == FULL["grpo_pool_patience"] > 0 and p.early_stop  # stops when hopeless
    assert p.stratify == bool(FULL["grpo_pool_stratify"])
    assert parser.parse_args(pool_args({**FULL, "grpo_pool_stratify": 1}, sft, qa1, pool)).stratify
    assert not parser.parse_args(pool_args({**FULL, "grpo_pool_stratify": 0}, sft, qa1, pool)).stratify
    assert p.k >= 2 and p.size == g.batch_size // g.num_generations  # all of it every step
    assert GRPOTrainConfig(batch_size=g.batch_size, num_generations=g.num_generations).check()
    q = parser.parse_args(grpo_args(QUICK, sft, qa1, grpo, pool))
    assert QUICK["grpo_pool"] == 0 and q.pool is None
    empty = parser.parse_args(grpo_args(FULL, sft, qa1, grpo, pool, use_pool=False))
    assert empty.pool is None and empty.batch_size == g.batch_size  # an empty pool: all questions

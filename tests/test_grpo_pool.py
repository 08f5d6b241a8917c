"""The GRPO pool (`medenv.training.grpo_pool`, ``medenv train pool``): questions the start
model answers sometimes, picked by sampling it in the real env.

The selection rule is read a second way here: pass counts from the event log through
`medenv.events.episodes.load_episodes` (not the pool's own SQL), the rule as "largest
within-group variance p (1 - p) first" in exact fractions (the pool sorts by distance from
1/2), and the draw checked by its properties (size, distinct, from the items, independent
of their order, seeded).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from fractions import Fraction

import duckdb
import msgspec
import pytest

from medenv.cli import main
from medenv.errors import MedenvError
from tests.test_grpo import grpo_setup
from tests.test_sft import torch_threads


def rule(counts: dict, size: int) -> list[str]:
    """Second reading: keep 0 < p < n; largest p/n (1 - p/n) first, then by id."""
    keep = []
    for qid, (p, n) in counts.items():
        rate = Fraction(p, n)
        if rate not in (0, 1):
            keep.append((-(rate * (1 - rate)), qid))
    ids = [qid for _, qid in sorted(keep)]
    return ids[:size] if size > 0 else ids


def test_select_learnable_agrees_with_the_variance_rule_on_random_counts():
    from medenv.training.grpo_pool import select_learnable

    rng = random.Random(21)
    seen_mixed = seen_ties = 0
    for _ in range(300):
        n = rng.choice([2, 3, 4, 6, 8, 12])
        counts = {
            f"q{rng.randrange(10_000):04d}": [rng.randint(0, k), k]
            for k in [rng.choice([n, n, 8]) for _ in range(rng.randint(0, 12))]
        }
        size = rng.randint(0, 6)
        assert select_learnable(counts, size) == rule(counts, size)
        mixed = [q for q, (p, k) in counts.items() if 0 < p < k]
        seen_mixed += bool(mixed)
        rates = Counter(abs(Fraction(p, k) - Fraction(1, 2)) for p, k in counts.values())
        seen_ties += any(c > 1 for c in rates.values())
    assert seen_mixed > 200 and seen_ties > 100  # the cases the rule must order


def test_a_question_always_or_never_answered_is_never_selected():
    from medenv.training.grpo_pool import select_learnable

    counts = {"a": [0, 8], "b": [8, 8], "c": [1, 8], "d": [4, 8], "e": [7, 8], "f": [2, 3]}
    assert select_learnable(counts, 0) == ["d", "f", "c", "e"]  # 1/2, 2/3 (|.|=1/6), 1/8 = 7/8
    assert select_learnable(counts, 2) == ["d", "f"]
    assert select_learnable({"a": [0, 8], "b": [8, 8]}, 4) == []


def test_the_candidate_draw_is_seeded_and_independent_of_the_input_order():
    from medenv.training.grpo_pool import candidate_items

    from medenv.qa import QAItem

    items = [QAItem(id=f"q{i:03d}", question="?", answer="a", answer_id="x") for i in range(40)]
    draw = [i.id for i in candidate_items(items, 12, seed=3)]
    assert len(draw) == len(set(draw)) == 12 and set(draw) <= {i.id for i in items}
    shuffled = random.Random(0).sample(items, len(items))
    assert [i.id for i in candidate_items(shuffled, 12, seed=3)] == draw
    assert [i.id for i in candidate_items(items, 12, seed=4)] != draw
    assert sorted(i.id for i in candidate_items(items, 0, seed=3)) == sorted(i.id for i in items)


@pytest.fixture(scope="module")
def sampled_pool(tmp_path_factory):
    """The SFT fixture model (test_grpo's start model) sampled 4 times on 3 questions."""
    from medenv.training.grpo_pool import build_pool

    _, items, start = grpo_setup()
    out = tmp_path_factory.mktemp("pool") / "pool.json"
    with torch_threads(1):
        pool = build_pool(str(start), None, out, size=2, candidates=3, k=4, temperature=1.0,
                          seed=0, env_max_steps=3, max_new_tokens=48, progress=False,
                          items=items)  # fmt: skip
    return pool, out, items


def test_pool_counts_and_selection_match_a_second_reading_of_the_event_log(sampled_pool):
    from medenv.events.episodes import load_episodes

    pool, out, items = sampled_pool
    assert len(pool.candidates) == 3 and set(pool.candidates) <= {i.id for i in items}
    episodes = load_episodes(out.with_suffix(".duckdb"))
    # a second reading: the raw events, folded here (not the episode projection)
    con = duckdb.connect(str(out.with_suffix(".duckdb")), read_only=True)
    rows = con.execute("select run_id, episode_id, type, payload from events").fetchall()
    con.close()
    question, correct = {}, {}
    for run, episode, kind, payload in rows:
        if kind == "episode_started":
            question[(run, episode)] = json.loads(payload)["question_id"]
        elif kind == "reward_assigned":
            correct[(run, episode)] = json.loads(payload)["correct"]
    counts: dict[str, list[int]] = {}
    for key, ok in correct.items():
        c = counts.setdefault(question[key], [0, 0])
        c[0] += bool(ok)
        c[1] += 1
    assert counts == pool.counts
    assert all(n == 4 for _, n in pool.counts.values())  # k samples of every candidate
    assert len({ep.seed for ep in episodes}) == len(episodes)  # each sample its own seed
    assert pool.selected == rule(counts, 2)
    assert all(0 < pool.counts[q][0] < 4 for q in pool.selected)


def test_the_pool_file_reads_back_and_a_rerun_samples_nothing_new(sampled_pool):
    from medenv.training.grpo_pool import build_pool, load_pool

    from medenv.events.episodes import load_episodes

    pool, out, items = sampled_pool
    assert load_pool(out) == pool
    n = len(load_episodes(out.with_suffix(".duckdb")))
    with torch_threads(1):
        again = build_pool(pool.model, None, out, size=2, candidates=3, k=4, temperature=1.0,
                           seed=0, env_max_steps=3, max_new_tokens=48, progress=False,
                           items=items)  # fmt: skip
    assert again == pool and len(load_episodes(out.with_suffix(".duckdb"))) == n


def _pool_file(path, selected):
    from medenv.training.grpo_pool import Pool

    pool = Pool(model="m", k=8, temperature=1.0, seed=0, split="train", hops="1",
                env_max_steps=4, max_new_tokens=96, candidates=list(selected),
                counts={q: [1, 8] for q in selected}, selected=list(selected), size=8)  # fmt: skip
    path.write_bytes(msgspec.json.encode(pool))
    return str(path)


def test_grpo_trains_on_the_pool_questions_in_pool_order(tmp_path):
    from medenv.training.grpo import GRPOTrainConfig, grpo_items

    from medenv.qa import QAItem

    items = [
        QAItem(id=f"q{i}", question="?", answer="a", answer_id="x", split="train") for i in range(6)
    ]
    config = GRPOTrainConfig(pool=_pool_file(tmp_path / "p.json", ["q4", "q1"]))
    assert [i.id for i in grpo_items(config.check(), items)] == ["q4", "q1"]
    config.max_questions = 1
    assert [i.id for i in grpo_items(config, items)] == ["q4"]
    config = GRPOTrainConfig(pool=_pool_file(tmp_path / "bad.json", ["q1", "zz"]))
    with pytest.raises(MedenvError, match="'zz' is not in the GRPO questions"):
        grpo_items(config, items)
    config = GRPOTrainConfig(pool=_pool_file(tmp_path / "empty.json", []))
    with pytest.raises(MedenvError, match="no question selected"):
        grpo_items(config, items)


def test_a_missing_or_malformed_pool_file_is_one_clear_line(tmp_path, capsys):
    from medenv.training.grpo import GRPOTrainConfig

    with pytest.raises(MedenvError, match="no such pool file"):
        GRPOTrainConfig(pool=str(tmp_path / "none.json")).check()
    bad = tmp_path / "bad.json"
    bad.write_text('{"selected": 3}')
    assert main(["train", "grpo", "--pool", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a GRPO pool file" in err[0] and str(bad) in err[0]
    # --out a folder: refused before sampling (it sampled, wrote the .duckdb beside the
    # folder, then replaced the folder with the pool file)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("mine")
    argv = ["train", "pool", "--model", "tiny", "--out", str(tmp_path / "mine")]
    assert main(argv) == 2
    assert f"--out {tmp_path / 'mine'}: is a folder, not a file" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["bad.json", "mine"]


def walk(order: list[str], counts: dict, size: int, patience: int) -> tuple[int, str]:
    """Second reading of early stopping, one candidate at a time: (candidates sampled, why
    sampling ended) for a sampler that sees ``counts`` in draw order."""
    seen: dict = {}
    for n, qid in enumerate(order, 1):
        seen[qid] = counts[qid]
        if n == len(order):
            break
        if size > 0 and sum(1 for p, k in seen.values() if 0 < p < k) >= size:
            return n, "full"
        if patience > 0 and n >= patience and all(p == 0 for p, _ in seen.values()):
            return n, "patience"
    return len(order), "all"


def test_the_stop_rule_agrees_with_a_one_at_a_time_walk_on_random_counts():
    from medenv.training.grpo_pool import stop_reason

    rng = random.Random(7)
    reasons = Counter()
    for _ in range(400):
        order = [f"q{i}" for i in range(rng.randint(1, 10))]
        k = rng.choice([2, 4, 8])
        weights = rng.choice([(1, 0, 0), (8, 1, 1), (1, 1, 1)])  # never / sometimes / always
        counts = {}
        for q in order:
            kind = rng.choices(("never", "some", "always"), weights)[0]
            passes = 0 if kind == "never" else k if kind == "always" else rng.randint(1, k - 1)
            counts[q] = [passes, k]
        size, patience = rng.randint(0, 3), rng.randint(0, 4)
        n, why = walk(order, counts, size, patience)
        seen, got = {}, "all"
        for i, q in enumerate(order, 1):  # the loop of build_pool with chunk 1
            seen[q] = counts[q]
            reason = stop_reason(seen, size, patience) if i < len(order) else None
            if reason:
                got = reason
                break
        assert (len(seen), got) == (n, why)
        reasons[why] += 1
    assert min(reasons.values()) > 30 and len(reasons) == 3


def test_sampling_stops_early_and_keeps_the_draw_order(sampled_pool, tmp_path):
    """Chunked sampling (one candidate at a time) on a copy of the fixture's event log:
    every episode is already there (resume), so the sampled prefix and the reason must be
    the walk's over the full pool's counts."""
    import shutil

    from medenv.training.grpo_pool import build_pool

    pool, out, items = sampled_pool
    for size, patience in ((1, 1), (1, 2), (0, 0)):
        dest = tmp_path / f"p{size}{patience}.json"
        shutil.copy(out.with_suffix(".duckdb"), dest.with_suffix(".duckdb"))
        with torch_threads(1):
            early = build_pool(pool.model, None, dest, size=size, candidates=3, k=4,
                               temperature=1.0, seed=0, env_max_steps=3, max_new_tokens=48,
                               progress=False, items=items, chunk=1, patience=patience)  # fmt: skip
        n, why = walk(pool.candidates, pool.counts, size, patience)
        assert early.candidates == pool.candidates
        assert list(early.counts) == pool.candidates[:n] and early.stopped == why
        assert all(early.counts[q] == pool.counts[q] for q in early.counts)
        assert early.selected == rule(early.counts, size)


# -- stratified pools: every relation pattern the draw holds ---------------------------------


def _patterned(n_by_pattern: dict[tuple, int]) -> list:
    """QA items whose chains follow the given patterns (tuples of (relation, inverse))."""
    from medenv.qa import Hop, QAItem

    items = []
    for k, (pattern, n) in enumerate(n_by_pattern.items()):
        hops = tuple(Hop(head="h", relation=rel, tail="t", inverse=inv) for rel, inv in pattern)
        items += [QAItem(id=f"q{k}{i:03d}", question="?", answer="a", answer_id="x", hops=hops)
                  for i in range(n)]  # fmt: skip
    return items


def strat_rule(counts: dict, size: int, strata: dict) -> list[str]:
    """Second reading of the stratified selection: per-pattern queues in the variance
    order, emptied a round at a time (each round in the variance order)."""
    order = rule(counts, 0)
    queues: dict[str, list[str]] = {}
    for qid in order:
        queues.setdefault(strata[qid], []).append(qid)
    out: list[str] = []
    while any(queues.values()):
        out += sorted((q.pop(0) for q in queues.values() if q), key=order.index)
    return out[:size] if size > 0 else out


def test_relation_pattern_names_each_hop_in_order_and_marks_inverse_hops():
    from medenv.training.grpo_pool import relation_pattern

    (item,) = _patterned({(("associated_gene", True), ("is_a", False)): 1})
    assert relation_pattern(item) == "associated_gene^-1 > is_a"


def test_a_stratified_draw_interleaves_the_relation_patterns():
    from medenv.training.grpo_pool import candidate_items, relation_pattern

    items = _patterned({(("associated_gene", True),): 10, (("is_a", False),): 5,
                        (("has_phenotype", True),): 2})  # fmt: skip
    draw = candidate_items(items, 0, seed=3, stratify=True)
    assert sorted(i.id for i in draw) == sorted(i.id for i in items)
    total = Counter(relation_pattern(i) for i in items)
    # round by round (the n-th of each pattern), patterns by name within a round
    place, seen = [], Counter()
    for item in draw:
        place.append((seen[relation_pattern(item)], relation_pattern(item)))
        seen[relation_pattern(item)] += 1
    assert place == sorted(place) and seen == total
    for pattern in total:  # each pattern's own order: a seeded draw of its items
        own = [i for i in draw if relation_pattern(i) == pattern]
        assert own == candidate_items([i for i in items if relation_pattern(i) == pattern], 0, 3)
    assert len({relation_pattern(i) for i in draw[:3]}) == 3
    shuffled = random.Random(0).sample(items, len(items))
    assert candidate_items(shuffled, 0, seed=3, stratify=True) == draw
    assert candidate_items(items, 7, seed=3, stratify=True) == draw[:7]
    assert candidate_items(items, 0, seed=4, stratify=True) != draw


def test_stratified_selection_takes_each_patterns_best_in_turn():
    from medenv.training.grpo_pool import select_learnable

    counts = {"a1": [4, 8], "a2": [3, 8], "b1": [1, 8], "c1": [0, 8], "b2": [2, 8]}
    strata = {"a1": "A", "a2": "A", "b1": "B", "b2": "B", "c1": "C"}
    assert select_learnable(counts, 0) == ["a1", "a2", "b2", "b1"]
    assert select_learnable(counts, 0, strata) == ["a1", "b2", "a2", "b1"]
    assert select_learnable(counts, 2, strata) == ["a1", "b2"]  # one of each pattern first
    rng = random.Random(5)
    for _ in range(300):
        counts = {f"q{i}": [rng.randint(0, 8), 8] for i in range(rng.randint(0, 14))}
        strata = {q: rng.choice("ABCD") for q in counts}
        size = rng.randint(0, 6)
        assert select_learnable(counts, size, strata) == strat_rule(counts, size, strata)


def test_a_stratified_pool_is_full_only_once_it_covers_the_patterns():
    from medenv.training.grpo_pool import stop_reason

    strata = {"a1": "A", "a2": "A", "b1": "B", "c1": "C"}
    two_a = {"a1": [4, 8], "a2": [3, 8]}
    assert stop_reason(two_a, 2, 0) == "full"  # unstratified: any two learnable
    assert stop_reason(two_a, 2, 0, strata, patterns=3) is None  # both of pattern A
    assert stop_reason({**two_a, "b1": [1, 8]}, 2, 0, strata, patterns=3) == "full"
    assert stop_reason({**two_a, "b1": [1, 8]}, 3, 0, strata, patterns=3) is None
    assert stop_reason({**two_a, "b1": [1, 8]}, 3, 0, strata, patterns=2) == "full"

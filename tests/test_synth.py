"""KISA synthesis on the real HPO graph: uniqueness, leakage, labels, determinism, IO."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medenv.errors import DataError, MedenvError
from medenv.kg.names import natural_order
from medenv.synth import (
    SPECIALTIES,
    SynthConfig,
    read_manifest,
    read_qa_set,
    resolve_chain,
    synthesize,
    write_qa_set,
)
from medenv.synth.config import hop_weights_of
from medenv.synth.labels import chain_digest, split_of
from medenv.synth.pipeline import target_hops
from tests.closure_ref import ORGAN_SYSTEMS, ClosedGraph, admitted, shortcut_levels

# The module's set (ids and splits do not depend on n: these are the first 100 items of the
# n=150 set the module used before, ~9 CPU-s more). Measured at n=100: 12 specialties (>= 10
# asserted), hops 28/36/36 for 2/3/4 (mean 3.08, >= 3 asserted; 3.14 at n=150), all three
# splits, rare-seed median degree 2 (<= 10), targets 2 < 3 < 4 (29/71/117); every item is still
# re-verified for uniqueness, leaks and labels.
N = 100


@pytest.fixture(scope="module")
def result(compact_kg):
    return synthesize(compact_kg, SynthConfig(n=N, seed=0), progress=False)


@pytest.fixture(scope="module")
def items(result):
    return result.items


def test_makes_the_requested_number_of_items(result, items):
    assert len(items) == N
    assert result.manifest["counts"]["items"] == N
    assert len({i.id for i in items}) == N


def _under(graph, term: str, branch: str) -> bool:
    """Is there an is_a path from ``term`` up to ``branch`` (asserted edges)?"""
    seen, todo = {term}, [term]
    while todo:
        t = todo.pop()
        if t == branch:
            return True
        for _, parent, key in graph.out_edges(t, keys=True):
            if key == "is_a" and parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return False


def _admitted(graph, by_name: dict[str, set[str]], item) -> set[str]:
    """The item's statements read as a path query, evaluated on the raw networkx graph
    with no medenv code: the seed's name (or a synonym, case-insensitively) with its type
    (or, for a described seed, every node of its type with the seed's stated facts), then per hop the nodes of the next chain entity's type reached over the hop's relation
    (backwards for an inverse hop) that also hold every stated constraint, where a
    constraint holds for ``u`` when ``u`` has the relation with a node of the entity's name.
    """

    def node(i: str):
        return graph.nodes[i]["node"]

    def named(i: str) -> set[str]:
        return by_name.get(node(i).name.casefold(), {i})

    def step(v: str, relation: str, backwards: bool) -> set[str]:
        edges = graph.in_edges(v, keys=True) if backwards else graph.out_edges(v, keys=True)
        return {(s if backwards else t) for s, t, key in edges if key == relation}

    def holds(u: str, c) -> bool:  # c.inverse: entity -rel-> u, else u -rel-> entity
        if c.entity in ORGAN_SYSTEMS and not c.inverse:
            # a description reads as its words say: "is a neurological abnormality" (an
            # is_a path up to the organ system), "has neurological features" (a feature
            # of u on such a path)
            terms = {u} if c.relation == "is_a" else step(u, c.relation, False)
            return any(_under(graph, t, c.entity) for t in terms)
        return any(u in step(e, c.relation, not c.inverse) for e in named(c.entity))

    def keep(nodes: set[str], i: int) -> set[str]:
        kind = node(item.chain[i]).type
        cons = [c for c in item.constraints if c.node == i]
        return {u for u in nodes if node(u).type == kind and all(holds(u, c) for c in cons)}

    if any(c.node == 0 for c in item.constraints):  # a described seed: any node with its facts
        current = keep(set(graph.nodes), 0)
    else:
        current = keep(named(item.chain[0]), 0)
    for i, hop in enumerate(item.hops):
        reached: set[str] = set()
        for v in current:
            reached |= step(v, hop.relation, hop.inverse)
        current = keep(reached, i + 1)
    return current


def labels_index(kg) -> dict[str, set[str]]:
    """Casefolded name or synonym -> the node ids carrying it (read from the graph itself)."""
    out: dict[str, set[str]] = {}
    for node_id, node in kg.graph.nodes(data="node"):
        for label in (node.name, *node.synonyms):
            out.setdefault(label.casefold(), set()).add(node_id)
    return out


def test_every_item_is_unique_when_reverified_against_the_kg(kg, items, by_name):
    for item in items:
        # independently of medenv's code, and with the public checker `resolve_chain`
        assert _admitted(kg.graph, by_name, item) == {item.answer_id}, item.question
        assert resolve_chain(kg, item) == {item.answer_id}, item.question


@pytest.fixture(scope="module")
def by_name(kg):
    return labels_index(kg)


def test_a_sample_is_unique_under_the_closure_reverified_independently(kg, items, by_name):
    """Every 6th item, read as a clinician reads HPO (true-path rule, transitive is_a) by
    the brute-force `closure_ref`, admits only its answer; the public `resolve_chain`
    agrees; and none has a shortcut (effective hops == nominal hops)."""
    closed = ClosedGraph(kg.graph)
    sample = items[::6]
    for item in sample:
        assert admitted(closed, by_name, item) == {item.answer_id}, item.question
        assert resolve_chain(kg, item) == {item.answer_id}, item.question
        assert shortcut_levels(closed, by_name, item) == [], item.question
        assert item.effective_hops == item.n_hops


def _stem(word: str) -> str:
    for suffix in ("es", "s"):
        if len(word) > 4 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def _near_leaks(question: str, label: str) -> bool:
    """Independent near-leak reading: the label's words (stemmed, in written or in
    comma-inverted order) as consecutive stemmed words of the question, or a single-word
    label of 6+ letters inside a longer word."""
    words = [_stem(w) for w in re.findall(r"[a-z0-9]+", question.casefold())]
    forms = [label.casefold()]
    if "," in label:
        head, _, rest = label.casefold().partition(",")
        forms.append(rest.strip() + " " + head.strip())
    for form in forms:
        target = [_stem(w) for w in re.findall(r"[a-z0-9]+", form)]
        n = len(target)
        if n and any(words[k : k + n] == target for k in range(len(words) - n + 1)):
            return True
    plain = label.casefold()
    return plain.isalpha() and len(plain) >= 6 and any(plain in w for w in words)


def test_no_item_names_a_chain_entity_even_as_a_variant_or_inside_a_word(kg, items):
    for item in items:
        for node_id in item.chain[1:]:
            node = kg.node(node_id)
            for label in (node.name, *node.synonyms):
                assert not _near_leaks(item.question, label), (label, item.question)


def test_chain_is_a_real_kg_path(kg, items):
    for item in items:
        assert item.chain[-1] == item.answer_id
        assert item.n_hops == len(item.hops) == len(item.chain) - 1
        assert len(set(item.chain)) == len(item.chain)  # simple path
        for i, hop in enumerate(item.hops):
            assert (hop.head, hop.tail) == (item.chain[i], item.chain[i + 1])
            source, target = (hop.tail, hop.head) if hop.inverse else (hop.head, hop.tail)
            assert kg.graph.has_edge(source, target, key=hop.relation)
        for c in item.constraints:
            source, target = (
                (c.entity, item.chain[c.node]) if c.inverse else (item.chain[c.node], c.entity)
            )
            if c.entity in ORGAN_SYSTEMS and not c.inverse:  # a description: a path
                terms = [source] if c.relation == "is_a" else kg.successors(source, c.relation)
                assert any(_under(kg.graph, t, target) for t in terms)
            else:
                assert kg.graph.has_edge(source, target, key=c.relation)
            assert c.entity not in item.chain


def _occurs(label: str, text: str) -> bool:
    return (
        re.search(r"(?<!\w)" + re.escape(label.casefold()) + r"(?!\w)", text.casefold()) is not None
    )


def test_no_answer_or_intermediate_leaks_into_the_question(kg, items):
    for item in items:
        seed = kg.node(item.chain[0])
        # the seed is named, unless the question describes it (constraints on node 0)
        described = any(c.node == 0 for c in item.constraints)
        assert (f'"{seed.name}"' in item.question) != described, item.question
        for node_id in item.chain[1:]:
            node = kg.node(node_id)
            for label in (node.name, *node.synonyms):
                assert not _occurs(label, item.question), (label, item.question)
        for alias in (item.answer, *item.aliases):
            assert not _occurs(alias, item.question)


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.casefold())
    return {tuple(words[i : i + 3]) for i in range(max(len(words) - 2, 1))}


def test_no_repeated_chain_and_no_near_identical_questions(items):
    assert len({(i.answer_id, i.chain) for i in items}) == len(items)
    texts = [" ".join(re.findall(r"\w+", i.question.casefold())) for i in items]
    assert len(set(texts)) == len(texts)
    by_answer: dict[str, list[set]] = {}
    for item in items:
        sh = _shingles(item.question)
        for other in by_answer.get(item.answer_id, ()):
            assert len(sh & other) / len(sh | other) < 0.8, item.question
        by_answer.setdefault(item.answer_id, []).append(sh)


def test_wording_varies_across_items(items):
    openings = {i.question.split()[0] for i in items}
    assert {"Which", "What", "Name", "Identify"} <= openings
    phrases = {"presents with", "is characterised by", "has among its features"}
    assert sum(any(p in i.question for i in items) for p in phrases) >= 2


def test_labels_follow_the_documented_rules(kg, items):
    for item in items:
        assert item.answer == kg.node(item.answer_id).name
        node = kg.node(item.answer_id)
        labels = (node.name, *node.synonyms)
        assert set(item.aliases) <= set(labels) | {natural_order(x) for x in labels}
        assert item.optimal_calls == item.n_hops + 1
        assert item.difficulty == pytest.approx(item.n_hops + item.rarity, abs=1e-3)
        assert 0.0 <= item.rarity <= 1.0
        assert item.specialty in SPECIALTIES
        steps = [(h.relation, h.inverse) for h in item.hops]
        assert item.split == split_of(chain_digest(item.chain, steps))
        assert kg.node(item.answer_id).type in ("disease", "gene", "phenotype")
        assert item.kg_source == kg.source and item.kg_version == kg.version


def test_targets_mean_hops_and_specialty_spread(items, result):
    assert sum(i.n_hops for i in items) / len(items) >= 3
    assert sum(i.effective_hops for i in items) / len(items) >= 3
    assert result.manifest["counts"]["mean_effective_hops"] >= 3
    assert len({i.specialty for i in items}) >= 10
    assert {i.split for i in items} == {"train", "validation", "test"}


def test_hops_bounds_and_rare_seeds(kg, items, result):
    assert all(2 <= i.n_hops <= 4 for i in items)
    drops = result.manifest["drops"]
    assert set(drops) <= {
        "no_chain",
        "ambiguous",
        "leak",
        "duplicate",
        "no_specialty",
        "specialty",
        "unanswerable",
        "shortcut",
        "search_shortcut",
        "wide",
    }
    assert result.manifest["counts"]["seeds_tried"] == N + sum(drops.values())
    # the rare tail dominates: most seeds are low-degree entities
    degrees = sorted(kg.degree(i.chain[0]) for i in items)
    assert degrees[len(degrees) // 2] <= 10


def test_default_config_spreads_hop_lengths(items, result):
    counts = {n: sum(1 for i in items if i.n_hops == n) for n in (2, 3, 4)}
    assert sum(1 for c in counts.values() if c >= 0.15 * len(items)) >= 2, counts
    assert sum(i.n_hops for i in items) / len(items) >= 3
    # each item is the longest chain up to its seed's drawn target, never longer
    lengths, weights = hop_weights_of(SynthConfig())
    for item in items:
        assert item.n_hops <= target_hops(0, item.chain[0], lengths, weights)
    targets = result.manifest["search"]["target_hops"]
    assert sum(targets.values()) == result.manifest["counts"]["seeds_tried"]
    assert 0 < targets["2"] < min(targets["3"], targets["4"])  # default favours longer chains


def test_target_hops_is_seeded_and_follows_the_weights():
    lengths, weights = hop_weights_of(SynthConfig())
    assert (lengths, weights) == ((2, 3, 4), (1.0, 4.0, 9.0))
    ids = [f"HP:{k:07d}" for k in range(3000)]
    drawn = [target_hops(0, i, lengths, weights) for i in ids]
    assert drawn == [target_hops(0, i, lengths, weights) for i in ids]
    assert drawn != [target_hops(1, i, lengths, weights) for i in ids]
    for n, w in zip(lengths, weights, strict=True):
        assert drawn.count(n) / len(drawn) == pytest.approx(w / sum(weights), abs=0.04)
    assert {target_hops(0, i, lengths, (0.0, 1.0, 0.0)) for i in ids[:50]} == {3}


def test_hop_weights_steer_chain_lengths(compact_kg):
    short = synthesize(compact_kg, SynthConfig(n=20, seed=0, hop_weights=(1, 0, 0)), progress=False)
    assert {i.n_hops for i in short.items} == {2}
    long = synthesize(compact_kg, SynthConfig(n=20, seed=0, hop_weights=(0, 0, 1)), progress=False)
    assert sum(i.n_hops == 4 for i in long.items) >= 16
    assert long.manifest["search"]["target_hops"] == {"4": long.manifest["counts"]["seeds_tried"]}


def test_same_seed_gives_identical_files_and_a_prefix_for_smaller_n(compact_kg, result, tmp_path):
    small = synthesize(compact_kg, SynthConfig(n=20, seed=0), progress=False)
    assert small.items == result.items[:20]  # ids and splits do not depend on n
    # a second run in another process, with another str hash seed (set iteration order),
    # writes the same bytes (20 items, all hop lengths and splits: the n=100 run would add
    # 12 CPU-s and no new code path)
    assert {i.n_hops for i in small.items} == {2, 3, 4}
    assert len({i.split for i in small.items}) == 3
    script = Path(sys.executable).with_name("medenv")
    cmd = [str(script), "synth", "--n", "20", "--seed", "0", "--out", str(tmp_path / "b")]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run(
        [*cmd, "--no-corpus", "--no-progress"], env=env, capture_output=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    a = write_qa_set(tmp_path / "a", small.items, small.manifest)
    for name in ("qa.jsonl", "qa.parquet"):
        assert (a / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = synthesize(compact_kg, SynthConfig(n=20, seed=1), progress=False)
    assert [i.id for i in other.items] != [i.id for i in small.items]


def test_specialty_filter_keeps_only_that_specialty(kg, compact_kg):
    res = synthesize(
        compact_kg, SynthConfig(n=20, seed=3, specialties=("cardiology",)), progress=False
    )
    assert {i.specialty for i in res.items} == {"cardiology"}
    assert all(resolve_chain(kg, i) == {i.answer_id} for i in res.items)


def test_rewrite_hook_is_applied_and_leaks_are_rejected(compact_kg):
    res = synthesize(
        compact_kg, SynthConfig(n=5, seed=5), progress=False, rewrite=lambda q: "Q: " + q
    )
    assert all(i.question.startswith("Q: ") for i in res.items)
    assert res.manifest["rewrite_rejected"] == 0
    base = synthesize(compact_kg, SynthConfig(n=5, seed=5), progress=False)
    answers = iter(i.answer for i in base.items)

    def leak_answer(q: str) -> str:  # a rewrite that names the answer must be rejected
        return q + " The answer is " + next(answers) + "."

    leaky = synthesize(compact_kg, SynthConfig(n=5, seed=5), progress=False, rewrite=leak_answer)
    assert leaky.manifest["rewrite_rejected"] == 5
    assert [i.question for i in leaky.items] == [i.question for i in base.items]


def test_bad_arguments_give_clear_errors(compact_kg):
    with pytest.raises(MedenvError, match="min-hops .* larger than max-hops"):
        synthesize(compact_kg, SynthConfig(n=5, min_hops=4, max_hops=2), progress=False)
    with pytest.raises(MedenvError, match="unknown specialty 'cardio'.*cardiology"):
        synthesize(compact_kg, SynthConfig(n=5, specialties=("cardio",)), progress=False)
    with pytest.raises(MedenvError, match="more than this KG supports"):
        synthesize(compact_kg, SynthConfig(n=10_000_000), progress=False)
    with pytest.raises(MedenvError, match=r"one weight per length 2\.\.4 \(3\), got 2"):
        synthesize(compact_kg, SynthConfig(n=5, hop_weights=(1, 2)), progress=False)
    with pytest.raises(MedenvError, match="hop-weights must be non-negative"):
        synthesize(compact_kg, SynthConfig(n=5, hop_weights=(1, -1, 1)), progress=False)
    with pytest.raises(MedenvError, match="hop-weights must be non-negative"):
        synthesize(compact_kg, SynthConfig(n=5, hop_weights=(0, 0, 0)), progress=False)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(MedenvError, match="hop-weights must be non-negative finite"):
            SynthConfig(n=5, hop_weights=(bad, 1, 1)).check()


def test_write_and_read_round_trip(result, tmp_path):
    out = write_qa_set(tmp_path / "set", result.items, result.manifest)
    assert read_qa_set(out) == result.items
    assert read_qa_set(out / "qa.jsonl") == result.items
    table = pq.read_table(out / "qa.parquet")
    assert table.column("id").to_pylist() == [i.id for i in result.items]
    assert table.column("hops").to_pylist()[0][0]["head"] == result.items[0].chain[0]
    manifest = read_manifest(out)
    assert manifest["seed"] == 0 and manifest["kg_source"] == "hpo"
    assert manifest["kg_version"] == result.items[0].kg_version
    assert manifest["counts"]["by_hops"] and manifest["counts"]["by_specialty"]
    search = manifest["search"]  # the measured cost of the chain search
    assert 0 < search["expansions_max"] <= SynthConfig().expansion_budget
    assert search["expansions_total"] >= search["expansions_max"]
    assert manifest["counts"]["items"] == N and "drops" in manifest and "elapsed_s" in manifest


def test_read_external_jsonl_and_errors(tmp_path):
    ext = tmp_path / "ext.jsonl"
    ext.write_text(
        json.dumps({"question": "What gene?", "answer": "BRCA1", "aliases": ["brca-1"]})
        + "\n"
        + "\n"
        + json.dumps({"question": "Which disease?", "answer": "Cystic fibrosis", "id": "cf"})
        + "\n"
    )
    items = read_qa_set(ext)
    assert [i.answer for i in items] == ["BRCA1", "Cystic fibrosis"]
    assert items[0].aliases == ("brca-1",) and items[1].id == "cf"
    assert items[0].chain == () and items[0].optimal_calls == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "a"}) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid JSON"):
        read_qa_set(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"question": "q"}) + "\n")
    with pytest.raises(DataError, match=r"missing\.jsonl:1: bad item"):
        read_qa_set(missing)
    dup = tmp_path / "dup.jsonl"
    dup.write_text(
        json.dumps({"question": "q", "answer": "a", "id": "x"})
        + "\n"
        + json.dumps({"question": "r", "answer": "b", "id": "x"})
        + "\n"
    )
    with pytest.raises(DataError, match=r"dup\.jsonl:2: id 'x' repeats line 1"):
        read_qa_set(dup)
    with pytest.raises(DataError, match="file not found"):
        read_qa_set(tmp_path / "nope.jsonl")
    (tmp_path / "set" / "qa.jsonl").mkdir(parents=True)
    with pytest.raises(DataError, match="qa.jsonl: is a folder, not a file"):
        read_qa_set(tmp_path / "set")
    # the set's Parquet twin (or any Parquet file) is named as such, not as bad JSON
    pq.write_table(pa.table({"id": ["a"]}), tmp_path / "qa.parquet")
    (tmp_path / "qa.bin").write_bytes((tmp_path / "qa.parquet").read_bytes())
    for name in ("qa.parquet", "qa.bin"):
        with pytest.raises(DataError, match=rf"{name}: a Parquet file; .* pass the set folder"):
            read_qa_set(tmp_path / name)


def _summary_rows(printed: str, title: str) -> dict[str, int]:
    """The rows ``  key  count  share%`` under ``title`` in the command's summary table."""
    lines = printed.splitlines()
    if f"{title}: none" in lines:
        return {}
    rows: dict[str, int] = {}
    for line in lines[lines.index(title) + 1 :]:
        if not line.startswith("  "):
            break
        key, count, _share = line.split()
        rows[key] = int(count)
    return rows


def test_cli_writes_a_set_and_reports_bad_arguments(tmp_path, capsys):
    from medenv.cli import main

    out = tmp_path / "cli"
    assert main(["synth", "--n", "15", "--seed", "2", "--out", str(out), "--no-corpus"]) == 0
    printed, progress = capsys.readouterr()
    assert re.search(r"synth: +\d+%\|", progress)  # the progress bar (on stderr)
    assert "by hops" in printed and "by specialty" in printed and "drops by reason" in printed
    assert len(read_qa_set(out)) == 15
    manifest = read_manifest(out)
    for title, key in (("by hops", "by_hops"), ("by specialty", "by_specialty")):
        assert _summary_rows(printed, title) == manifest["counts"][key]
    assert _summary_rows(printed, "drops by reason") == manifest["drops"]
    assert main(["synth", "--n", "5", "--min-hops", "4", "--max-hops", "2", "--out", str(out)]) == 2
    assert "min-hops (4) is larger than max-hops (2)" in capsys.readouterr().err
    assert main(["synth", "--n", "5", "--specialty", "cardio", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown specialty 'cardio'" in err and "neurology" in err
    # an output path that cannot be a folder fails before the KG is loaded, not after
    for bad, words in ((out / "qa.jsonl", "is a file, not a folder"),
                       (out / "qa.jsonl" / "sub", "qa.jsonl is a file, not a folder")):  # fmt: skip
        assert main(["synth", "--n", "5", "--out", str(bad), "--no-corpus"]) == 2
        assert words in capsys.readouterr().err
    assert main(["synth", "--n", "5", "--hop-weights", "nan,1,1", "--out", str(out)]) == 2
    assert "finite" in capsys.readouterr().err
    assert (
        main(["synth", "--n", "99999999", "--out", str(out), "--no-corpus", "--no-progress"]) == 2
    )
    assert "more than this KG supports" in capsys.readouterr().err


def test_with_a_world_every_hop_gets_evidence_pages_that_state_it(kg):
    from medenv.corpus.answerability import hop_evidence
    from medenv.world import load_world

    world = load_world("hpo", progress=False)
    res = synthesize(world.kg, SynthConfig(n=25, seed=4), world=world, progress=False)
    assert res.manifest["world"] == world.fingerprint
    for item in res.items:
        assert len(item.evidence) == item.n_hops and all(item.evidence)
        assert item.evidence == hop_evidence(world, item)
        for hop, pages in zip(item.hops, item.evidence, strict=True):
            for page in pages:
                assert world.corpus.get(page).entity_id in (hop.head, hop.tail)
        assert resolve_chain(kg, item) == {item.answer_id}


def test_cli_evidence_comes_from_the_envs_world_whatever_the_question_seed(tmp_path):
    """`--seed` picks questions; the evidence pages come from the world the env uses
    (`--world-seed`, default 0 like the env's `world_seed`), so evidence recall is right."""
    from medenv.cli import main
    from medenv.world import load_world

    out = tmp_path / "s7"
    assert main(["synth", "--n", "5", "--seed", "7", "--no-progress", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 7
    assert manifest["world"] == load_world("hpo", progress=False).fingerprint


def test_cli_hop_weights_flag(tmp_path, capsys):
    from medenv.cli import main
    from medenv.synth import read_qa_set

    out = tmp_path / "only2"
    args = ["synth", "--n", "10", "--no-corpus", "--no-progress", "--out", str(out)]
    assert main([*args, "--hop-weights", "1,0,0"]) == 0
    assert {i.n_hops for i in read_qa_set(out)} == {2}
    assert main([*args, "--hop-weights", "a,b"]) == 2
    assert "--hop-weights must be comma-separated numbers" in capsys.readouterr().err

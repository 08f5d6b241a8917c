"""The uniqueness search on the cases its mutation survivors showed untested (`make mutate`
uniqueness, README "Developing medenv: mutation testing").

Each test asks a question of behaviour against a second reading: the brute-force reader
of `tests.closure_ref` and the greedy rule written out in `tests.test_uniqueness_random`
(its `World`), on the same small random HPO-shaped graphs and on variants built to reach
what those graphs do not:

- `narrow` (the answerability rule: no middle level wider than ``limit``) and `widest`,
  written out here from their docstrings;
- `disambiguate` with its default ``per_node`` and ``tries``;
- descriptions that state a fact *towards* the node (``inverse``);
- graphs whose relations reach several node types from one type and one type from
  another (a gene with a past history, a phenotype with a gene), so that skipping a
  level's type filter (`medenv.synth.reach.type_reach`) depends on the hop's source type;
- the memo of levels asked twice with one hop's relation changed;
- `pins` at every cap, up to the size of each level.
"""

from __future__ import annotations

import random

import pytest

from medenv.kg.graph import KnowledgeGraph, Node
from medenv.kg.loaders.hpo import RELATIONS
from medenv.synth.index import GraphIndex
from medenv.synth.qa import Constraint
from medenv.synth.uniqueness import Disambiguator
from tests.closure_ref import HPO_SEMANTICS, ClosedGraph, admitted
from tests.test_uniqueness_random import SEEDS, World, _described


class MixedWorld(World):
    """A `World` whose graph also has genes with a past history of phenotypes and
    phenotypes associated with genes: ``has_history`` from a gene reaches phenotypes
    only, from a disease phenotypes and diseases; ``associated_gene`` reaches genes from
    diseases and phenotypes alike."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        rng = random.Random(f"mixed-{seed}")
        phen = sorted(n for n in self.nodes if self.type[n] == "phenotype")
        genes = sorted(n for n in self.nodes if self.type[n] == "gene")
        for g in genes:
            for p in rng.sample(phen, 2):
                self.kg.add_edge(g, p, "has_history")
        for p in rng.sample(phen, 4):
            self.kg.add_edge(p, rng.choice(genes), "associated_gene")
        self.closed = ClosedGraph(self.kg.graph, HPO_SEMANTICS)
        self.index = GraphIndex(self.kg)
        self.facts = {n: [] for n in self.nodes}
        for s, t, rel in self.kg.graph.edges(keys=True):
            self.facts[s].append((rel, False, t))
            self.facts[t].append((rel, True, s))


@pytest.fixture(scope="module", params=SEEDS)
def world(request) -> World:
    return World(request.param)


@pytest.fixture(scope="module", params=SEEDS)
def mixed(request) -> MixedWorld:
    return MixedWorld(request.param)


def _both_ways(world: World):
    """Plain-worded facts of a node in both directions: `_described`'s, and for a
    phenotype or a gene, the diseases and genes that hold it (``inverse``)."""
    forward = _described(world)

    def described(node: str) -> list[Constraint]:
        out = list(forward(node))
        for rel, inv, e in world.facts[node]:
            if inv and rel in ("has_phenotype", "associated_gene", "has_history"):
                out.append(Constraint(-1, rel, e, True))
        return out

    return described


# --- the references ------------------------------------------------------------------
def _choose(world, chain, steps, cons, i, usable, tries, named, described):
    """The greedy fact for node ``i`` (the module docstring's rule, on reference sets):
    among the facts true of ``chain[i]`` that leave fewest members of its level (ties:
    entity, relation, inverse), the first of at most ``tries`` usable ones that does not
    pin the answer on its own from node ``i >= 2``."""
    members = world.levels(chain, steps, cons)[i]
    taken = {(c.entity, c.relation, c.inverse) for c in cons if c.node == i}
    pool = list(world.facts[chain[i]]) if named else []
    if described is not None:
        pool += [(c.relation, c.inverse, c.entity) for c in described(chain[i])]
    scored = []
    for rel, inv, e in pool:
        if e in chain or (e, rel, inv) in taken:
            continue
        left = len(world.satisfying(Constraint(-1, rel, e, inv), members))
        if left < len(members):
            scored.append((left, e, rel, inv))
    for _, e, rel, inv in [s for s in sorted(scored) if usable(s[1])][:tries]:
        c = Constraint(i, rel, e, inv)
        if i < 2 or not world.pins(i, chain, steps, [*cons, c]):
            return c
    return None


def _narrow(
    world, chain, steps, cons, limit, max_constraints, per_node, tries, usable, named, described
):
    """`narrow` written out: add the greedy fact of the first middle level wider than
    ``limit`` until none is, or None when a limit or the facts run out first."""
    out = list(cons)
    while True:
        levels = world.levels(chain, steps, out)
        wide = [i for i in range(1, len(chain) - 1) if len(levels[i]) > limit]
        if not wide:
            return tuple(out)
        i = wide[0]
        if len(out) >= max_constraints or sum(c.node == i for c in out) >= per_node:
            return None
        chosen = _choose(world, chain, steps, out, i, usable, tries, named, described)
        if chosen is None:
            return None
        out.append(chosen)


# --- narrow and widest ---------------------------------------------------------------
def test_widest_is_the_first_middle_level_over_the_limit():
    sets = [{"s"}, {"a", "b"}, {"c", "d", "e"}, {"x", "y", "z", "w"}]
    assert Disambiguator.widest(sets, 2) == 2  # the second middle level
    assert Disambiguator.widest(sets, 1) == 1  # the first one, when both are wide
    assert Disambiguator.widest(sets, 3) is None  # the answer level is not a middle one
    assert Disambiguator.widest(sets[:2], 0) is None  # one hop: no middle level


@pytest.mark.parametrize("mode", ["named", "described", "unusable"])
def test_narrow_follows_the_rule_written_out(mode):
    """`narrow` with its default ``per_node`` (3) and ``tries`` (4), from the
    constraints `disambiguate` found, against `_narrow` on reference sets (every seed's
    graph: together they give chains narrowed by new facts, chains already narrow, and
    chains that cannot be narrowed)."""
    outcomes = set()
    for seed in SEEDS:
        world = World(seed)
        disamb = Disambiguator(world.index)
        named = mode != "described"
        described = _both_ways(world) if mode == "described" else None
        banned = {n for n in world.nodes if n.endswith(("2", "AD"))}

        def usable(e, banned=banned):
            return mode != "unusable" or e not in banned

        for chain, steps in world.chains(25, world.rng("narrow")):
            start = disamb.disambiguate(
                chain, steps, max_constraints=4, named=named, described=described,
                usable=usable,
            )  # fmt: skip
            if start is None:
                continue
            for limit in (1, 2):
                want = _narrow(
                    world, chain, steps, start, limit, 6, 3, 4, usable, named, described
                )
                got = disamb.narrow(
                    chain, steps, start, limit=limit, max_constraints=6, usable=usable,
                    named=named, described=described,
                )  # fmt: skip
                assert got == want, (mode, seed, limit, chain, steps, start)
                outcomes.add("same" if got == start else "none" if got is None else "more")
    assert outcomes == {"same", "more", "none"}, outcomes


def test_narrow_runs_out_of_facts_or_limits():
    """Over every seed and mode: `narrow` also answers None (a limit or the facts run
    out), as the reference does."""
    seen = set()
    for seed in SEEDS:
        world = World(seed)
        disamb = Disambiguator(world.index)
        rng = world.rng("narrow-none")
        for chain, steps in world.chains(20, rng):
            start = disamb.disambiguate(chain, steps, max_constraints=4)
            if start is None:
                continue
            for max_constraints, per_node in ((len(start), 3), (6, 1), (6, 3)):
                want = _narrow(world, chain, steps, start, 1, max_constraints, per_node, 4,
                               lambda e: True, True, None)  # fmt: skip
                got = disamb.narrow(
                    chain, steps, start, limit=1, max_constraints=max_constraints,
                    per_node=per_node,
                )  # fmt: skip
                assert got == want, (seed, chain, steps, start, max_constraints, per_node)
                seen.add(got is None)
    assert seen == {True, False}


# --- disambiguate: defaults and facts towards a node ---------------------------------
def test_disambiguate_defaults_to_four_tries():
    """Called without ``per_node`` and ``tries``: the reference with 2 and 4, on chains
    where a fifth try would have changed the result (seed 1)."""
    differs = 0
    for seed in SEEDS:
        world = World(seed)
        disamb = Disambiguator(world.index)
        for chain, steps in world.chains(25, world.rng("defaults")):
            want = world.disambiguate(chain, steps, 100, 6, 2, 4, lambda e: True, True, None)
            got = disamb.disambiguate(chain, steps, max_constraints=6)
            assert got == want, (seed, chain, steps)
            other = world.disambiguate(chain, steps, 100, 6, 2, 5, lambda e: True, True, None)
            differs += other != want
    assert differs


def _one_gene_graph(k: int, shared_mode: bool) -> KnowledgeGraph:
    """``k + 1`` diseases share gene G:0; each of OMIM:0's ``k`` phenotypes is missing
    from one other disease only (a fact on OMIM:0 rules out one disease); each disease
    has its own inheritance mode, or all share HP:M0."""
    kg = KnowledgeGraph("hpo", f"one-gene-{k}-{shared_mode}", RELATIONS)
    kg.add_node(Node("G:0", "gene", "gene zero"))
    for i in range(k + 1):
        kg.add_node(Node(f"OMIM:{i}", "disease", f"syndrome {i}"))
        kg.add_edge(f"OMIM:{i}", "G:0", "associated_gene")
        mode = "HP:M0" if shared_mode else f"HP:M{i}"
        if mode not in kg:
            kg.add_node(Node(mode, "inheritance", f"mode {mode}"))
        kg.add_edge(f"OMIM:{i}", mode, "has_inheritance")
    for j in range(1, k + 1):
        kg.add_node(Node(f"HP:{j}", "phenotype", f"sign {j}"))
        for i in range(k + 1):
            if i != j:
                kg.add_edge(f"OMIM:{i}", f"HP:{j}", "has_phenotype")
    return kg


ONE_GENE_CHAIN = ("G:0", "OMIM:0", "HP:M0")
ONE_GENE_STEPS = (("associated_gene", True), ("has_inheritance", False))


def test_disambiguate_defaults_to_two_facts_a_node():
    """Three phenotypes on OMIM:0, four diseases with their own mode: the answer needs
    three facts on OMIM:0, so the default (2 a node) finds none."""
    kg = _one_gene_graph(3, shared_mode=False)
    chain, steps = ONE_GENE_CHAIN, ONE_GENE_STEPS
    disamb = Disambiguator(GraphIndex(kg))
    assert disamb.disambiguate(chain, steps, max_constraints=6) is None
    three = disamb.disambiguate(chain, steps, max_constraints=6, per_node=3)
    assert three == tuple(Constraint(1, "has_phenotype", f"HP:{j}") for j in (1, 2, 3))
    world = World(0)  # only its `item` helper
    closed = ClosedGraph(kg.graph, HPO_SEMANTICS)
    by_name = {kg.node(n).name: {n} for n in kg.graph.nodes}
    assert admitted(closed, by_name, world.item(chain, steps, three)) == {"HP:M0"}
    assert admitted(closed, by_name, world.item(chain, steps, three[:2])) != {"HP:M0"}


def test_narrow_defaults_to_three_facts_a_node():
    """Five diseases share gene G:0 and mode HP:M0 (the answer is unique as it stands):
    narrowing the diseases to one takes four facts on OMIM:0, over the default 3."""
    disamb = Disambiguator(GraphIndex(_one_gene_graph(4, shared_mode=True)))
    chain, steps = ONE_GENE_CHAIN, ONE_GENE_STEPS
    assert disamb.disambiguate(chain, steps, max_constraints=6) == ()
    assert disamb.narrow(chain, steps, (), limit=1, max_constraints=6) is None
    four = disamb.narrow(chain, steps, (), limit=1, max_constraints=6, per_node=4)
    assert four == tuple(Constraint(1, "has_phenotype", f"HP:{j}") for j in (1, 2, 3, 4))
    assert disamb.narrow(chain, steps, (), limit=2, max_constraints=6) == four[:3]


def test_a_one_hop_chain_is_disambiguated():
    """A one-hop chain: the answer level is the only one that can take a fact."""
    kg = _one_gene_graph(2, shared_mode=False)
    disamb = Disambiguator(GraphIndex(kg))
    chain, steps = ("HP:1", "OMIM:0"), (("has_phenotype", True),)
    assert disamb.candidate_sets(chain, steps, [])[-1] == {"OMIM:0", "OMIM:2"}
    # HP:2 and HP:M0 each rule out OMIM:2; ties go by entity id
    assert disamb.disambiguate(chain, steps, max_constraints=2) == (
        Constraint(1, "has_phenotype", "HP:2"),
    )


@pytest.mark.parametrize("named", [False, True])
def test_disambiguate_with_descriptions_towards_the_node(world, named):
    """Descriptions that state a fact towards the node ("a gene associated with ...",
    ``inverse``), alone (the fully-described pre-check) and with the graph's facts."""
    disamb = Disambiguator(world.index)
    described = _both_ways(world)
    rng = world.rng("towards")
    results = []
    for chain, steps in world.chains(20, rng):
        want = world.disambiguate(chain, steps, 100, 4, 2, 4, lambda e: True, named, described)
        got = disamb.disambiguate(
            chain, steps, max_constraints=4, named=named, described=described
        )
        assert got == want, (named, chain, steps)
        results.append(got)
    assert any(c.inverse for r in results if r for c in r) or world.seed not in (0, 1)


# --- graphs whose relations reach several types -------------------------------------
def test_mixed_graphs_reach_one_type_from_a_gene_and_two_from_a_disease(mixed):
    disamb = Disambiguator(mixed.index)
    assert disamb._reach.get(("gene", "has_history", False)) == "phenotype"
    assert ("disease", "has_history", False) not in disamb._reach


def test_mixed_graphs_levels_suffixes_and_pins_match_the_reference(mixed):
    disamb = Disambiguator(mixed.index)
    rng = mixed.rng("mixed-levels")
    for chain, steps in mixed.chains(30, rng):
        for cons in ([], mixed.random_constraints(chain, rng)):
            want = mixed.levels(chain, steps, cons)
            assert disamb.candidate_sets(chain, steps, cons) == want, (chain, steps, cons)
            start = set(want[1]) | {chain[1]}
            suffix = disamb.candidate_sets(chain, steps, cons, start=1, first=start)
            for k in range(2, len(chain)):
                item = mixed.item(chain[: k + 1], steps[:k], [c for c in cons if c.node <= k])
                ref = admitted(mixed.closed, mixed.by_name, item, start_level=1, start=start)
                assert suffix[k - 1] == ref, (k, chain, steps, cons)
        every = [Constraint(j, r, e, i) for j in range(1, len(chain))
                 for r, i, e in mixed.facts[chain[j]] if e not in chain]  # fmt: skip
        for node in range(1, len(chain)):
            own = [c for c in every if c.node == node]
            for cons in ([*own[:1]], own):
                want = mixed.pins(node, chain, steps, cons)
                assert disamb.pins(node, chain, steps, cons) == want, (node, chain, cons)


@pytest.mark.parametrize("named", [False, True])
def test_mixed_graphs_disambiguate_matches_the_reference(mixed, named):
    disamb = Disambiguator(mixed.index)
    described = _both_ways(mixed)
    rng = mixed.rng("mixed-disambiguate")
    for chain, steps in mixed.chains(20, rng):
        want = mixed.disambiguate(chain, steps, 100, 4, 2, 4, lambda e: True, named, described)
        got = disamb.disambiguate(
            chain, steps, max_constraints=4, per_node=2, named=named, described=described
        )
        assert got == want, (named, chain, steps)


# --- memo and caps -------------------------------------------------------------------
def test_the_levels_memo_tells_apart_two_relations_from_one_node():
    """One disease has phenotype ``pain`` both as a feature and in its history, another
    only as a feature: the chain asked with either relation on one `Disambiguator`,
    in both orders, gives each relation's own levels."""
    kg = KnowledgeGraph("hpo", "two-relations", RELATIONS)
    kg.add_node(Node("HP:1", "phenotype", "pain"))
    for d, g in (("OMIM:1", "G:1"), ("OMIM:2", "G:2")):
        kg.add_node(Node(d, "disease", f"syndrome {d[-1]}"))
        kg.add_node(Node(g, "gene", f"gene {g[-1]}"))
        kg.add_edge(d, g, "associated_gene")
        kg.add_edge(d, "HP:1", "has_phenotype")
    kg.add_edge("OMIM:1", "HP:1", "has_history")
    closed = ClosedGraph(kg.graph, HPO_SEMANTICS)
    by_name = {kg.node(n).name: {n} for n in kg.graph.nodes}
    chain = ("HP:1", "OMIM:1", "G:1")
    feature = (("has_phenotype", True), ("associated_gene", False))
    history = (("has_history", True), ("associated_gene", False))
    world = World(0)  # only its `item` helper

    def want(steps):
        return [
            admitted(closed, by_name, world.item(chain[: k + 1], steps[:k]))
            for k in range(len(chain))
        ]

    assert want(feature) != want(history)
    for order in ((feature, history), (history, feature)):
        disamb = Disambiguator(GraphIndex(kg))
        for steps in order * 2:
            assert disamb.candidate_sets(chain, steps, []) == want(steps), steps
            got = disamb.candidate_sets(chain, steps, [], prefix=want(steps)[:2])
            assert got == want(steps), steps
        # descriptions only (none to add): unique as it stands with history only
        disamb = Disambiguator(GraphIndex(kg))
        for steps in order * 2:
            got = disamb.disambiguate(
                chain, steps, max_constraints=2, named=False, described=lambda n: ()
            )
            assert got == (() if want(steps)[-1] == {"G:1"} else None), steps


def test_pins_at_every_cap_up_to_the_levels_sizes():
    """`pins` with a cap equal to a constrained middle level's size (the level is kept)
    and one below it (the query stops), on every seed's graph."""
    seen = set()
    for seed in SEEDS:
        world = World(seed)
        disamb = Disambiguator(world.index)
        rng = world.rng("pins-caps")
        for chain, steps in world.chains(10, rng):
            if len(chain) < 4:
                continue
            every = [Constraint(j, r, e, i) for j in range(1, len(chain))
                     for r, i, e in world.facts[chain[j]] if e not in chain]  # fmt: skip
            for node in range(1, len(chain) - 1):
                own = [c for c in every if c.node == node][:1]  # a wide level of its own
                later = [c for c in every if c.node > node]  # and narrow ones after it
                for cons in (every, [*own, *later], world.random_constraints(chain, rng)):
                    for cap in range(0, 6):
                        want = world.pins(node, chain, steps, cons, cap)
                        got = disamb.pins(node, chain, steps, cons, cap=cap)
                        assert got == want, (seed, node, cap, chain, steps, cons)
                        seen.add((cap, want))
    assert {(1, True), (1, False), (0, False)} <= seen


def test_a_hop_whose_relation_reaches_two_types_keeps_its_type_filter():
    """D0 has phenotype-like history P and disease history D1; a gene GX also has P in
    its history, so ``has_history`` from a gene reaches phenotypes only, from a disease
    two types. Following D0's history to a *phenotype* keeps P and drops D1 (whose gene
    G1 would make the answer G ambiguous), in the fast query, in `pins` and in the
    descriptions' pre-check of `disambiguate`."""
    kg = KnowledgeGraph("hpo", "two-types", RELATIONS)
    for node_id, kind in (
        ("HP:M", "inheritance"), ("OMIM:0", "disease"), ("OMIM:1", "disease"),
        ("HP:1", "phenotype"), ("G:0", "gene"), ("G:1", "gene"), ("G:X", "gene"),
    ):  # fmt: skip
        kg.add_node(Node(node_id, kind, node_id.lower()))
    for s, t, rel in (
        ("OMIM:0", "HP:M", "has_inheritance"), ("OMIM:0", "HP:1", "has_history"),
        ("OMIM:0", "OMIM:1", "has_history"), ("OMIM:1", "G:1", "associated_gene"),
        ("HP:1", "G:0", "associated_gene"), ("G:X", "HP:1", "has_history"),
        ("OMIM:0", "G:X", "associated_gene"),
    ):  # fmt: skip
        kg.add_edge(s, t, rel)
    disamb = Disambiguator(GraphIndex(kg))
    assert disamb._reach[("gene", "has_history", False)] == "phenotype"
    closed = ClosedGraph(kg.graph, HPO_SEMANTICS)
    by_name = {kg.node(n).name: {n} for n in kg.graph.nodes}
    world = World(0)  # only its `item` helper
    chain = ("HP:M", "OMIM:0", "HP:1", "G:0")
    steps = (("has_inheritance", True), ("has_history", False), ("associated_gene", False))
    want = [admitted(closed, by_name, world.item(chain[: k + 1], steps[:k])) for k in range(4)]
    assert want == [{"HP:M"}, {"OMIM:0"}, {"HP:1"}, {"G:0"}]
    assert disamb.candidate_sets(chain, steps, []) == want
    own = [Constraint(1, "has_inheritance", "HP:M")]
    assert disamb.pins(1, chain, steps, own) is True
    # the same from gene G:X (whose own history reaches phenotypes only)
    from_gene = ("G:X", *chain[1:])
    assert disamb.pins(1, from_gene, (("associated_gene", True), *steps[1:]), own) is True
    # the three-node chain from D0, with no description to add: unique as it stands
    assert disamb.disambiguate(
        chain[1:], steps[1:], max_constraints=2, named=False, described=lambda n: ()
    ) == ()


def test_the_shortcut_check_stops_past_two_thousand_candidates():
    """`disambiguate` skips a fact that would pin the answer on its own from node 2 (a
    shortcut past the chain), but checks that only up to 2,000 candidates a level (the
    `_shortcut` docstring). P0's one fact, "a kind of ROOT", holds for exactly 2,001
    phenotypes, every one associated with gene G: the check stops at that level, so the
    fact is taken; with a 2,000-phenotype level it is seen as a shortcut and skipped
    (then the answer's own facts are shortcuts too: no constraint is left)."""

    def search(kinds: int) -> tuple | None:
        kg = KnowledgeGraph("hpo", f"wide-{kinds}", RELATIONS)
        for node_id, kind in (
            ("HP:M", "inheritance"), ("OMIM:0", "disease"), ("HP:ROOT", "phenotype"),
            ("HP:Q", "phenotype"), ("G:0", "gene"), ("G:2", "gene"),
        ):  # fmt: skip
            kg.add_node(Node(node_id, kind, node_id.lower()))
        for i in range(kinds):
            kg.add_node(Node(f"HP:{i}", "phenotype", f"kind {i}"))
            kg.add_edge(f"HP:{i}", "HP:ROOT", "is_a")
            kg.add_edge(f"HP:{i}", "G:0", "associated_gene")
        for s, t, rel in (
            ("OMIM:0", "HP:M", "has_inheritance"), ("OMIM:0", "HP:0", "has_phenotype"),
            ("OMIM:0", "HP:Q", "has_phenotype"), ("HP:Q", "G:2", "associated_gene"),
        ):  # fmt: skip
            kg.add_edge(s, t, rel)
        chain = ("HP:M", "OMIM:0", "HP:0", "G:0")
        steps = (("has_inheritance", True), ("has_phenotype", False), ("associated_gene", False))
        disamb = Disambiguator(GraphIndex(kg))
        assert disamb.candidate_sets(chain, steps, [])[-1] == {"G:0", "G:2"}  # ambiguous
        return disamb.disambiguate(chain, steps, max_constraints=2)

    assert search(2001) == (Constraint(2, "is_a", "HP:ROOT"),)
    assert search(2000) is None


def test_descriptions_added_to_start_constraints_are_not_judged_alone():
    """With ``start`` constraints, the descriptions-only search does not give up because
    the descriptions alone leave another answer: OMIM:0 needs all three of its
    phenotypes; one is given, two are described."""
    disamb = Disambiguator(GraphIndex(_one_gene_graph(3, shared_mode=False)))
    chain, steps = ONE_GENE_CHAIN, ONE_GENE_STEPS
    facts = {"OMIM:0": [Constraint(-1, "has_phenotype", f"HP:{j}") for j in (1, 2)]}

    def described(node):
        return facts.get(node, [])

    given = (Constraint(1, "has_phenotype", "HP:3"),)
    kwargs = {"max_constraints": 3, "per_node": 3, "named": False, "described": described}
    assert disamb.disambiguate(chain, steps, **kwargs) is None  # descriptions alone
    got = disamb.disambiguate(chain, steps, start=given, **kwargs)
    assert got == (*given, *(Constraint(1, "has_phenotype", f"HP:{j}") for j in (1, 2)))


def test_a_level_over_the_default_cap_of_100_is_narrowed_before_the_answer_is_read():
    """101 diseases share gene G:0 and mode HP:M0: the answer is unique, but the search
    reads no level past one of more than 100 candidates (the default ``cap``), so it
    first narrows the diseases with a fact; with a cap of 101 it reads the answer."""
    index = GraphIndex(_one_gene_graph(100, shared_mode=True))
    chain, steps = ONE_GENE_CHAIN, ONE_GENE_STEPS
    got = Disambiguator(index).disambiguate(chain, steps, max_constraints=2)
    assert got == (Constraint(1, "has_phenotype", "HP:1"),)
    assert Disambiguator(index, cap=101).disambiguate(chain, steps, max_constraints=2) == ()


def test_narrow_tries_four_facts_by_default():
    """Phenotype HP:X (chain node 2) is a kind of F1..F5, each fact leaving X alone in
    its level; F1..F4 have no other kind, so each pins the answer gene on its own (a
    shortcut past the chain), while F5 also has Z5, with another gene. By default
    (4 tries) `narrow` finds no usable fact; with 5 it takes F5."""
    kg = KnowledgeGraph("hpo", "five-parents", RELATIONS)
    for node_id, kind in (
        ("HP:M", "inheritance"), ("OMIM:0", "disease"), ("HP:X", "phenotype"),
        ("HP:Y", "phenotype"), ("HP:Z5", "phenotype"), ("G:A", "gene"), ("G:B", "gene"),
    ):  # fmt: skip
        kg.add_node(Node(node_id, kind, node_id.lower()))
    for j in range(1, 6):
        kg.add_node(Node(f"HP:F{j}", "phenotype", f"kind {j}"))
        kg.add_edge("HP:X", f"HP:F{j}", "is_a")
    for s, t, rel in (
        ("OMIM:0", "HP:M", "has_inheritance"), ("OMIM:0", "HP:X", "has_phenotype"),
        ("OMIM:0", "HP:Y", "has_phenotype"), ("HP:X", "G:A", "associated_gene"),
        ("HP:Z5", "HP:F5", "is_a"), ("HP:Z5", "G:B", "associated_gene"),
    ):  # fmt: skip
        kg.add_edge(s, t, rel)
    chain = ("HP:M", "OMIM:0", "HP:X", "G:A")
    steps = (("has_inheritance", True), ("has_phenotype", False), ("associated_gene", False))
    disamb = Disambiguator(GraphIndex(kg))
    sets = disamb.candidate_sets(chain, steps, [])
    assert sets[-1] == {"G:A"} and len(sets[2]) > 1  # unique, but a wide middle level
    assert disamb.narrow(chain, steps, (), limit=1, max_constraints=3) is None
    five = disamb.narrow(chain, steps, (), limit=1, max_constraints=3, tries=5)
    assert five == (Constraint(2, "is_a", "HP:F5"),)

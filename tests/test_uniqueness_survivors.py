"""The uniqueness search on the cases its mutation survivors showed untested (`make mutate`
uniqueness, `docs/mutation-testing.md`).

Each test asks a question of behaviour against a second reading: the brute-force reader
of `tests.closure_ref` and the greedy rule written out in `tests.test_uniqueness_random`
(its `World`), on the same small random HPO-shaped graphs and on variants built to reach
what those graphs do not:

- `narrow` (the answerability rule: no middle level wider than ``limit``) and `widest`,
  written out here from their docstrings;
- `disambiguate` with its default ``tries``;
- descriptions that state a fact *towards* the node (``inverse``);
- graphs whose relations reach several node types from one type and one type from
  another (a gene with a past history, a phenotype with a gene), so that skipping a
  level's type filter (`medenv.synth.reach.type_reach`) depends on the hop's source type;
- `pins` at every cap, up to the size of each level;
- graphs with two organ-system branch ids, where an ``is_a`` fact with a branch also
  admits the branch itself (`medenv.synth.describe.admits_itself`): levels, `pins`,
  `disambiguate` with branch descriptions (round 15: the search scored such a fact by the
  closure alone), and `PathQuery.of_type`.

The cases built by hand on a graph of their own are `tests/test_uniqueness_survivors_graphs.py`.
"""

from __future__ import annotations

import random

import pytest

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
    return world.choose(chain, steps, cons, i, members, usable, tries, named, described)


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


def seeded_chains(label: str, n: int):
    """``(world, disambiguator, rng, chain, steps)`` over ``n`` chains of every seed's
    graph, drawn with ``world.rng(label)`` (handed out: a test may draw from it too)."""
    for seed in SEEDS:
        world = World(seed)
        disamb = Disambiguator(world.index)
        rng = world.rng(label)
        for chain, steps in world.chains(n, rng):
            yield world, disamb, rng, chain, steps


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
    for world, disamb, _rng, chain, steps in seeded_chains("narrow-none", 20):
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
            assert got == want, (world.seed, chain, steps, start, max_constraints, per_node)
            seen.add(got is None)
    assert seen == {True, False}


# --- disambiguate: defaults and facts towards a node ---------------------------------
def test_disambiguate_defaults_to_four_tries():
    """Called without ``per_node`` and ``tries``: the reference with 2 and 4, on chains
    where a fifth try would have changed the result (seed 1)."""
    differs = 0
    for world, disamb, _rng, chain, steps in seeded_chains("defaults", 25):
        want = world.disambiguate(chain, steps, 100, 6, 2, 4, lambda e: True, True, None)
        got = disamb.disambiguate(chain, steps, max_constraints=6)
        assert got == want, (world.seed, chain, steps)
        other = world.disambiguate(chain, steps, 100, 6, 2, 5, lambda e: True, True, None)
        differs += other != want
    assert differs


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
def test_pins_at_every_cap_up_to_the_levels_sizes():
    """`pins` with a cap equal to a constrained middle level's size (the level is kept)
    and one below it (the query stops), on every seed's graph."""
    seen = set()
    for world, disamb, rng, chain, steps in seeded_chains("pins-caps", 10):
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
                    assert got == want, (world.seed, node, cap, chain, steps, cons)
                    seen.add((cap, want))
    assert {(1, True), (1, False), (0, False)} <= seen


# --- organ-system branches: an is_a fact that also admits the branch itself ----------
ORGANS = {"HP:1": "HP:0000707", "HP:2": "HP:0025031"}  # neurological, digestive


@pytest.fixture(scope="module", params=SEEDS)
def organ(request) -> World:
    """A seed's graph whose phenotypes HP:1 and HP:2 carry the ids of two HPO organ-system
    branches: "is a neurological abnormality" holds of HP:1's descendants under the
    closure and, read plainly, of HP:1 itself (`medenv.synth.describe.admits_itself`;
    `tests.closure_ref` reads the same rule)."""
    return World(request.param, ORGANS)


def _branch_facts(world: World, chain) -> list[Constraint]:
    """An ``is_a`` fact with each branch on every phenotype of the chain, the seed's
    included (true of the branch's descendants and of the branch, false of the rest)."""
    return [
        Constraint(i, "is_a", b, False)
        for i, n in enumerate(chain)
        if world.type[n] == "phenotype"
        for b in sorted(ORGANS.values())
    ]


def _branch_described(world: World):
    """`_described`'s facts, and for a phenotype each branch it lies under ("is a
    neurological abnormality")."""
    forward = _described(world)

    def described(node: str) -> list[Constraint]:
        out = list(forward(node))
        if world.type[node] == "phenotype":
            out += [
                Constraint(-1, "is_a", b, False)
                for b in sorted(ORGANS.values())
                if b in world.closed.ancestors(node)
            ]
        return out

    return described


def test_a_branch_fact_admits_the_branch_itself_on_every_level_and_in_pins(organ):
    """`candidate_sets` (a described seed too) and `pins` with branch facts, each branch
    alone and both together, on one `Disambiguator` (the two branches' sets are kept
    apart): every level is the reference's, the branch itself among the candidates where
    it stands on its level."""
    disamb = Disambiguator(organ.index)
    rng = organ.rng("organ-levels")
    kept = 0
    for chain, steps in organ.chains(30, rng):
        facts = _branch_facts(organ, chain)
        if not facts:
            continue
        more = organ.random_constraints(chain, rng)
        for cons in (*([f] for f in facts), facts, [*facts, *more]):
            want = organ.levels(chain, steps, cons)
            assert disamb.candidate_sets(chain, steps, cons) == want, (chain, steps, cons)
            kept += any(c.entity in want[c.node] for c in cons)
            for node in range(1, len(chain)):
                for cap in (None, 2):
                    got = disamb.pins(node, chain, steps, cons, cap=cap)
                    assert got == organ.pins(node, chain, steps, cons, cap), (node, cap, chain)
    assert kept


@pytest.mark.parametrize("named", [False, True])
def test_disambiguate_with_branch_descriptions_matches_the_reference(organ, named):
    """Descriptions that name a branch ("is a digestive abnormality"), alone (the
    fully-described pre-check) and with the graph's facts: the reference's greedy rule,
    whose sets read a branch fact plainly. (Before synthesis version 12 the search scored
    a fact with the closure alone: on seed 5 it added "is a neurological abnormality" to
    the level {HP:0000707, HP:0025031}, which that fact leaves whole.)"""
    disamb = Disambiguator(organ.index)
    described = _branch_described(organ)
    rng = organ.rng("organ-disambiguate")
    used = 0
    for chain, steps in organ.chains(25, rng):
        want = organ.disambiguate(chain, steps, 100, 4, 2, 4, lambda e: True, named, described)
        got = disamb.disambiguate(
            chain, steps, max_constraints=4, named=named, described=described
        )
        assert got == want, (named, chain, steps)
        used += any(c.entity in ORGANS.values() for c in got or ())
    assert used or organ.seed not in (0, 1)


def test_of_type_is_every_node_of_the_type_and_empty_for_a_type_the_graph_lacks(organ):
    disamb = Disambiguator(organ.index)
    for kind in ("phenotype", "disease", "gene", "inheritance"):
        assert disamb.of_type(kind) == {n for n in organ.nodes if organ.type[n] == kind}
    assert disamb.of_type("drug") == frozenset()

"""The pipeline's uniqueness search (`Disambiguator`) against the brute-force reader of
`tests.closure_ref`, on small random HPO-shaped graphs it was not written around.

Each graph has a phenotype DAG (``is_a``, transitive), diseases linked to phenotypes by
two relations (``has_phenotype`` and ``has_history``, both inherited up ``is_a``; one
disease has one phenotype both ways; ``has_history`` also reaches diseases), an
inheritance mode, genes, and names shared by two nodes (a name and a synonym), so that
the relation of a hop, the closure, the node types and name matching all decide the
candidate sets. One `Disambiguator` serves every query on a graph, so its memos are
tried with many chains and constraint sets. Checked against a second implementation:

- every level of `candidate_sets` (with and without a cap, from a prefix, from a start
  level), against `admitted` on each prefix of the chain;
- `pins` (does a node's own constraints pin the answer through the rest of the chain,
  with or without a cap), against `admitted` from that level;
- `disambiguate` (the greedy constraint search, from the graph's facts, from plain-worded
  descriptions, or both; bounded by ``max_constraints``, ``per_node``, ``tries``,
  ``usable`` and the cap), against the greedy rule written out here from the module's
  docstring with the reference sets.
"""

from __future__ import annotations

import random

import pytest

from medenv.kg.graph import KnowledgeGraph, Node
from medenv.kg.loaders.hpo import RELATIONS
from medenv.synth.index import GraphIndex
from medenv.synth.qa import Constraint, Hop, QAItem
from medenv.synth.uniqueness import Disambiguator
from tests.closure_ref import HPO_SEMANTICS, ORGAN_SYSTEMS, ClosedGraph, admitted

SEEDS = range(6)


def _graph(seed: int, rename: dict[str, str] | None = None) -> KnowledgeGraph:
    """The random graph of ``seed``; ``rename``: other ids for some of its phenotypes
    (the same shape and names)."""
    rng = random.Random(seed)
    kg = KnowledgeGraph("hpo", f"random-{seed}", RELATIONS)
    phen = [(rename or {}).get(f"HP:{i}", f"HP:{i}") for i in range(9)]
    for i, p in enumerate(phen):
        # HP:7 and HP:8 share a label: HP:8's synonym is HP:7's name
        syn = ("phen 7",) if i == 8 else ()
        kg.add_node(Node(p, "phenotype", f"phen {i}", syn))
    for i in range(1, len(phen)):
        for parent in rng.sample(phen[:i], min(i, rng.choice((1, 1, 2)))):
            kg.add_edge(phen[i], parent, "is_a")
    modes = ["HP:AR", "HP:AD"]
    for m in modes:
        kg.add_node(Node(m, "inheritance", m.lower()))
    dis = [f"OMIM:{i}" for i in range(7)]
    for i, d in enumerate(dis):
        kg.add_node(Node(d, "disease", "twin syndrome" if i in (5, 6) else f"syndrome {i}"))
    genes = [f"G:{i}" for i in range(5)]
    for i, g in enumerate(genes):
        kg.add_node(Node(g, "gene", f"gene {i}"))
    for d in dis:
        for p in rng.sample(phen, rng.randint(1, 3)):
            kg.add_edge(d, p, "has_phenotype")
        if rng.random() < 0.6:
            kg.add_edge(d, rng.choice(phen), "has_history")
        if rng.random() < 0.7:
            kg.add_edge(d, rng.choice(modes), "has_inheritance")
        for g in rng.sample(genes, rng.randint(1, 2)):
            kg.add_edge(d, g, "associated_gene")
    # one relation reaching two types (a disease in another's history: the node-type
    # filter decides), and two relations between one pair of nodes
    kg.add_edge(dis[0], dis[1], "has_history")
    kg.add_edge(dis[2], dis[3], "has_history")
    kg.add_edge(dis[4], "HP:7", "has_phenotype")
    kg.add_edge(dis[4], "HP:7", "has_history")
    return kg


class World:
    """One graph, its index, the pipeline's search and the reference reader."""

    def __init__(self, seed: int, rename: dict[str, str] | None = None) -> None:
        self.kg = _graph(seed, rename)
        self.seed = seed
        self.closed = ClosedGraph(self.kg.graph, HPO_SEMANTICS)
        self.by_name: dict[str, set[str]] = {}
        for node_id, node in self.kg.graph.nodes(data="node"):
            for label in (node.name, *node.synonyms):
                self.by_name.setdefault(label.casefold(), set()).add(node_id)
        self.index = GraphIndex(self.kg)
        self.nodes = sorted(self.kg.graph.nodes)
        self.type = {n: self.kg.node(n).type for n in self.nodes}
        # literal facts, both directions: (rel, inverse) -> neighbours
        self.facts: dict[str, list[tuple[str, bool, str]]] = {n: [] for n in self.nodes}
        for s, t, rel in self.kg.graph.edges(keys=True):
            self.facts[s].append((rel, False, t))
            self.facts[t].append((rel, True, s))

    def rng(self, purpose: str) -> random.Random:
        """A generator of its own for each test (the same draws whatever ran before)."""
        return random.Random(f"{self.seed}-{purpose}")

    def chains(
        self, n: int, rng: random.Random
    ) -> list[tuple[tuple[str, ...], tuple[tuple[str, bool], ...]]]:
        """``n`` random walks of 2 or 3 hops over distinct nodes."""
        out = []
        while len(out) < n:
            chain = [rng.choice(self.nodes)]
            steps = []
            for _ in range(rng.choice((2, 3))):
                options = [f for f in self.facts[chain[-1]] if f[2] not in chain]
                if not options:
                    break
                rel, inv, nxt = rng.choice(sorted(options))
                chain.append(nxt)
                steps.append((rel, inv))
            if len(steps) >= 2:
                out.append((tuple(chain), tuple(steps)))
        return out

    def item(self, chain, steps, constraints=()) -> QAItem:
        hops = [Hop(chain[i], r, chain[i + 1], inv) for i, (r, inv) in enumerate(steps)]
        return QAItem(
            id="q", question="?", answer=chain[-1], answer_id=chain[-1], chain=tuple(chain),
            hops=tuple(hops), n_hops=len(hops), constraints=tuple(constraints),
        )  # fmt: skip

    def random_constraints(self, chain, rng: random.Random) -> list[Constraint]:
        """0 to 3 facts on random chain nodes: mostly true literal facts of the node, some
        about any entity (true only under the closure, or false)."""
        out = []
        for _ in range(rng.randint(0, 3)):
            node = rng.randrange(len(chain))
            own = [f for f in self.facts[chain[node]] if f[2] not in chain]
            if own and rng.random() < 0.7:
                rel, inv, e = rng.choice(sorted(own))
            else:
                rel = rng.choice(("has_phenotype", "has_history", "is_a", "has_inheritance"))
                inv, e = rng.random() < 0.5, rng.choice(self.nodes)
            out.append(Constraint(node, rel, e, inv))
        return out

    # --- the reference -------------------------------------------------------------
    def levels(self, chain, steps, constraints) -> list[set[str]]:
        """``[S0 .. Sn]``: `admitted` on every prefix of the chain."""
        return [
            admitted(
                self.closed,
                self.by_name,
                self.item(chain[: k + 1], steps[:k], [c for c in constraints if c.node <= k]),
            )
            for k in range(len(chain))
        ]

    def satisfying(self, c: Constraint, pool) -> set[str]:
        """The members of ``pool`` that meet ``c`` (an ``is_a`` fact with an organ-system
        branch also admits the branch itself, as `admitted` reads it)."""
        names = self.by_name[self.kg.node(c.entity).name.casefold()]
        itself = c.relation == "is_a" and not c.inverse and c.entity in ORGAN_SYSTEMS

        def holds(u):
            if itself and u == c.entity:
                return True
            return any(
                self.closed.holds(e, c.relation, u) if c.inverse
                else self.closed.holds(u, c.relation, e)
                for e in names
            )  # fmt: skip

        return {u for u in pool if holds(u)}

    def pins(self, node, chain, steps, constraints, cap=None) -> bool:
        own = [c for c in constraints if c.node == node]
        if not own:
            return False
        start = {u for u in self.nodes if self.type[u] == self.type[chain[node]]}
        for c in own:
            start = self.satisfying(c, start)
        cons = [c for c in constraints if c.node >= node]
        item = self.item(chain, steps, cons)
        level = start
        for i in range(node, len(chain) - 1):  # the levels before the answer's
            if cap is not None and len(level) > cap:
                return False
            level = admitted(
                self.closed, self.by_name, self.item(chain[: i + 2], steps[: i + 1], cons),
                start_level=node, start=start,
            )  # fmt: skip
        return admitted(self.closed, self.by_name, item, start_level=node, start=start) == {
            chain[-1]
        }

    def choose(self, chain, steps, cons, i, members, usable, tries, named, described):
        """The greedy fact for node ``i`` whose level is ``members``: among the facts true
        of ``chain[i]`` that leave fewest members (ties: entity, relation, inverse), the
        first of at most ``tries`` usable ones that does not pin the answer on its own from
        node ``i >= 2``; None if there is none."""
        taken = {(c.entity, c.relation, c.inverse) for c in cons if c.node == i}
        pool = list(self.facts[chain[i]]) if named else []
        if described is not None:
            pool += [(c.relation, c.inverse, c.entity) for c in described(chain[i])]
        scored = []
        for rel, inv, e in pool:
            if e in chain or (e, rel, inv) in taken:
                continue
            left = len(self.satisfying(Constraint(-1, rel, e, inv), members))
            if left < len(members):
                scored.append((left, e, rel, inv))
        for _, e, rel, inv in [s for s in sorted(scored) if usable(s[1])][:tries]:
            c = Constraint(i, rel, e, inv)
            if i < 2 or not self.pins(i, chain, steps, [*cons, c]):
                return c
        return None

    def disambiguate(
        self, chain, steps, cap, max_constraints, per_node, tries, usable, named, described
    ):
        """The greedy rule of `medenv.synth.uniqueness`'s docstring, on reference sets."""
        answer, n = chain[-1], len(chain) - 1
        if not named and described is not None:
            full = [
                Constraint(i, c.relation, c.entity, c.inverse)
                for i in range(1, n + 1)
                for c in described(chain[i])
                if c.entity not in chain[: i + 1]
            ]
            if self.levels(chain, steps, full)[-1] != {answer}:
                return None
        cons: list[Constraint] = []
        while True:
            levels = self.levels(chain, steps, cons)
            seen = []  # the levels the capped search builds before the answer's
            for lv in levels[:n]:
                seen.append(lv)
                if len(lv) > cap:
                    break
            whole = len(seen) == n and len(seen[-1]) <= cap
            if whole and levels[n] == {answer}:
                return tuple(cons)
            if len(cons) >= max_constraints:
                return None
            for i in range(1, n + 1 if whole else len(seen)):
                members = levels[i]
                if len(members) <= 1 or sum(c.node == i for c in cons) >= per_node:
                    continue
                chosen = self.choose(
                    chain, steps, cons, i, members, usable, tries, named, described
                )
                if chosen is not None:
                    cons.append(chosen)
                    break
            else:
                return None


@pytest.fixture(scope="module", params=SEEDS)
def world(request) -> World:
    return World(request.param)


def test_the_random_graphs_use_the_closure_and_two_relations_between_two_types(world):
    props = world.kg.relation_properties()
    assert props["is_a"].transitive
    assert props["has_phenotype"].inherited_along == props["has_history"].inherited_along == "is_a"
    rels = {k for s, t, k in world.kg.graph.edges(keys=True) if world.type[t] == "phenotype"}
    assert {"has_phenotype", "has_history", "is_a"} <= rels


def test_candidate_sets_match_the_reference_on_every_level(world):
    disamb = Disambiguator(world.index)
    rng = world.rng("levels")
    sizes = set()
    for chain, steps in world.chains(12, rng):
        for _ in range(4):
            cons = world.random_constraints(chain, rng)
            want = world.levels(chain, steps, cons)
            sizes.add(len(want[-1]))
            assert disamb.candidate_sets(chain, steps, cons) == want, (chain, steps, cons)
            # again (from the memo), and from a prefix of the levels
            assert disamb.candidate_sets(chain, steps, cons) == want
            assert disamb.candidate_sets(chain, steps, cons, prefix=want[:2]) == want
            for cap in (0, 1, 2, 4):
                capped = []
                for lv in want:
                    capped.append(lv)
                    if len(lv) > cap:
                        break
                got = disamb.candidate_sets(chain, steps, cons, cap=cap)
                assert got == capped, (cap, chain, steps, cons)
            # a suffix query: from level 1, its candidates given
            start = set(want[1]) | {chain[1]}
            suffix = disamb.candidate_sets(chain, steps, cons, start=1, first=start)
            assert suffix[0] == start
            for k in range(2, len(chain)):
                item = world.item(chain[: k + 1], steps[:k], [c for c in cons if c.node <= k])
                ref = admitted(world.closed, world.by_name, item, start_level=1, start=start)
                assert suffix[k - 1] == ref, (k, chain, steps, cons)
    assert len(sizes) > 1  # the graphs give unique and ambiguous chains alike


def test_memoised_levels_tell_apart_queries_that_differ_in_one_nodes_facts(world):
    """The same chain asked with facts added to or dropped from one node (the seed's, the
    first hop's), directly and from a prefix, in an order that reuses the memo: each
    answer is the reference's."""
    disamb = Disambiguator(world.index)
    rng = world.rng("memo")
    for chain, steps in world.chains(10, rng):
        base = [c for c in world.random_constraints(chain, rng) if c.node >= 2]
        extra = []
        for node in (0, 1):
            own = sorted(f for f in world.facts[chain[node]] if f[2] not in chain)
            if own:
                rel, inv, e = rng.choice(own)
                extra.append(Constraint(node, rel, e, inv))
        variants = [base, *([*base, c] for c in extra), [*base, *extra]]
        for cons in variants + variants[::-1]:
            want = world.levels(chain, steps, cons)
            assert disamb.candidate_sets(chain, steps, cons) == want, (chain, steps, cons)
            got = disamb.candidate_sets(chain, steps, cons, prefix=want[:2])
            assert got == want, (chain, steps, cons)


def test_pins_matches_the_reference_with_and_without_a_cap(world):
    disamb = Disambiguator(world.index)
    rng = world.rng("pins")
    outcomes = set()
    for chain, steps in world.chains(12, rng):
        # random facts, and every literal fact of one node (which often pins the answer)
        variants = [world.random_constraints(chain, rng) for _ in range(3)]
        variants += [
            [Constraint(j, r, e, inv) for r, inv, e in world.facts[chain[j]] if e not in chain]
            for j in range(1, len(chain))
        ]
        for cons in variants:
            for node in range(len(chain)):
                for cap in (None, 1, 3):
                    want = world.pins(node, chain, steps, cons, cap)
                    outcomes.add(want)
                    got = disamb.pins(node, chain, steps, cons, cap=cap)
                    assert got == want, (node, cap, chain, steps, cons)
    assert outcomes == {True, False}


def _described(world: World):
    """Plain-worded facts of a node: its phenotypes' and history's ancestors under the
    closure (not literal edges), and its inheritance mode."""

    def described(node: str) -> list[Constraint]:
        out = []
        for rel, inv, e in world.facts[node]:
            if inv:
                continue
            if rel == "has_inheritance":
                out.append(Constraint(-1, rel, e, False))
            elif rel in ("has_phenotype", "has_history"):
                out += [Constraint(-1, rel, a, False) for a in sorted(world.closed.ancestors(e))]
        return out

    return described


@pytest.mark.parametrize(
    "mode", ["named", "described", "both", "nothing", "capped", "bounded", "unusable"]
)
def test_disambiguate_follows_the_greedy_rule_of_the_reference(world, mode):
    cap = {"capped": 1}.get(mode, 100)
    disamb = Disambiguator(world.index, cap=cap)
    named = mode not in ("described", "nothing")  # "nothing": no fact to add at all
    described = _described(world) if mode in ("described", "both") else None
    max_constraints, per_node, tries = (1, 1, 1) if mode == "bounded" else (4, 2, 4)
    banned = {n for n in world.nodes if n.endswith(("1", "AR"))}

    def usable(e):
        return mode != "unusable" or e not in banned

    rng = world.rng("disambiguate")  # the same chains in every mode
    results = []
    for chain, steps in world.chains(15, rng):
        args = (max_constraints, per_node, tries, usable, named, described)
        want = world.disambiguate(chain, steps, cap, *args)
        got = disamb.disambiguate(
            chain, steps, max_constraints=max_constraints, per_node=per_node, usable=usable,
            tries=tries, named=named, described=described,
        )  # fmt: skip
        assert got == want, (mode, chain, steps)
        if got is not None and cap >= len(world.nodes):
            assert world.levels(chain, steps, got)[-1] == {chain[-1]}
        results.append(want)
    assert None in results  # and, where facts can be added, both outcomes
    assert mode == "nothing" or any(r is not None for r in results)

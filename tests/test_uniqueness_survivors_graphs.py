"""The uniqueness search on hand-made graphs, each built for one case its mutation
survivors showed untested (`make mutate` uniqueness, `docs/mutation-testing.md`; the random-graph checks are `tests/test_uniqueness_survivors.py`): the defaults
of ``per_node``, ``tries`` and ``cap``, one-hop chains, ``start`` constraints with
descriptions, the memo of levels under two relations from one node, a hop whose relation
reaches two types, the shortcut check's 2,000-candidate cap, `narrow` adding a fact another
node already states, and the descriptions' pre-check asked of chains that differ only in
their last hop. Each expectation is
read off the graph and, where a level is asked, checked with the brute-force reader of
`tests.closure_ref`.
"""

from __future__ import annotations

from medenv.kg.graph import KnowledgeGraph, Node
from medenv.kg.loaders.hpo import RELATIONS
from medenv.synth.index import GraphIndex
from medenv.synth.qa import Constraint
from medenv.synth.uniqueness import Disambiguator
from tests.closure_ref import HPO_SEMANTICS, ClosedGraph, admitted
from tests.test_uniqueness_random import World


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


def test_narrow_adds_a_fact_another_node_already_states():
    """"In the history of OMIM:9" is stated of the answer and also holds of the middle
    disease, where it leaves one of the five diseases of gene G:0: `narrow` adds it there
    too (only the facts already on the node it narrows are left out, and those narrow
    nothing)."""
    kg = KnowledgeGraph("hpo", "reuse", RELATIONS)
    kg.add_node(Node("G:0", "gene", "gene zero"))
    for n, kind, name in (
        ("OMIM:9", "disease", "old syndrome"),
        ("HP:7", "phenotype", "sign seven"),
        ("HP:8", "phenotype", "sign eight"),
    ):
        kg.add_node(Node(n, kind, name))
    for i in range(5):
        kg.add_node(Node(f"OMIM:{i}", "disease", f"syndrome {i}"))
        kg.add_edge(f"OMIM:{i}", "G:0", "associated_gene")
    kg.add_edge("OMIM:0", "HP:7", "has_history")
    kg.add_edge("OMIM:9", "HP:7", "has_history")
    kg.add_edge("OMIM:9", "OMIM:0", "has_history")
    for d in ("OMIM:0", "OMIM:1"):  # a second fact of OMIM:0, that leaves two
        kg.add_edge(d, "HP:8", "has_phenotype")
    chain = ("G:0", "OMIM:0", "HP:7")
    steps = (("associated_gene", True), ("has_history", False))
    start = (Constraint(2, "has_history", "OMIM:9", True),)
    closed = ClosedGraph(kg.graph, HPO_SEMANTICS)
    by_name = {kg.node(n).name: {n} for n in kg.graph.nodes}
    item = World(0).item  # only its `item` helper
    assert admitted(closed, by_name, item(chain, steps, start)) == {"HP:7"}  # unique
    got = Disambiguator(GraphIndex(kg)).narrow(chain, steps, start, limit=1, max_constraints=4)
    assert got == (*start, Constraint(1, "has_history", "OMIM:9", True))
    assert admitted(closed, by_name, item(chain[:2], steps[:1], got[1:])) == {"OMIM:0"}


def test_the_described_pre_check_tells_apart_chains_that_differ_in_their_last_hop():
    """Descriptions only: one `Disambiguator` asked, in turn, chains that share their
    prefix and differ only in the answer, only in the last hop's relation (two hops), and
    only in the last hop's relation after a middle hop (three hops). The ambiguous one of
    each pair is asked first; the other still gets its constraint (its own pre-check, not
    the first one's), and the brute-force reader admits only its answer with it."""
    kg = KnowledgeGraph("hpo", "last-hop", RELATIONS)
    kg.add_node(Node("G:0", "gene", "gene zero"))
    for d in ("OMIM:0", "OMIM:1", "OMIM:9"):
        kg.add_node(Node(d, "disease", f"syndrome {d[5:]}"))
    for p in ("HP:P", "HP:a", "HP:b", "HP:x"):
        kg.add_node(Node(p, "phenotype", f"sign {p[3:]}"))
    for p in ("HP:a", "HP:x"):
        kg.add_edge(p, "HP:P", "is_a")
    for d in ("OMIM:0", "OMIM:1"):
        kg.add_edge(d, "G:0", "associated_gene")
        kg.add_edge(d, "HP:b", "has_phenotype")
    for s, t, rel in (
        ("OMIM:0", "HP:a", "has_phenotype"),
        ("OMIM:0", "HP:a", "has_history"),
        ("OMIM:1", "HP:x", "has_history"),
        ("OMIM:0", "OMIM:9", "has_history"),
        ("OMIM:9", "HP:a", "has_history"),
        ("OMIM:9", "HP:x", "has_history"),
        ("OMIM:9", "HP:a", "has_phenotype"),
    ):
        kg.add_edge(s, t, rel)
    facts = {"HP:a": [Constraint(-1, "is_a", "HP:P", False)]}  # "a kind of sign P"

    def described(node):
        return facts.get(node, [])

    disamb = Disambiguator(GraphIndex(kg))
    closed = ClosedGraph(kg.graph, HPO_SEMANTICS)
    by_name = {kg.node(n).name: {n} for n in kg.graph.nodes}
    item = World(0).item  # only its `item` helper
    gene, phen, hist = ("associated_gene", True), ("has_phenotype", False), ("has_history", False)
    via_9 = ("G:0", "OMIM:0", "OMIM:9", "HP:a")
    asked = [  # (chain, steps, the node of the one constraint found, or None: ambiguous)
        (("G:0", "OMIM:0", "HP:b"), (gene, phen), None),
        (("G:0", "OMIM:0", "HP:a"), (gene, hist), None),
        (("G:0", "OMIM:0", "HP:a"), (gene, phen), 2),
        (via_9, (gene, hist, hist), None),
        (via_9, (gene, hist, phen), 3),
    ]
    for chain, steps, node in asked:
        got = disamb.disambiguate(chain, steps, max_constraints=2, named=False, described=described)
        if node is None:
            assert got is None, (chain, steps)
            continue
        assert got == (Constraint(node, "is_a", "HP:P", False),), (chain, steps)
        assert admitted(closed, by_name, item(chain, steps, got)) == {"HP:a"}
        assert admitted(closed, by_name, item(chain, steps)) != {"HP:a"}

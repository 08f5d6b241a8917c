"""`resolve_chain`: the public, independent reading of a question as a path query.

The semantics are `medenv.synth.uniqueness`'s (the question read over the ontology
closure of `medenv.kg.semantics`; a described seed starts from every node of its type
with those facts). This reader uses only the public `KnowledgeGraph` API, so it checks
the pipeline's fast `Disambiguator` from outside; ``closure=False`` reads the literal
graph, a second, weaker check the tests keep too.
"""

from __future__ import annotations

from collections.abc import Sequence

from medenv.kg.graph import KnowledgeGraph
from medenv.kg.semantics import Closure
from medenv.synth.describe import admits_itself
from medenv.synth.qa import Constraint, Hop, QAItem


def _named(kg: KnowledgeGraph, node_id: str) -> list[str]:
    return [n.id for n in kg.find(kg.node(node_id).name)] or [node_id]


def _satisfies(kg: KnowledgeGraph, constraint: Constraint, closure: Closure | None) -> set[str]:
    """Nodes that have the constraint's fact with any node its entity's name names (and
    the entity itself when `medenv.synth.describe.admits_itself`)."""
    out: set[str] = {constraint.entity} if admits_itself(constraint) else set()
    for e in _named(kg, constraint.entity):
        if closure is not None:
            out.update(closure.related(e, constraint.relation, not constraint.inverse))
        elif constraint.inverse:  # entity -[relation]-> u
            out.update(kg.successors(e, constraint.relation))
        else:  # u -[relation]-> entity
            out.update(kg.predecessors(e, constraint.relation))
    return out


def resolve_chain(
    kg: KnowledgeGraph,
    item: QAItem | None = None,
    *,
    chain: Sequence[str] | None = None,
    hops: Sequence[Hop] | None = None,
    constraints: Sequence[Constraint] = (),
    closure: bool = True,
) -> set[str]:
    """The answers the question's statements admit in ``kg`` (see module docstring):
    under the ontology closure, or over the asserted edges only when ``closure`` is False.

    Pass a `QAItem`, or ``chain``/``hops``/``constraints`` directly.
    """
    cl = kg.closure() if closure else None
    if item is not None:
        chain, hops, constraints = item.chain, item.hops, item.constraints
    if not chain or hops is None or len(hops) != len(chain) - 1:
        raise ValueError("resolve_chain needs a chain of n+1 ids and n hops")
    by_node: dict[int, list[Constraint]] = {}
    for c in constraints:
        by_node.setdefault(c.node, []).append(c)

    def keep(nodes: set[str], i: int) -> set[str]:
        kind = kg.node(chain[i]).type
        nodes = {u for u in nodes if kg.node(u).type == kind}
        for c in by_node.get(i, ()):
            nodes &= _satisfies(kg, c, cl)
        return nodes

    if by_node.get(0):  # a described seed: every node of its type with the stated facts
        kind0 = kg.node(chain[0]).type
        current = keep({n.id for n in kg.nodes(kind0)}, 0)
    else:
        current = keep(set(_named(kg, chain[0])), 0)
    for i, hop in enumerate(hops):
        nxt: set[str] = set()
        for v in current:
            if cl is not None:
                nxt.update(cl.related(v, hop.relation, hop.inverse))
            elif hop.inverse:
                nxt.update(kg.predecessors(v, hop.relation))
            else:
                nxt.update(kg.successors(v, hop.relation))
        current = keep(nxt, i + 1)
    return current

"""`type_reach`: which node type one closure step from a type always reaches.

`medenv.synth.uniqueness.Disambiguator` uses it to skip the type filter of a query level
when every node a step can reach under the closure has the wanted type.
"""

from __future__ import annotations

from medenv.kg.semantics import Closure
from medenv.synth.index import GraphIndex


def type_reach(index: GraphIndex, closure: Closure) -> dict[tuple[str, str, bool], str]:
    """``(source type, relation, inverse) -> the one type`` that a step from a node of
    that type always reaches under ``closure`` (keys whose closure reaches several types
    are left out): a level of a query need not be filtered by type after such a step."""
    reach = index.type_reach()  # numpy over the edge arrays (no per-node groups made)

    def grow(kinds: set[str], rel: str, inv: bool) -> set[str]:
        todo = list(kinds)
        while todo:
            for k in reach.get((todo.pop(), rel, inv), ()):
                if k not in kinds:
                    kinds.add(k)
                    todo.append(k)
        return kinds

    closed: dict[tuple[str, str, bool], set[str]] = {}
    for (kind, rel, inv), kinds in reach.items():
        props = closure.properties.get(rel)
        kinds = set(kinds)
        if props is not None and props.symmetric:
            kinds |= reach.get((kind, rel, not inv), set())
        if props is not None and (props.transitive or props.symmetric):
            kinds = grow(kinds, rel, inv) | grow(set(kinds), rel, not inv)
        if props is not None and props.inherited_along is not None:
            h = props.inherited_along
            if inv:  # holders of descendants: descend on the target side first
                kinds = {k2 for k in grow({kind}, h, True) for k2 in reach.get((k, rel, True), ())}
            else:
                kinds = grow(kinds, h, False)
        closed[(kind, rel, inv)] = kinds
    return {k: next(iter(v)) for k, v in closed.items() if len(v) == 1}

"""Where the facts of a graph come from, and how chains cross from one source to another.

Definitions (the same for `chain_crossings`, the alignment report and `medenv synth
--min-crossings`):

- the *sources of a node* are those that have it (several for an aligned node of a
  `medenv.kg.merge.MergedGraph`; one for any node of a single-source graph);
- the *sources of an edge* are those that state it;
- a chain ``x0 -h1- x1 -h2- ... -hn- xn`` *crosses a source boundary* at ``xj``
  (``0 < j < n``) when no source states both ``hj`` and ``h(j+1)``, i.e. their source sets
  are disjoint. `chain_crossings` counts those ``j``;
- the report's *cross-source 2-hop paths* are the chains of two hops ``u -e1- v -e2- w``
  (``u != w``, ``e1 != e2``, any directions) that cross at ``v``, each counted once
  (unordered). Only an aligned node can be such a ``v``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from medenv.kg.graph import KnowledgeGraph

TOP_RELATION_PAIRS = 10
CONFLICT_EXAMPLES = 5


def node_sources(kg: KnowledgeGraph, node_id: str) -> tuple[str, ...]:
    """The sources that have ``node_id``."""
    fn = getattr(kg, "node_sources", None)
    return fn(node_id) if fn is not None else (kg.source,)


def edge_sources(kg: KnowledgeGraph, source: str, target: str, relation: str) -> tuple[str, ...]:
    """The sources that state ``source -[relation]-> target``."""
    fn = getattr(kg, "edge_sources", None)
    return fn(source, target, relation) if fn is not None else (kg.source,)


def hop_sources(kg: KnowledgeGraph, head: str, tail: str, relation: str, inverse: bool):
    """The sources of the edge a hop walks (``tail -> head`` when ``inverse``)."""
    return (
        edge_sources(kg, tail, head, relation)
        if inverse
        else edge_sources(kg, head, tail, relation)
    )


def chain_crossings(
    kg: KnowledgeGraph, chain: Sequence[str], steps: Sequence[tuple[str, bool]]
) -> int:
    """How many times the chain crosses a source boundary (module docstring)."""
    if not hasattr(kg, "edge_sources") or len(steps) < 2:
        return 0
    hops = [
        set(hop_sources(kg, chain[i], chain[i + 1], rel, inv)) for i, (rel, inv) in enumerate(steps)
    ]
    return sum(1 for a, b in zip(hops, hops[1:], strict=False) if a.isdisjoint(b))


def _incident(kg, v: str) -> list[tuple[str, str, frozenset[str]]]:
    """``(other end, relation, sources)`` of every edge touching ``v``."""
    out = []
    for s, t, key in kg.graph.out_edges(v, keys=True):
        out.append((t, key, frozenset(kg.edge_sources(s, t, key))))
    for s, t, key in kg.graph.in_edges(v, keys=True):
        out.append((s, key, frozenset(kg.edge_sources(s, t, key))))
    return out


def crossings_at(kg, v: str) -> Counter:
    """Cross-source 2-hop paths through ``v``, by unordered relation pair
    (``"rel1 + rel2"``, names sorted)."""
    edges = _incident(kg, v)
    by_class = Counter((rel, srcs) for _, rel, srcs in edges)
    by_end: dict[str, Counter] = {}
    for u, rel, srcs in edges:
        by_end.setdefault(u, Counter())[(rel, srcs)] += 1
    pairs: Counter = Counter()

    def add(counts: Counter, sign: int) -> None:
        keys = sorted(counts, key=lambda k: (k[0], sorted(k[1])))
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if a[1].isdisjoint(b[1]):
                    pair = " + ".join(sorted((a[0], b[0])))
                    pairs[pair] += sign * counts[a] * counts[b]

    add(by_class, 1)
    for counts in by_end.values():
        if len(counts) > 1:
            add(counts, -1)  # two edges to the same neighbour are not a path
    return +pairs


def alignment_report(kg) -> dict:
    """The alignment report of a `MergedGraph`: aligned nodes per type and method,
    conflicts, ambiguous identifiers, and how many 2-hop paths cross a source boundary."""
    alignment = kg.alignment
    aligned: dict[str, Counter] = {}
    for canonical, method in kg.methods.items():
        aligned.setdefault(kg.node(canonical).type, Counter())[method] += 1
    pairs: Counter = Counter()
    mixed = 0
    for v in kg.members:
        srcs = set()
        for _, _, s in _incident(kg, v):
            srcs |= s
        mixed += len(srcs) > 1
        pairs.update(crossings_at(kg, v))
    conflicts = alignment.conflicts if alignment is not None else []
    return {
        "aligned_nodes": len(kg.members),
        "merged_away": sum(len(m) - 1 for m in kg.members.values()),
        "aligned": {t: dict(sorted(c.items())) for t, c in sorted(aligned.items())},
        "conflicts": len(conflicts),
        "conflicts_by_reason": dict(sorted(Counter(c.reason for c in conflicts).items())),
        "conflict_examples": [
            {"key": c.key, "nodes": list(c.nodes), "types": list(c.types), "reason": c.reason}
            for c in conflicts[:CONFLICT_EXAMPLES]
        ],
        "ambiguous_ids": alignment.ambiguous if alignment is not None else 0,
        "nodes_with_edges_from_several_sources": mixed,
        "cross_source_2hop_paths": sum(pairs.values()),
        "cross_source_2hop_paths_by_relations": dict(
            sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_RELATION_PAIRS]
        ),
    }

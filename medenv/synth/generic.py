"""Generic nodes: ontology roots and near-roots, which a question never uses.

A node that heads a hierarchy says almost nothing: "Which phenotypic feature is a broader
category of a clinical finding of disease X?" answered by "Phenotypic abnormality" (HPO's
phenotype root) is true of nearly every feature. The rule, for any graph (HPO, an older
HPO release, a user's ontology; a graph without a hierarchy, such as the Hetionet slice,
has no generic node):

- a *hierarchy* relation is one the graph declares ``transitive``
  (`medenv.kg.semantics.RelationProperties`; HPO's ``is_a``);
- node ``v`` is **generic** when its descendants in a hierarchy relation (one or more
  steps down) that have ``v``'s type are more than `GENERIC_SHARE` (half) of the graph's
  nodes of that type. On HPO 2025-01-16: "Phenotypic abnormality" (99.5% of the
  phenotypes), "Clinical modifier", "Clinical course", "Mode of inheritance",
  "Inheritance qualifier", "Past medical history", "Frequency"; with HPO's "All"
  (HP:0000001) in a graph, that too.

A root is not generic as such: the root of a small hierarchy ("Blood group", or the parent
of two terms in a hand-made graph) is a specific answer.

Synthesis never puts a generic node in a chain (seed, intermediate or answer:
`medenv.synth.seedwork`) nor names one in a constraint ("is a kind of "Phenotypic
abnormality"" narrows nothing). HPO's organ-system branches are not generic (the largest,
"Abnormality of the musculoskeletal system", subsumes 25% of the phenotypes).
"""

from __future__ import annotations

from collections import Counter

from medenv.synth.index import GraphIndex

GENERIC_SHARE = 0.5


def generic_nodes(index: GraphIndex, share: float = GENERIC_SHARE) -> frozenset[str]:
    """The generic nodes of ``index``'s graph (see module docstring)."""
    props = index.kg.relation_properties()
    hierarchy = sorted(r for r, p in props.items() if p.transitive)
    if not hierarchy:
        return frozenset()
    of_type = Counter(index.type.values())
    out: set[str] = set()
    for rel in hierarchy:
        for node in index.ids:
            if node in out or not index.step(node, rel, True):  # a leaf
                continue
            kind = index.type[node]
            if _descendants(index, node, rel, kind) > share * of_type[kind]:
                out.add(node)
    return frozenset(out)


def _descendants(index: GraphIndex, node: str, rel: str, kind: str) -> int:
    """How many nodes of type ``kind`` lie below ``node`` by one or more ``rel`` edges."""
    seen: set[str] = set()
    stack = [node]
    while stack:
        for child in index.step(stack.pop(), rel, True):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    seen.discard(node)
    return sum(1 for n in seen if index.type[n] == kind)

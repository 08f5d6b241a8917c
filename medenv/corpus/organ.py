"""The organ systems a medical page states: HPO's top-level branches above an entity.

Obfuscated questions (`medenv.synth.describe`) describe a phenotype by its organ system
("is a neurological abnormality": the phenotype lies under the branch "Abnormality of the
nervous system" of ``HP:0000118``) and a disease by the organ systems of its features
("has cardiovascular features"). Such a branch is an ``is_a`` ancestor several levels up,
which no annotation lists, so the medical page of every phenotype and disease states it in
lines (`OrganSystems.lines`), in the branch's name and the description's own word:

    Organ system (HPO top-level branch): Abnormality of the nervous system (neurological).

so the tools (``browse``, ``medical_search``) show each description's fact. The branches
are read under the ontology closure (`medenv.kg.semantics`): a phenotype's ``is_a``
ancestors, a disease's ``has_phenotype`` targets with their ancestors (the true-path rule),
exactly the facts the describer states. Graphs without HPO's phenotype root get no line.
"""

from __future__ import annotations

from medenv.kg.graph import KnowledgeGraph
from medenv.synth.describe import BRANCH_WORDS

PHENOTYPE_ROOT = "HP:0000118"
PER_LINE = 6  # branches per line: a line stays under the 500-character passage size
LEAD = {
    "phenotype": "Organ system (HPO top-level branch)",
    "disease": "Organ systems of its features (HPO top-level branches)",
}


def _strip(node_id: str) -> str:
    return node_id[node_id.find("HP:") :] if "HP:" in node_id else node_id


class OrganSystems:
    """Top-level HPO branches above phenotypes and diseases of one graph (memoised closure)."""

    def __init__(self, kg: KnowledgeGraph) -> None:
        self.kg = kg
        roots = [PHENOTYPE_ROOT, *(f"{ns}:{PHENOTYPE_ROOT}" for ns in kg.source.split("+"))]
        root = next((r for r in roots if r in kg), None)
        self.branches: frozenset[str] = frozenset(
            b
            for b in (kg.predecessors(root, "is_a") if root is not None else ())
            if _strip(b) in BRANCH_WORDS
        )
        self._closure = kg.closure() if self.branches else None

    def of(self, entity: str) -> list[str]:
        """The branch ids above ``entity`` (a phenotype: its ``is_a`` ancestors, itself
        excluded; a disease: its features' branches), sorted by id; [] for other types."""
        if self._closure is None:
            return []
        kind = self.kg.node(entity).type
        if kind == "phenotype":
            up = self._closure.related(entity, "is_a")
        elif kind == "disease" and "has_phenotype" in self.kg.relations:
            up = self._closure.related(entity, "has_phenotype")
        else:
            return []
        return sorted(self.branches & up - {entity})

    def lines(self, entity: str) -> list[str]:
        """The page lines stating ``entity``'s organ systems (module docstring), at most
        `PER_LINE` per line so that each line stays one passage of ``browse``."""
        found = self.of(entity)
        parts = [f"{self.kg.node(b).name} ({BRANCH_WORDS[_strip(b)]})" for b in found]
        lead = LEAD.get(self.kg.node(entity).type, "")
        return [
            f"{lead}: {'; '.join(parts[i : i + PER_LINE])}." for i in range(0, len(parts), PER_LINE)
        ]


def organ_systems(adj) -> OrganSystems:
    """The `OrganSystems` of an `medenv.corpus.facts.Adjacency`'s graph, built once per
    adjacency."""
    found = getattr(adj, "_organ", None)
    if found is None:
        found = adj._organ = OrganSystems(adj.kg)
    return found

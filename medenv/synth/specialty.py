"""Clinical specialty of an entity, from HPO's organ-system branches.

The 23 children of ``HP:0000118`` (Phenotypic abnormality) are mapped onto 12 clinical
specialties (`BRANCH_SPECIALTY`). Two branches have no specialty of their own
(``HP:0001197`` prenatal development or birth, ``HP:0025142`` constitutional symptom) and
do not vote.

- phenotype: the specialty most of its top-level branches map to (ties: `SPECIALTIES`
  order); a phenotype only under non-voting branches takes its diseases' specialty;
- disease: the majority specialty of its phenotypes;
- gene: the majority over the phenotypes of all its diseases;
- anything else (inheritance, clinical course, ...): none.

An item's specialty is the majority over its chain entities (ties: the answer's, then
`SPECIALTIES` order); ``general`` only when no chain entity has one. A chain that ends in a
drug (`DRUG_TYPES`: a Hetionet compound or pharmacologic class, an edge list's ``drug``) is
``pharmacology``, whatever its entities vote.

On a merged graph the HPO branches carry their source namespace (``hpo:HP:0000118``);
the map finds them under any of the graph's namespaces (`SpecialtyMap.has_branches`).

A graph without the HPO branches (an edge list, Hetionet) takes its entities' specialties
from their names and ancestors (`medenv.synth.specialty_names`); a user mapping file
(``mapping``) decides for the nodes it names, on any graph.
"""

from __future__ import annotations

from collections import Counter

from medenv.synth.index import GraphIndex
from medenv.synth.specialty_names import NameSpecialty

SPECIALTIES = (
    "neurology",
    "ophthalmology",
    "otolaryngology",
    "cardiology",
    "pulmonology",
    "gastroenterology",
    "nephrology",
    "endocrinology",
    "hematology-oncology",
    "immunology",
    "dermatology",
    "musculoskeletal",
    "pharmacology",
)
DRUG_TYPES = frozenset({"compound", "pharmacologic_class", "drug"})
PHENOTYPE_ROOT = "HP:0000118"
BRANCH_SPECIALTY = {
    "HP:0000707": "neurology",  # Abnormality of the nervous system
    "HP:0000478": "ophthalmology",  # Abnormality of the eye
    "HP:0000598": "otolaryngology",  # Abnormality of the ear
    "HP:0001608": "otolaryngology",  # Abnormality of the voice
    "HP:0000152": "otolaryngology",  # Abnormality of head or neck
    "HP:0001626": "cardiology",  # Abnormality of the cardiovascular system
    "HP:0002086": "pulmonology",  # Abnormality of the respiratory system
    "HP:0045027": "pulmonology",  # Abnormality of the thoracic cavity
    "HP:0025031": "gastroenterology",  # Abnormality of the digestive system
    "HP:0000119": "nephrology",  # Abnormality of the genitourinary system
    "HP:0000818": "endocrinology",  # Abnormality of the endocrine system
    "HP:0001939": "endocrinology",  # Abnormality of metabolism/homeostasis
    "HP:0001507": "endocrinology",  # Growth abnormality
    "HP:0001871": "hematology-oncology",  # Abnormality of blood and blood-forming tissues
    "HP:0002664": "hematology-oncology",  # Neoplasm
    "HP:0025354": "hematology-oncology",  # Abnormal cellular phenotype
    "HP:0000769": "hematology-oncology",  # Abnormality of the breast
    "HP:0002715": "immunology",  # Abnormality of the immune system
    "HP:0001574": "dermatology",  # Abnormality of the integument
    "HP:0033127": "musculoskeletal",  # Abnormality of the musculoskeletal system
    "HP:0040064": "musculoskeletal",  # Abnormality of limbs
}
_ORDER = {s: i for i, s in enumerate(SPECIALTIES)}


def _majority(votes: Counter, prefer: str | None = None) -> str | None:
    if not votes:
        return None
    top = max(votes.values())
    best = [s for s, c in votes.items() if c == top]
    if prefer in best:
        return prefer
    return min(best, key=_ORDER.__getitem__)


class SpecialtyMap:
    """Specialty of every entity of an HPO-shaped graph, computed lazily and cached."""

    def __init__(self, index: GraphIndex, mapping: dict[str, str] | None = None) -> None:
        self.index = index
        self.names = NameSpecialty(index, mapping, _majority)  # other graphs; user mapping
        namespaces = ("", *(f"{ns}:" for ns in index.kg.source.split("+")))
        prefix = next((p for p in namespaces if p + PHENOTYPE_ROOT in index.type), None)
        self.has_branches = prefix is not None  # HPO's organ-system branches are present
        self.root = (prefix or "") + PHENOTYPE_ROOT
        self.branch = {(prefix or "") + b: s for b, s in BRANCH_SPECIALTY.items()}
        self._branches: dict[str, frozenset[str]] = {}
        self._votes: dict[str, Counter] = {}
        self._cache: dict[str, str | None] = {}

    def branches(self, phenotype: str) -> frozenset[str]:
        """The top-level branches (children of HP:0000118) above ``phenotype``."""
        done = self._branches.get(phenotype)
        if done is not None:
            return done
        parents = self.index.step(phenotype, "is_a", False)
        if phenotype in self.branch or self.root in parents:
            done = frozenset({phenotype})
        else:  # is_a is a shallow DAG (depth < 30): plain memoised recursion
            done = frozenset().union(*(self.branches(p) for p in parents))
        self._branches[phenotype] = done
        return done

    def _phenotype_votes(self, phenotype: str) -> Counter:
        return Counter(self.branch[b] for b in self.branches(phenotype) if b in self.branch)

    def _disease_votes(self, disease: str) -> Counter:
        cached = self._votes.get(disease)
        if cached is None:
            cached = Counter()
            for p in self.index.step(disease, "has_phenotype", False):
                s = _majority(self._phenotype_votes(p))
                if s is not None:
                    cached[s] += 1
            self._votes[disease] = cached
        return cached

    def of(self, node: str) -> str | None:
        """The specialty of ``node`` (None for types without one)."""
        if node in self._cache:
            return self._cache[node]
        kind = self.index.type.get(node)
        result: str | None = self.names.mapped(node)
        if result is not None:
            pass
        elif not self.has_branches:
            result = self.names.of(node)
        elif kind == "phenotype":
            result = _majority(self._phenotype_votes(node))
            if result is None:
                votes = Counter()
                for d in self.index.step(node, "has_phenotype", True):
                    votes.update(self._disease_votes(d))
                result = _majority(votes)
        elif kind == "disease":
            result = _majority(self._disease_votes(node))
        elif kind == "gene":
            votes = Counter()
            for d in self.index.step(node, "associated_gene", True):
                votes.update(self._disease_votes(d))
            result = _majority(votes)
        self._cache[node] = result
        return result

    def of_chain(self, chain: tuple[str, ...]) -> str:
        """Majority specialty over the chain (ties: the answer's); ``general`` if none;
        ``pharmacology`` when the chain ends in a drug."""
        if self.index.type.get(chain[-1]) in DRUG_TYPES:
            return "pharmacology"
        votes = Counter(s for s in (self.of(n) for n in chain) if s is not None)
        return _majority(votes, prefer=self.of(chain[-1])) or "general"

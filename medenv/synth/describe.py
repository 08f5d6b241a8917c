"""Descriptions: facts about a chain entity that read in plain words, naming no entity.

Obfuscation (`SynthConfig.obfuscation`, the paper's fuzzing) replaces named constraint
entities ('and presents with the clinical feature "Hypoplastic nasal bone"') by
*descriptions*: verified properties from the graph, worded in common clinical vocabulary
rather than by a catalogue name:

- a phenotype's organ system: ``u -is_a->+ B`` for an HPO organ-system branch ``B``
  ("is a neurological abnormality");
- a disease's organ systems: ``u -has_phenotype-> B`` under the true-path rule, i.e. some
  feature of ``u`` lies under ``B`` ("has cardiovascular features");
- a disease's mode of inheritance and clinical course, from HPO's small controlled
  vocabularies ("follows autosomal recessive inheritance", "has childhood onset", "has a
  progressive course").

A description is an ordinary `Constraint` whose entity is *describable* (`plain`), so the
uniqueness, effective-hop and shortcut checks verify it under the ontology closure exactly
as they verify a named fact; only its wording differs (`plain` gives the words).
Deterministic: facts come sorted by entity id.
"""

from __future__ import annotations

from collections.abc import Iterator

from medenv.english import article
from medenv.synth.index import GraphIndex
from medenv.synth.qa import Constraint
from medenv.synth.specialty import SpecialtyMap

BRANCH_WORDS = {  # HPO organ-system branch (child of HP:0000118) -> adjective
    "HP:0000707": "neurological",
    "HP:0000478": "ocular",
    "HP:0000598": "ear",
    "HP:0001608": "voice",
    "HP:0000152": "head and neck",
    "HP:0001626": "cardiovascular",
    "HP:0002086": "respiratory",
    "HP:0045027": "thoracic",
    "HP:0025031": "digestive",
    "HP:0000119": "genitourinary",
    "HP:0000818": "endocrine",
    "HP:0001939": "metabolic",
    "HP:0001507": "growth",
    "HP:0001871": "haematological",
    "HP:0002664": "neoplastic",
    "HP:0025354": "cellular",
    "HP:0000769": "breast",
    "HP:0002715": "immunological",
    "HP:0001574": "skin",
    "HP:0033127": "musculoskeletal",
    "HP:0040064": "limb",
    "HP:0001197": "prenatal or birth",
    "HP:0025142": "constitutional",
}
COURSE_WORDS = frozenset(
    {
        "progressive",
        "slowly progressive",
        "rapidly progressive",
        "nonprogressive",
        "acute",
        "chronic",
        "subacute",
        "transient",
        "episodic",
        "recurrent",
        "fluctuating",
        "stable",
        "periodic",
        "prolonged",
        "migratory",
    }
)


def _strip(node_id: str) -> str:
    """The HPO id of a (possibly namespaced, ``hpo:HP:...``) node id."""
    return node_id[node_id.find("HP:") :] if "HP:" in node_id else node_id


def admits_itself(c: Constraint) -> bool:
    """Whether the nodes that meet ``c`` include its entity itself: an ``is_a`` fact with an
    organ-system branch root ("is a digestive abnormality", or "a kind of" the branch
    named). Under the closure ``is_a`` never holds from a term to itself, but a plain reader
    takes "Abnormality of the digestive system" to be a digestive abnormality, so
    uniqueness counts the root among the candidates: a question must have one answer under
    both readings."""
    return c.relation == "is_a" and not c.inverse and _strip(c.entity) in BRANCH_WORDS


def plain(index: GraphIndex, c: Constraint) -> str | None:
    """The plain words of constraint ``c`` read of its chain entity ("is a neurological
    abnormality"), or None when ``c``'s entity is not describable (it is named)."""
    if c.inverse:
        return None
    node = index.node[c.entity]
    kind, name = node.type, node.name.strip()
    low = _sentence_case(name)
    if c.relation == "is_a" and kind == "phenotype":
        words = BRANCH_WORDS.get(_strip(c.entity))
        return None if words is None else f"is {article(words)} {words} abnormality"
    if c.relation == "has_phenotype" and kind == "phenotype":
        words = BRANCH_WORDS.get(_strip(c.entity))
        return None if words is None else f"has {words} features"
    if c.relation == "has_inheritance" and kind == "inheritance":
        if low.endswith(" inheritance"):
            return f"follows {low}"
        if low.startswith("typified by "):
            return f"is {low}"
        return None
    if c.relation == "has_clinical_course" and kind == "clinical_course":
        if low.endswith(" onset") and low != "onset":
            return f"has {low}"
        if low.casefold() in COURSE_WORDS:
            return f"has {article(low)} {low} course"
        if low.startswith("death in "):
            return f"often leads to {low}"
        return None
    return None


def _sentence_case(name: str) -> str:
    """``name`` with its first letter in lower case when its first word is an ordinary
    capitalised word ("Autosomal recessive inheritance" -> "autosomal ..."); a first word
    such as "X-linked", "Y-linked" or an acronym keeps its case."""
    if len(name) > 1 and name[0].isupper() and name[1].islower():
        return name[0].lower() + name[1:]
    return name


class Describer:
    """Candidate descriptions (`Constraint` with ``node=-1``) of entities of one graph."""

    def __init__(self, index: GraphIndex, specialty: SpecialtyMap) -> None:
        self.index = index
        self.specialty = specialty
        self._cache: dict[str, tuple[Constraint, ...]] = {}

    def facts(self, node: str) -> tuple[Constraint, ...]:
        """The describable facts true of ``node`` under the closure (see module)."""
        hit = self._cache.get(node)
        if hit is None:
            hit = self._cache[node] = tuple(self._facts(node))
        return hit

    def _facts(self, node: str) -> Iterator[Constraint]:
        ix = self.index
        kind = ix.type[node]
        if not self.specialty.has_branches:
            return
        if kind == "phenotype":
            for b in sorted(self.specialty.branches(node) - {node}):
                c = Constraint(node=-1, relation="is_a", entity=b)
                if plain(ix, c) is not None:
                    yield c
        elif kind == "disease":
            branches: set[str] = set()
            for p in ix.step(node, "has_phenotype", False):
                branches |= self.specialty.branches(p)
            for b in sorted(branches):
                c = Constraint(node=-1, relation="has_phenotype", entity=b)
                if plain(ix, c) is not None:
                    yield c
            for rel in ("has_inheritance", "has_clinical_course"):
                for e in ix.step(node, rel, False):
                    c = Constraint(node=-1, relation=rel, entity=e)
                    if plain(ix, c) is not None:
                        yield c

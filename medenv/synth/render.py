"""Question text: a chain (plus its constraints) as one natural question.

The answer is asked for by its type ("Which gene ..."); every other chain entity except
the seed is described, never named: "a disorder that presents with ...". Only the seed and
the constraint entities are named (in double quotes). The description nests from the
answer back to the seed; each entity's constraints come before the clause that links it
to the previous entity, so every "and" attaches to the right entity:

    Which gene is associated with a disorder that is inherited in "Autosomal recessive
    inheritance" and presents with the clinical feature "Hypoplastic nasal bone"?

Wording (opening, nouns, relation phrases, "that"/"which") is drawn from a
`random.Random` seeded by the run seed and the chain, so it varies across items and is
identical across runs. Relations without a template here read as `kg.verbalise`.

`leaks(text, labels)` is the leakage check: the labels (names and synonyms of the answer
and of every intermediate entity) that occur in the text, case-insensitively, as whole
words or as a morphological variant or near-leak (see `LeakCheck`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from medenv.kg.names import variants
from medenv.synth.index import GraphIndex
from medenv.synth.qa import Constraint

NOUNS = {
    "phenotype": ("clinical feature", "phenotypic feature", "clinical finding"),
    "disease": ("disease", "disorder", "condition"),
    "gene": ("gene",),
    "inheritance": ("mode of inheritance", "inheritance pattern"),
    "clinical_course": ("clinical course",),
    "modifier": ("clinical modifier",),
    "history": ("past medical history item",),
    "frequency": ("frequency",),
}
# (relation, subject is the edge's head) -> phrases (verb, verb before a named object or
# None). The object follows: a named entity as 'the <noun> "<name>"' (just '"<name>"'
# after is_a or an override verb), a described one as "a <noun> that ...".
PHRASES = {
    ("has_phenotype", True): (
        ("presents with", None),
        ("is characterised by", None),
        ("has among its features", None),
    ),
    ("has_phenotype", False): (
        ("is a clinical feature of", None),
        ("is seen in", None),
        ("is a manifestation of", None),
    ),
    ("is_a", True): (
        ("is a kind of", None),
        ("is a more specific form of", None),
        ("is a subtype of", None),
    ),
    ("is_a", False): (
        ("is a broader category of", None),
        ("has as a more specific kind", None),
        ("is the parent term of", None),
    ),
    ("associated_gene", True): (("is associated with", None), ("is linked to", None)),
    ("associated_gene", False): (
        ("is a gene associated with", None),
        ("is implicated in", None),
        ("is linked to", None),
    ),
    ("has_inheritance", True): (
        ("has", "has the inheritance pattern"),
        ("follows", "follows the inheritance pattern"),
    ),
    ("has_inheritance", False): (
        ("is the mode of inheritance of", None),
        ("is the inheritance pattern of", None),
    ),
    ("has_clinical_course", True): (
        ("has", "has the clinical course"),
        ("shows", "shows the clinical course"),
    ),
    ("has_clinical_course", False): (("is the clinical course of", None),),
    ("has_modifier", True): (("has", "has the clinical modifier"),),
    ("has_modifier", False): (("is a clinical modifier of", None),),
    ("has_history", True): (
        ("has in the past medical history", "has in the past medical history"),
    ),
    ("has_history", False): (("is past medical history in", None),),
}
OPENINGS = (
    "Which {noun} {body}?",
    "What {noun} {body}?",
    "Name the {noun} that {body}.",
    "Identify the {noun} that {body}.",
)
RELATIVES = ("that", "which")


def _article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


def _noun(kind: str, rng: random.Random) -> str:
    return rng.choice(NOUNS.get(kind, (kind.replace("_", " "),)))


def _phrase(
    index: GraphIndex, relation: str, head: bool, rng: random.Random
) -> tuple[str, str | None]:
    options = PHRASES.get((relation, head))
    if options is None:
        return index.kg.verbalise(relation, inverse=not head), None
    return rng.choice(options)


def _named(index: GraphIndex, node: str, relation: str, phrase: tuple[str, str | None]) -> str:
    verb, override = phrase
    name = index.node[node].name
    if override is not None:
        return f'{override} "{name}"'
    if relation == "is_a":
        return f'{verb} "{name}"'
    return f'{verb} the {NOUNS.get(index.type[node], ("entity",))[0]} "{name}"'


def _join(clauses: list[str]) -> str:
    if len(clauses) == 1:
        return clauses[0]
    return ", ".join(clauses[:-1]) + " and " + clauses[-1]


def render_question(
    index: GraphIndex,
    chain: Sequence[str],
    steps: Sequence[tuple[str, bool]],
    constraints: Sequence[Constraint],
    rng: random.Random,
) -> str:
    """The question text of a chain (see module docstring)."""

    def clauses(i: int) -> list[str]:
        out = []
        for c in constraints:
            if c.node == i:  # c.inverse False: chain[i] -rel-> entity, chain[i] is head
                phrase = _phrase(index, c.relation, not c.inverse, rng)
                out.append(_named(index, c.entity, c.relation, phrase))
        rel, inv = steps[i - 1]
        phrase = _phrase(index, rel, inv, rng)  # inverse hop: chain[i] -rel-> chain[i-1]
        prev = i - 1
        if prev == 0:
            out.append(_named(index, chain[0], rel, phrase))
        else:
            noun = _noun(index.type[chain[prev]], rng)
            body = _join(clauses(prev))
            out.append(f"{phrase[0]} {_article(noun)} {noun} {rng.choice(RELATIVES)} {body}")
        return out

    n = len(chain) - 1
    noun = _noun(index.type[chain[n]], rng)
    text = rng.choice(OPENINGS).format(noun=noun, body=_join(clauses(n)))
    return text[0].upper() + text[1:]


def labels_of(index: GraphIndex, nodes: Iterable[str]) -> list[str]:
    """Names and synonyms of ``nodes`` (what must not appear in the question)."""
    out: dict[str, None] = {}
    for n in nodes:
        node = index.node[n]
        for label in (node.name, *node.synonyms):
            if label.strip():
                out[label] = None
    return list(out)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _in_word_ok(label: str) -> bool:
    """Labels long and plain enough that finding them inside a longer word is a leak
    ("spherocytosis" in "microspherocytosis"); short ones (gene symbols) are not."""
    return len(label) >= 6 and all(ch.isalpha() or ch in " -'" for ch in label)


class LeakCheck:
    """Finds any of ``labels`` in a text, case-insensitively: as whole words, in any
    morphological variant (`medenv.kg.names.variants`: natural order of inverted names,
    singular/plural), or, for plain labels of 6 or more letters, inside a longer word
    (a near-leak such as "Spherocytosis" in "Microspherocytosis")."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        forms: dict[str, set[str]] = {}
        for label in self.labels:
            folded = label.casefold()
            for v in variants(folded):
                forms.setdefault(folded, set()).add(v)
        self._forms = forms

    def _occurs(self, label: str, text: str) -> bool:
        start = text.find(label)
        while start >= 0:
            end = start + len(label)
            if (start == 0 or not _is_word_char(text[start - 1])) and (
                end == len(text) or not _is_word_char(text[end])
            ):
                return True
            start = text.find(label, start + 1)
        return False

    def _hit(self, folded: str, text: str) -> bool:
        if _in_word_ok(folded) and folded in text:
            return True
        return any(self._occurs(v, text) for v in self._forms[folded])

    def __call__(self, text: str) -> list[str]:
        """The labels found in ``text`` (sorted); empty when it is clean."""
        folded = text.casefold()
        hits = {label for label in self._forms if self._hit(label, folded)}
        if not hits:
            return []
        return sorted(label for label in self.labels if label.casefold() in hits)


def leaks(text: str, labels: Sequence[str]) -> list[str]:
    """The labels found in ``text`` (see `LeakCheck`), sorted."""
    return LeakCheck(labels)(text)

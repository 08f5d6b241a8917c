"""Question text: a chain (plus its constraints) as one natural question.

The answer is asked for by its type ("Which gene ..."); every other chain entity except
the seed is described, never named. Only the seed and the constraint entities are named
(in double quotes); a seed with constraints of its own (obfuscation, all plain-worded) is
described by them instead ("presents with a clinical feature that is a neurological
abnormality"). Relations read through the relation lexicon (`medenv.synth.lexicon`;
a relation it lacks reads as `kg.verbalise`), whose phrases never repeat their subject's
noun.

Two hops or fewer: one sentence that nests from the answer back to the seed (at most two
relative clauses); each entity's constraints come before the clause that links it to the
previous entity, so every "and" attaches to the right entity:

    Which gene is associated with a disorder that is inherited in "Autosomal recessive
    inheritance" and presents with the clinical feature "Hypoplastic nasal bone"?

Three hops or more: natural order, one sentence per hop from the seed to the answer, so
relative clauses never stack:

    Consider a disorder that presents with the clinical feature "X". Next, take a
    clinical feature that occurs in this disorder and is a kind of "Y". Which gene ...?

Wording (opening, nouns, relation phrases, "that"/"which") is drawn from a
`random.Random` seeded by the run seed and the chain, so it varies across items and is
identical across runs. Hetionet's node types are named as in
`medenv.synth.wording_hetionet`.

`leaks(text, labels)` is the leakage check: the labels (names and synonyms of the answer
and of every intermediate entity) that occur in the text, case-insensitively, as whole
words or as a morphological variant or near-leak (see `LeakCheck`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence

from medenv.english import article
from medenv.kg.names import variants
from medenv.synth import wording_hetionet as hetionet_wording
from medenv.synth.describe import plain
from medenv.synth.index import GraphIndex
from medenv.synth.lexicon import BUILTIN, phrase_table
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
NOUNS.update(hetionet_wording.NOUNS)
PHRASES = phrase_table(BUILTIN)  # (relation, subject is head) -> ((verb, named), ...)
OPENINGS = (
    "Which {noun} {body}?",
    "What {noun} {body}?",
    "Name the {noun} that {body}.",
    "Identify the {noun} that {body}.",
)
RELATIVES = ("that", "which")


def _noun(kind: str, rng: random.Random) -> str:
    return rng.choice(NOUNS.get(kind, (kind.replace("_", " "),)))


def _phrase(
    index: GraphIndex, relation: str, head: bool, rng: random.Random, lexicon=None
) -> tuple[str, str | None]:
    wording = (lexicon if lexicon is not None else BUILTIN).get(relation)
    options = wording.phrases(head) if wording is not None else ()
    if not options:
        return index.kg.verbalise(relation, inverse=not head), None
    return rng.choice(options)


def _named(index: GraphIndex, node: str, relation: str, phrase: tuple[str, str | None]) -> str:
    verb, override = phrase
    name = index.node[node].name
    if override is not None:
        return f'{override} "{name}"'
    if relation == "is_a" or index.type[node] in ("entity",):
        return f'{verb} "{name}"'
    return f'{verb} the {NOUNS.get(index.type[node], (index.type[node].replace("_", " "),))[0]} "{name}"'


def _seed(index, chain, relation, phrase, constraints, rng) -> str:
    """The link to the seed: its name, or, when the question describes it (constraints
    on node 0, all plain-worded), "a clinical feature that is a neurological abnormality"."""
    facts = [plain(index, c) for c in constraints if c.node == 0]
    if not facts or None in facts:
        return _named(index, chain[0], relation, phrase)
    noun = _noun(index.type[chain[0]], rng)
    return f"{phrase[0]} {article(noun)} {noun} {rng.choice(RELATIVES)} {_join(facts)}"


def _join(clauses: list[str]) -> str:
    if len(clauses) == 1:
        return clauses[0]
    return ", ".join(clauses[:-1]) + " and " + clauses[-1]


def _constraint_clauses(index, constraints, i, rng, lexicon, describe=False) -> list[str]:
    out = []
    for c in constraints:
        if c.node == i:  # c.inverse False: chain[i] -rel-> entity, chain[i] is head
            words = plain(index, c) if describe else None
            if words is not None:  # a description: plain words, no name
                out.append(words)
                continue
            phrase = _phrase(index, c.relation, not c.inverse, rng, lexicon)
            out.append(_named(index, c.entity, c.relation, phrase))
    return out


def render_question(
    index: GraphIndex,
    chain: Sequence[str],
    steps: Sequence[tuple[str, bool]],
    constraints: Sequence[Constraint],
    rng: random.Random,
    lexicon=None,
    describe: bool = False,
) -> str:
    """The question text of a chain (see module docstring). ``describe``: constraints
    on describable entities read as plain descriptions (`medenv.synth.describe.plain`:
    "follows autosomal recessive inheritance") instead of naming the entity."""
    if len(steps) >= 3:
        return _narrative(index, chain, steps, constraints, rng, lexicon, describe)

    def clauses(i: int) -> list[str]:
        out = _constraint_clauses(index, constraints, i, rng, lexicon, describe)
        rel, inv = steps[i - 1]
        phrase = _phrase(index, rel, inv, rng, lexicon)  # inverse hop: chain[i] -rel-> chain[i-1]
        prev = i - 1
        if prev == 0:
            out.append(_seed(index, chain, rel, phrase, constraints, rng))
        else:
            noun = _noun(index.type[chain[prev]], rng)
            body = _join(clauses(prev))
            out.append(f"{phrase[0]} {article(noun)} {noun} {rng.choice(RELATIVES)} {body}")
        return out

    n = len(chain) - 1
    noun = _noun(index.type[chain[n]], rng)
    text = rng.choice(OPENINGS).format(noun=noun, body=_join(clauses(n)))
    return text[0].upper() + text[1:]


STARTS = ("Consider {a} {noun} that {body}.", "Take {a} {noun} that {body}.")
LINKS = ("Next, take {a} {noun} that {body}.", "Then consider {a} {noun} that {body}.")


def _narrative(index, chain, steps, constraints, rng, lexicon, describe=False) -> str:
    """Three or more hops: one sentence per hop in natural order, from the named seed to
    the answer, each with one relative clause ("Consider a disorder that ... . Then
    consider a gene that is linked to this disorder ... . Which ...?")."""
    sentences = []
    prev_noun = ""
    n = len(chain) - 1
    for i in range(1, n + 1):
        kind = index.type[chain[i]]
        noun = _noun(kind, rng)
        if noun == prev_noun:
            options = NOUNS.get(kind, ())
            noun = next((x for x in options if x != prev_noun), noun)
        rel, inv = steps[i - 1]
        phrase = _phrase(index, rel, inv, rng, lexicon)
        if i == 1:
            link = _seed(index, chain, rel, phrase, constraints, rng)
        elif noun == prev_noun:
            link = f"{phrase[0]} the {prev_noun} above"
        else:
            link = f"{phrase[0]} this {prev_noun}"
        facts = _constraint_clauses(index, constraints, i, rng, lexicon, describe)
        # a described seed's own clauses end the sentence: the facts of the entity it links
        # to come first, so that no "and" reads as one more fact of the seed
        described_seed = i == 1 and any(c.node == 0 for c in constraints)
        body = _join([*facts, link] if described_seed else [link, *facts])
        if i == n:
            sentences.append(rng.choice(OPENINGS).format(noun=noun, body=body))
        else:
            pattern = rng.choice(STARTS if i == 1 else LINKS)
            sentences.append(pattern.format(a=article(noun), noun=noun, body=body))
        prev_noun = noun
    text = " ".join(sentences)
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


def _plain(text: str) -> str:
    return " ".join(_WORDS.findall(text))


_WORDS = re.compile(r"\w+")


class LeakCheck:
    """Finds any of ``labels`` in a text, case-insensitively: as whole words, in any
    morphological variant (`medenv.kg.names.variants`: natural order of inverted names,
    singular/plural), or, for plain labels of 6 or more letters, inside a longer word
    (a near-leak such as "Spherocytosis" in "Microspherocytosis")."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        forms: dict[str, tuple[str, ...]] = {}
        for label in self.labels:
            folded = label.casefold()
            if folded not in forms:
                forms[folded] = tuple(sorted(variants(folded)))
        self._forms = forms
        self._in_word = tuple(f for f in forms if _in_word_ok(f))
        # the same forms with punctuation read as spaces ("Cervical vertebrae, agenesis of"
        # contains "cervical vertebrae agenesis")
        self._plain = {
            label: tuple({p for p in (_plain(v) for v in vs) if p}) for label, vs in forms.items()
        }

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

    def __call__(self, text: str) -> list[str]:
        """The labels found in ``text`` (sorted); empty when it is clean."""
        folded = text.casefold()
        hits = {label for label in self._in_word if label in folded}
        plain = f" {_plain(folded)} "
        for label, forms in self._forms.items():
            if label not in hits and (
                any(self._occurs(v, folded) for v in forms)
                or any(f" {p} " in plain for p in self._plain[label])
            ):
                hits.add(label)
        if not hits:
            return []
        return sorted(label for label in self.labels if label.casefold() in hits)


def leaks(text: str, labels: Sequence[str]) -> list[str]:
    """The labels found in ``text`` (see `LeakCheck`), sorted."""
    return LeakCheck(labels)(text)

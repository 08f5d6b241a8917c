"""Same-concept names: two entities a reader takes for one, by their names alone.

Catalogues name one disease several ways: OMIM's "Bile acid synthesis defect, congenital, 1"
is Orphanet's "Congenital bile acid synthesis defect type 1"; Orphanet's
"Imerslund-Gräsbeck syndrome" is the group of OMIM's "Imerslund-Grasbeck syndrome 2". A
chain "disorder -> its gene -> a disorder linked to this gene" that goes from one to the
other comes back to where it started, and a question naming one while asking for the
other gives its answer away. The rule (`same_concept`), on every name and synonym:

- a label's *key* is its words (runs of letters and digits), accents stripped,
  case-folded, without the filler word "type", as a sorted multiset (word order and
  punctuation do not matter: "Leukemia, acute monocytic" is "Acute monocytic leukemia");
- its *base* is the key of the label without the designators that end it as written
  (numbers such as "2" or "13", "2A", single letters, Roman numerals), when it has any
  and at least one word is left;
- two entities are the **same concept** when a key of one equals a key of the other, or
  a base of one equals a key of the other (the group and its numbered member). Two
  numbered members of one series ("Deafness, autosomal recessive 9" and "... 110") are
  not: their bases are equal, their keys differ.

`medenv.synth.chain` never puts two same-concept entities in one chain, and synthesis
never names a constraint entity that is the same concept as a chain entity.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

Key = tuple[str, ...]
_WORD = re.compile(r"[^\W_]+")
_DESIGNATOR = re.compile(r"^(\d+[a-z]?|[a-z]|[ivx]+)$")
FILLERS = frozenset({"type"})


def _words(label: str) -> list[str]:
    text = unicodedata.normalize("NFKD", label)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return [w for w in _WORD.findall(text) if w not in FILLERS]


def label_keys(label: str) -> tuple[Key, Key | None]:
    """``(key, base)`` of one label (see module docstring); base None without designators."""
    words = _words(label)
    end = len(words)
    while end > 1 and _DESIGNATOR.match(words[end - 1]):
        end -= 1
    key = tuple(sorted(words))
    return key, (tuple(sorted(words[:end])) if end < len(words) else None)


class NameKeys:
    """Keys and bases of every label of a node, and the same-concept test."""

    def __init__(self, labels_of) -> None:
        """``labels_of(node)``: the node's name and synonyms."""
        self._labels_of = labels_of
        self._memo: dict[str, tuple[frozenset[Key], frozenset[Key]]] = {}

    def of(self, node: str) -> tuple[frozenset[Key], frozenset[Key]]:
        """The node's keys and bases (memoised)."""
        hit = self._memo.get(node)
        if hit is None:
            keys, bases = set(), set()
            for label in self._labels_of(node):
                key, base = label_keys(label)
                if key:
                    keys.add(key)
                if base:
                    bases.add(base)
            hit = self._memo[node] = (frozenset(keys), frozenset(bases))
        return hit

    def same_concept(self, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` are the same concept by name (module docstring)."""
        ka, ba = self.of(a)
        kb, bb = self.of(b)
        return not (ka.isdisjoint(kb) and ba.isdisjoint(kb) and ka.isdisjoint(bb))

    def clashes(self, node: str, others: Iterable[str]) -> bool:
        """Whether ``node`` is the same concept as any of ``others`` (other than itself)."""
        return any(o != node and self.same_concept(node, o) for o in others)


def index_keys(index) -> NameKeys:
    """`NameKeys` of a `medenv.synth.index.GraphIndex`'s nodes (name and synonyms)."""
    return NameKeys(lambda n: (index.node[n].name, *index.node[n].synonyms))

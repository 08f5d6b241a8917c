"""KG labels in text (groundedness rule 1, `medenv.grounding`): `LabelIndex` finds every
node name or synonym written in a text, longest-first without overlap over word tokens,
case-insensitively except that all-capital one-word labels (gene symbols such as ``ACE``)
match only as written. `index_for_source` is the index of a named (or recorded) KG, loaded
once per process (a graph read from files: once per version of its files).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from medenv.kg.cache import cache_file, load_kg

TOKEN = re.compile(r"\w+")


class Mention(msgspec.Struct, frozen=True):
    label: str  # as written in the text
    ids: frozenset[str]


# the words questions and agents use for entity *types*; some are also KG labels (HPO's
# "Mode of inheritance", "Clinical course", ...), but written as nouns they name no entity
TYPE_NOUNS = frozenset(
    (
        "inheritance", "mode of inheritance", "inheritance pattern", "clinical course",
        "clinical modifier", "modifier", "past medical history", "past medical history item",
        "frequency", "phenotypic abnormality", "phenotype", "clinical feature", "finding",
        "clinical finding", "phenotypic feature", "disease", "disorder", "condition", "gene",
        "course", "onset", "history",
    )
)  # fmt: skip


class LabelIndex:
    """Longest-first, non-overlapping lookup of KG labels in text (see module docstring).
    Labels equal to a type noun (`TYPE_NOUNS`) are not looked up."""

    def __init__(self, labels: Iterable[tuple[str, str]]) -> None:
        self.table: dict[tuple[str, ...], set[str]] = {}
        self.exact: dict[str, set[str]] = {}  # all-capital one-word labels (gene symbols)
        self.prefixes: set[tuple[str, ...]] = set()  # every proper prefix of a label
        for node_id, label in labels:
            toks = tuple(TOKEN.findall(label))
            if not toks:
                continue
            if label.isupper() and len(toks) == 1:
                self.exact.setdefault(toks[0], set()).add(node_id)
                continue
            folded = tuple(t.casefold() for t in toks)
            if " ".join(folded) not in TYPE_NOUNS:
                self.table.setdefault(folded, set()).add(node_id)
            for n in range(1, len(folded)):
                self.prefixes.add(folded[:n])

    @classmethod
    def of_kg(cls, kg) -> LabelIndex:
        return _kg_index(kg)

    def mentions(self, text: str) -> list[Mention]:
        spans = [(m.group(0), m.start(), m.end()) for m in TOKEN.finditer(text)]
        folded = [s[0].casefold() for s in spans]
        out: list[Mention] = []
        i = 0
        while i < len(spans):
            best, ids = 1, None  # words of the longest label at i (1 while none is found)
            key: tuple[str, ...] = ()
            for j in range(i, len(spans)):  # walk the prefix set: the longest label at i
                key = (*key, folded[j])
                hit = self.table.get(key)
                if hit:
                    best, ids = j - i + 1, hit
                if key not in self.prefixes:
                    break
            if best == 1 and spans[i][0] in self.exact:  # a gene symbol, as written
                best, ids = 1, self.exact[spans[i][0]] | (ids or set())
            if ids is None:
                i += 1
                continue
            out.append(Mention(text[spans[i][1] : spans[i + best - 1][2]], frozenset(ids)))
            i += best
        return out


_INDEXES: dict[int, tuple[object, LabelIndex]] = {}


def _kg_index(kg) -> LabelIndex:
    """One index per KG object (kept while the KG lives; a KG is not hashable)."""
    hit = _INDEXES.get(id(kg))
    if hit is None or hit[0] is not kg:
        index = LabelIndex((n.id, lab) for n in kg.nodes() for lab in (n.name, *n.synonyms) if lab)
        hit = _INDEXES[id(kg)] = (kg, index)
    return hit[1]


_BY_SOURCE: dict[object, LabelIndex | None] = {}  # per process: a KG loads once
_WHY_NOT: dict[object, str] = {}  # why a KG could not be loaded (one line), by key


def _key(source: str | None, spec=None):
    """The memo key of a KG: its source name, or for a graph read from files the spec and
    the name of the KG cache file `load_kg` would read (`medenv.kg.cache.cache_file`: it
    encodes each input file's path, size and modification time), so a graph file edited in
    place is indexed anew, as the KG cache rebuilds it."""
    files = spec is not None and not spec.is_default
    if not files:
        return source
    try:
        stamp = cache_file(spec.source, spec.path, **spec.kg_options()).name
    except Exception:  # an input that is gone or unreadable: loading it says why
        stamp = None
    return (spec.source, repr(spec.path), repr(spec.kg_options()), stamp)


def index_problem(source: str | None, spec=None) -> str | None:
    """Why `index_for_source` found no KG for ``source``/``spec`` (after a call to it): one
    line naming the source and the error; None when it loaded, or no source was named."""
    return _WHY_NOT.get(_key(source, spec))


def index_for_source(source: str | None, spec=None) -> LabelIndex | None:
    """The label index of the KG named ``source`` (loaded once per process; a graph read
    from files once per version of its files, `_key`), or None when
    that KG cannot be loaded (an unknown source, no cache and no data). ``spec`` (a
    `medenv.worldspec.WorldSpec`, e.g. the one a run recorded) names a graph read from
    files (an edge list, a Hetionet folder), which ``source`` alone cannot load."""
    files = spec is not None and not spec.is_default
    key = _key(source, spec)
    if key not in _BY_SOURCE:
        try:
            if files:
                kg = spec.load_kg()
            else:
                kg = load_kg(source, progress=False) if source else None
            _BY_SOURCE[key] = LabelIndex.of_kg(kg) if kg is not None else None
        except Exception as exc:  # an unknown or unavailable KG: no groundedness for it
            _BY_SOURCE[key] = None
            name = spec.path if files else source
            first = str(exc).splitlines()[0] if str(exc) else ""
            _WHY_NOT[key] = f"KG {name} could not be loaded ({type(exc).__name__}: {first})"
    return _BY_SOURCE[key]

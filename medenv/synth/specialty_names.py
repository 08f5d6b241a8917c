"""Specialty of an entity of any graph: from a user mapping file, its name, or its ancestors.

`SpecialtyMap` (`medenv.synth.specialty`) uses HPO's organ-system branches where the graph
has them; `NameSpecialty` gives every other graph (an edge list, Hetionet) specialties too,
so its items are not all ``general``. The rules, first that gives one:

1. the user mapping (``medenv synth --specialties FILE``; `read_mapping`): CSV or TSV rows
   ``KEY,SPECIALTY`` where ``KEY`` is a node id or a node name (case-insensitive; ids win);
   an optional header ``node,specialty``; blank lines and ``#`` comments are skipped. It
   applies to every graph, HPO's included.
2. the node's name and synonyms (`name_votes`): each word (lower-case runs of letters and
   digits) votes for the specialty of a keyword it matches (`KEYWORDS`: a word equal to
   one of its ``words`` or starting with one of its ``stems``); the majority wins, ties in
   `SPECIALTIES` order (so "lymphoma" is hematology-oncology, not immunology).
3. its ancestors (`ANCESTOR_RELATIONS`, child to parent, breadth first): the names of the
   nearest level that has votes.

Anything else has none (its item takes the chain's majority, else ``general``).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

from medenv.errors import DataError

ANCESTOR_RELATIONS = ("is_a", "subclass_of", "isa")
MAX_ANCESTOR_LEVELS = 8

# specialty -> (exact words, word stems), each space-separated
_KEYWORDS = {
    "neurology": (
        "brain nerve nerves palsy ataxia dementia stroke seizure",
        "neur cerebr cerebell epilep mening enceph alzheimer parkinson migrain myelin "
        "spinal seizur glia",
    ),
    "ophthalmology": (
        "eye eyes iris blind blindness vision",
        "ocular retin optic cornea cataract glaucom macul uveit visual conjunctiv keratit ophthalm",
    ),
    "otolaryngology": (
        "ear ears nose deaf deafness voice throat sinus",
        "hearing otitis cochle nasal laryn pharyn tonsil auditory vestibul tinnitus rhinit sinusit",
    ),
    "cardiology": (
        "heart aorta artery vein veins",
        "cardi coronar aortic arteri vascul venous hypertens hypotens arrhythm atrial "
        "myocard angina claudicat aneurysm atheroscl",
    ),
    "pulmonology": (
        "lung lungs cough apnea",
        "pulmon respirat asthma bronch pneum trache pleur dyspn emphysem thorac",
    ),
    "gastroenterology": (
        "liver bowel colon bile stomach anal rectum",
        "hepat gastr intestin colitis crohn pancrea biliar esophag oesophag duoden "
        "rectal digest diarrh constipat vomit nause abdomin cirrho celiac coeliac "
        "dyspeps",
    ),
    "nephrology": (
        "kidney kidneys bladder cervix penis",
        "renal nephr urin urethr ureter genit uter ovar prostat testi vagin cystit",
    ),
    "endocrinology": (
        "growth obesity insulin glucose",
        "endocrin thyroid diabet adrenal pituitar hormon metabol hyperlipid cholesterol "
        "hypoglyc hyperglyc gonad",
    ),
    "hematology-oncology": (
        "cancer cancers tumor tumors tumour blood breast",
        "carcinom neoplas leukem leukaem lymphom melanom sarcom myelom anemi anaemi "
        "hemat haemat platelet coagul thromb hemophil malignan metasta glioma "
        "glioblastom adenom blastoma",
    ),
    "immunology": ("lupus hiv sepsis", "immun allerg lymph infect vaccin antibod"),
    "dermatology": (
        "skin hair nail nails acne rash",
        "derma cutane psoria eczem alopec prurit urticar epiderm",
    ),
    "musculoskeletal": (
        "bone bones joint joints limb limbs gout spine",
        "muscl muscul skelet arthr osteo myopath dystroph tendon cartilag fractur scolio",
    ),
}
KEYWORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    s: (tuple(words.split()), tuple(stems.split())) for s, (words, stems) in _KEYWORDS.items()
}
_WORD = re.compile(r"[a-z0-9]+")


def name_votes(text: str) -> Counter:
    """The specialties the words of ``text`` vote for (rule 2 of the module docstring)."""
    votes: Counter = Counter()
    for word in _WORD.findall(text.casefold()):
        for specialty, (words, stems) in KEYWORDS.items():
            if word in words or word.startswith(stems):
                votes[specialty] += 1
    return votes


def read_mapping(path: str | Path, specialties: tuple[str, ...]) -> dict[str, str]:
    """A user specialty mapping file -> ``{key: specialty}`` (keys as written, and names
    case-folded with a ``name:`` prefix). `DataError` naming the file and line for a row
    that is not two fields or names a specialty outside ``specialties``, or for a file that
    maps nothing (empty, or only comments and a header): the run would otherwise go on as
    if no file had been given."""
    file = Path(path)
    if not file.is_file():
        raise DataError(file, "specialty mapping file not found")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(file, "not valid UTF-8 text") from None
    mapping: dict[str, str] = {}
    delimiter = "\t" if "\t" in text.split("\n", 1)[0] else ","
    for line, fields in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), start=1):
        fields = [f.strip() for f in fields]
        if not fields or not any(fields) or fields[0].startswith("#"):
            continue
        if line == 1 and [f.casefold() for f in fields] == ["node", "specialty"]:
            continue
        if len(fields) != 2 or not fields[0]:
            raise DataError(file, f"expected 2 fields (node, specialty), got {len(fields)}", line)
        key, specialty = fields[0], fields[1].casefold()
        if specialty not in specialties:
            raise DataError(
                file,
                f"unknown specialty {fields[1]!r}; valid specialties: {', '.join(specialties)}",
                line,
            )
        mapping[key] = specialty
        mapping.setdefault(f"name:{key.casefold()}", specialty)
    if not mapping:
        raise DataError(file, "maps nothing: no row of node, specialty")
    return mapping


def user_mapping(path: str | Path | None) -> dict[str, str] | None:
    """`read_mapping` of ``path`` against the known specialties (None: no file)."""
    if path is None:
        return None
    from medenv.synth.specialty import SPECIALTIES

    return read_mapping(path, SPECIALTIES)


class NameSpecialty:
    """Rules 1-3 of the module docstring over a `GraphIndex`, cached per node."""

    def __init__(self, index, mapping: dict[str, str] | None = None, majority=None) -> None:
        self.index = index
        self.mapping = mapping or {}
        self._majority = majority
        self._cache: dict[str, str | None] = {}

    def mapped(self, node: str) -> str | None:
        """Rule 1: the user mapping's specialty of ``node`` (by id, then by name)."""
        if not self.mapping:
            return None
        hit = self.mapping.get(node)
        if hit is None:
            hit = self.mapping.get(f"name:{self.index.node[node].name.casefold()}")
        return hit

    def _votes(self, node: str) -> Counter:
        n = self.index.node[node]
        votes: Counter = Counter()
        for label in (n.name, *n.synonyms):
            votes.update(name_votes(label))
        return votes

    def of(self, node: str) -> str | None:
        """The specialty of ``node`` by rules 1-3, or None."""
        if node in self._cache:
            return self._cache[node]
        result = self.mapped(node)
        if result is None:
            level, seen = [node], {node}
            for _ in range(MAX_ANCESTOR_LEVELS + 1):
                votes: Counter = Counter()
                for n in level:
                    votes.update(self._votes(n))
                if votes:
                    result = self._majority(votes)
                    break
                level = [
                    p
                    for n in level
                    for rel in ANCESTOR_RELATIONS
                    for p in self.index.step(n, rel, False)
                    if p not in seen and not seen.add(p)
                ]
                if not level:
                    break
        self._cache[node] = result
        return result

"""Entity names as people write them: natural word order and morphological variants.

OMIM and Orphanet list many diseases in inverted, catalogue order ("Leukemia, acute
monocytic"; "Deafness, autosomal dominant 1"; "Larynx, congenital partial atresia of").
`natural_order` gives the reading order ("acute monocytic leukemia"; "autosomal dominant
deafness 1"; "congenital partial atresia of larynx"), used as an answer alias and in the
leak check. `variants` adds singular/plural forms.

Inversion rule: ``HEAD, QUALIFIER[, REST]`` is inverted when HEAD is one to three words
without digits and QUALIFIER is one to five words that do not start with a connective
("with", "and", "type", "due", "in", ...); a trailing number of QUALIFIER (a subtype)
moves after HEAD; REST follows unchanged.
"""

from __future__ import annotations

import re

_CONNECTIVES = frozenset(
    {"with", "and", "or", "type", "due", "in", "without", "associated", "caused"}
)
_NUMBERISH = re.compile(r"^(\d+[a-z]?|[ivx]+|[a-z]?\d+[a-z]?)$", re.IGNORECASE)


def natural_order(name: str) -> str:
    """``name`` in reading order when it is an inverted catalogue name, else ``name``."""
    parts = [p.strip() for p in name.split(",")]
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return name
    head, qual, rest = parts[0], parts[1], parts[2:]
    head_words, qual_words = head.split(), qual.split()
    if not 1 <= len(head_words) <= 3 or any(ch.isdigit() for ch in head):
        return name
    if not 1 <= len(qual_words) <= 5 or qual_words[0].casefold() in _CONNECTIVES:
        return name
    if qual_words[-1].casefold() == "of":
        text = f"{qual} {head[0].lower() + head[1:]}"
    else:
        number = ""
        if len(qual_words) > 1 and _NUMBERISH.match(qual_words[-1]):
            number = " " + qual_words[-1]
            qual = " ".join(qual_words[:-1])
        text = f"{qual} {head[0].lower() + head[1:]}{number}"
    if rest:
        text += ", " + ", ".join(rest)
    return text


def _inflect(word: str) -> set[str]:
    w = word
    out = {w}
    if len(w) < 4:
        return out
    if w.endswith("es") and len(w) > 5:
        out.add(w[:-2])
    if w.endswith("s") and not w.endswith("ss") and not w.endswith("is"):
        out.add(w[:-1])
    else:
        out.add(w + "s")
        if w.endswith(("s", "x", "ch", "sh")):
            out.add(w + "es")
    return out


def variants(name: str) -> set[str]:
    """``name``, its natural order, and the forms with the last word singular/plural."""
    out: set[str] = set()
    for form in {name, natural_order(name)}:
        words = form.split(" ")
        for last in _inflect(words[-1]) if words and words[-1] else {""}:
            out.add(" ".join([*words[:-1], last]))
    return {v for v in out if v.strip()}

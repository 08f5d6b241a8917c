"""OMIM title strings as HPO's 2020-2021 annotation files give some disease names.

``phenotype.hpoa`` of those releases names many OMIM diseases by OMIM's whole title field,
packed: an optional MIM number with its entry prefix, the preferred title, its symbol,
then alternative titles and symbols, and titles of other conditions the entry includes::

    #100100 PRUNE BELLY SYNDROME; PBS;;ABDOMINAL MUSCLES, ABSENCE OF, WITH URINARY TRACT
    ABNORMALITY ANDCRYPTORCHIDISM;;EAGLE-BARRETT SYNDROME; EGBRS

(``;;`` between titles, ``;`` before a symbol). Read as one name it would be the answer a
question expects and the label a leak check looks for, while no text says it. HPO's later
releases give the preferred title alone ("Prune belly syndrome").
"""

from __future__ import annotations

import re

_MIM_NUMBER = re.compile(r"[#%+*^]?\d{6} ")


def omim_titles(name: str) -> tuple[str, ...]:
    """The names in an OMIM title string, preferred title first, then the alternative
    titles and symbols in file order (distinct case-insensitively); titles of conditions
    the entry only includes (``..., INCLUDED``) are left out, unless nothing else is left
    (then the first piece). A name with no MIM number and no ``;`` is returned alone,
    unchanged."""
    number = _MIM_NUMBER.match(name)
    if number is None and ";" not in name:
        return (name,)
    body = name[number.end() :] if number else name
    pieces = [p.strip() for part in body.split(";;") for p in part.split(";")]
    pieces = [p for p in pieces if p]
    titles: dict[str, str] = {}
    for piece in pieces:
        if not piece.endswith("INCLUDED"):
            titles.setdefault(piece.casefold(), piece)
    return tuple(titles.values()) or tuple(pieces[:1]) or (name,)

"""Relation lexicon: how each relation of each loader reads in a question.

Per relation, `Wording` holds phrases for both directions and a noun form:

- ``forward``: the subject is the edge's head (``<head> {phrase} <tail>``);
- ``inverse``: the subject is the edge's tail (``<tail> {phrase} <head>``);
- each phrase is ``verb`` or ``verb|named``: ``named`` is used before a named object
  (``has_inheritance`` reads 'follows the inheritance pattern "X"' but 'follows a ...');
- ``noun``: the relation as a noun for the tail ("associated gene").

No phrase repeats its subject's noun ("Which gene is a gene associated with ...").
`BUILTIN` covers every relation of the ``hpo`` and ``hetionet`` loaders (Hetionet's from
`medenv.synth.wording_hetionet`) and PrimeKG's relations (``edgelist``). For other ``edgelist`` graphs, `load_lexicon(path)` reads a
user file, one relation a line, tab-separated::

    relation<TAB>forward phrase<TAB>inverse phrase[<TAB>noun[<TAB>properties]]

where ``properties`` is a comma list of ``transitive``, ``symmetric`` and
``inherited:<relation>`` (see `medenv.kg.semantics`). Blank lines and ``#`` comments are
skipped. A bad row, or a relation the graph lacks (`check_lexicon`), is a `DataError`
naming the file and line. A relation in neither falls back to `KnowledgeGraph.verbalise`.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from medenv.errors import DataError
from medenv.kg.semantics import RelationProperties
from medenv.synth import wording_hetionet as hetionet_wording

Phrase = tuple[str, str | None]  # (verb, verb before a named object or None)


class Wording(msgspec.Struct, frozen=True):
    forward: tuple[str, ...]
    inverse: tuple[str, ...]
    noun: str = ""
    properties: RelationProperties | None = None
    line: int = 0  # where a user lexicon declared it (0: built in)

    def phrases(self, head: bool) -> tuple[Phrase, ...]:
        out = []
        for p in self.forward if head else self.inverse:
            verb, _, named = p.partition("|")
            out.append((verb.strip(), named.strip() or None))
        return tuple(out)


def _w(forward: str, inverse: str, noun: str = "") -> Wording:
    return Wording(tuple(forward.split(";")), tuple(inverse.split(";")), noun)


BUILTIN: dict[str, Wording] = {
    # hpo
    "has_phenotype": _w(
        "presents with;is characterised by;has among its features",
        "is seen in;occurs in;is a manifestation of",
        "clinical feature",
    ),
    "is_a": _w(
        "is a kind of;is a more specific form of;is a subtype of",
        "is a broader category of;is the parent term of;includes as a subtype",
        "subtype",
    ),
    "associated_gene": _w(
        "is associated with;is linked to", "is implicated in;is linked to", "associated gene"
    ),
    "has_inheritance": _w(
        "has|has the inheritance pattern;follows|follows the inheritance pattern",
        "is followed by;underlies the inheritance of",
        "inheritance pattern",
    ),
    "has_clinical_course": _w(
        "has|has the clinical course;shows|shows the clinical course",
        "describes the course of",
        "clinical course",
    ),
    "has_modifier": _w("has|has the clinical modifier", "modifies", "clinical modifier"),
    "has_history": _w(
        "has in the past medical history|has in the past medical history",
        "occurs in the history of",
        "history item",
    ),
    # PrimeKG (edgelist), relation names as the loader writes them
    "protein_protein": _w("interacts with", "interacts with", "interaction partner"),
    "drug_protein": _w("targets", "is targeted by", "target"),
    "contraindication": _w("is contraindicated in", "contraindicates the use of"),
    "indication": _w("is indicated for", "is treated with", "indication"),
    "off_label_use": _w("is used off-label for", "is treated off-label with"),
    "drug_drug": _w("interacts with", "interacts with"),
    "phenotype_protein": _w("is associated with", "is associated with"),
    "phenotype_phenotype": _w("is a kind of", "is a broader category of"),
    "disease_phenotype_negative": _w("does not present with", "is absent in"),
    "disease_phenotype_positive": _w("presents with", "is seen in", "feature"),
    "disease_protein": _w("is associated with", "is implicated in", "associated gene"),
    "disease_disease": _w("is a kind of", "is a broader category of"),
    "drug_effect": _w("can cause", "can be caused by", "effect"),
    "bioprocess_bioprocess": _w("is part of", "includes"),
    "molfunc_molfunc": _w("is a kind of", "is a broader category of"),
    "cellcomp_cellcomp": _w("is part of", "includes"),
    "molfunc_protein": _w("is carried out by", "carries out"),
    "cellcomp_protein": _w("contains", "is located in"),
    "bioprocess_protein": _w("involves", "participates in"),
    "exposure_protein": _w("interacts with", "interacts with"),
    "exposure_disease": _w("is linked to", "is linked to"),
    "exposure_exposure": _w("is related to", "is related to"),
    "exposure_bioprocess": _w("affects", "is affected by"),
    "exposure_molfunc": _w("affects", "is affected by"),
    "exposure_cellcomp": _w("affects", "is affected by"),
    "pathway_pathway": _w("is part of", "includes"),
    "pathway_protein": _w("involves", "participates in"),
    "anatomy_protein_present": _w("expresses", "is expressed in"),
    "anatomy_protein_absent": _w("does not express", "is not expressed in"),
}


def _from_table(table: dict) -> dict[str, Wording]:
    """Entries from a ``(relation, head) -> ((verb, named or None), ...)`` table."""

    def enc(options) -> tuple[str, ...]:
        return tuple(v if n is None else f"{v}|{n}" for v, n in options)

    rels = sorted({r for r, _ in table})
    return {r: Wording(enc(table.get((r, True), ())), enc(table.get((r, False), ()))) for r in rels}


# Hetionet: the wording of `medenv.synth.wording_hetionet` (issue 16), with noun forms
_HETIONET_NOUNS = {
    "expresses": "expressed gene",
    "binds": "target",
    "causes_side_effect": "side effect",
    "treats": "treatment",
    "localizes": "site",
    "presents_symptom": "symptom",
    "interacts": "interaction partner",
    "participates_in_process": "biological process",
    "located_in_component": "cellular component",
    "has_function": "function",
    "participates_in_pathway": "pathway",
    "includes": "member",
}
for _name, _w_ in _from_table(hetionet_wording.PHRASES).items():
    BUILTIN[_name] = msgspec.structs.replace(_w_, noun=_HETIONET_NOUNS.get(_name, ""))


def phrase_table(lexicon: dict[str, Wording]) -> dict[tuple[str, bool], tuple[Phrase, ...]]:
    """``(relation, subject is head) -> phrases``, the layout of `render.PHRASES`."""
    return {(r, head): w.phrases(head) for r, w in lexicon.items() for head in (True, False)}


def _properties(text: str, path: Path, line: int) -> RelationProperties:
    flags = {"transitive": False, "symmetric": False}
    inherited = None
    for raw in filter(None, (p.strip() for p in text.split(","))):
        if raw in flags:
            flags[raw] = True
        elif raw.startswith("inherited:") and raw.split(":", 1)[1].strip():
            inherited = raw.split(":", 1)[1].strip()
        else:
            raise DataError(
                path,
                f"unknown relation property {raw!r} (transitive, symmetric, inherited:<relation>)",
                line,
            )
    return RelationProperties(inherited_along=inherited, **flags)


def load_lexicon(path: str | Path) -> dict[str, Wording]:
    """A user lexicon file (see module docstring); `DataError` with file:line when bad."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "lexicon file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text ({exc.reason})") from None
    out: dict[str, Wording] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        f = [x.strip() for x in line.split("\t")]
        if not 3 <= len(f) <= 5:
            raise DataError(
                path,
                f"expected 3 to 5 tab-separated fields (relation, forward, inverse[, noun"
                f"[, properties]]), got {len(f)}",
                lineno,
            )
        if not all(f[:3]):
            raise DataError(path, "relation, forward and inverse phrases must be non-empty", lineno)
        if f[0] in out:
            raise DataError(path, f"relation {f[0]!r} given twice", lineno)
        props = _properties(f[4], path, lineno) if len(f) == 5 else None
        out[f[0]] = Wording(
            tuple(p.strip() for p in f[1].split(";") if p.strip()),
            tuple(p.strip() for p in f[2].split(";") if p.strip()),
            f[3] if len(f) >= 4 else "",
            props,
            lineno,
        )
    return out


def check_lexicon(lexicon: dict[str, Wording], relations, path: str | Path) -> None:
    """`DataError` (file:line) for a user lexicon entry naming an unknown relation, or
    a property that inherits along an unknown relation."""
    for name, w in lexicon.items():
        if name not in relations:
            raise DataError(
                path,
                f"unknown relation {name!r}: the graph has {', '.join(sorted(relations))}",
                w.line,
            )
        h = w.properties.inherited_along if w.properties else None
        if h is not None and h not in relations:
            raise DataError(path, f"inherited along unknown relation {h!r}", w.line)


def apply_lexicon(kg, path: str | Path) -> dict[str, Wording]:
    """Load a user lexicon for ``kg``, check it, declare its relation properties on the
    graph, and return it (merged over `BUILTIN`)."""
    user = load_lexicon(path)
    check_lexicon(user, kg.relations, path)
    for name, w in user.items():
        if w.properties is not None:
            kg.set_relation_properties(name, w.properties)
    return {**BUILTIN, **user}

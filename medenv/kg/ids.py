"""Identifier namespaces: the registry every loader's ids and cross-references map onto.

An identifier is a CURIE ``<namespace>:<local id>`` with the namespace spelled as in
`NAMESPACES` (``NCBIGene:2200``, ``MESH:D005483``, ``UMLS:C0000727``, ``DOID:9352``).
Sources spell namespaces differently (``MSH``, ``SNOMEDCT_US``, ``Orphanet``); `curie`
maps every known spelling (case-insensitive) onto the canonical one, so two nodes from
two sources that carry the same identifier compare equal. Nodes keep their identifiers in
`medenv.kg.graph.Node.xrefs`; `medenv.kg.align` joins nodes that share one.
"""

from __future__ import annotations

from medenv.errors import MedenvError

# canonical namespace -> other spellings seen in the wild (matched case-insensitively)
NAMESPACES: dict[str, tuple[str, ...]] = {
    "NCBIGene": ("NCBIGENE", "NCBI", "ENTREZ", "ENTREZGENE", "GENEID"),
    "HGNC": (),
    "ENSEMBL": (),
    "UNIPROT": ("UNIPROTKB",),
    "OMIM": ("MIM",),
    "ORPHA": ("ORPHANET",),
    "DECIPHER": (),
    "DOID": (),
    "MONDO": (),
    "MESH": ("MSH",),
    "UMLS": ("UMLS_CUI", "CUI"),
    "SNOMEDCT": ("SNOMEDCT_US", "SNOMED_CT", "SNOMED", "SCTID"),
    "NCIT": ("NCI",),
    "MEDDRA": (),
    "ICD10": ("ICD-10", "ICD10CM"),
    "ICD9": ("ICD-9", "ICD9CM"),
    "EFO": (),
    "HP": ("HPO",),
    "MP": (),
    "GO": (),
    "UBERON": (),
    "DRUGBANK": ("DB",),
    "CHEBI": (),
    "CHEMBL": ("CHEMBL.COMPOUND",),
    "PUBCHEM": ("PUBCHEM.COMPOUND",),
    "RXNORM": (),
    "NDFRT": ("NDF-RT",),
    "REACTOME": (),
    "WIKIPATHWAYS": ("WP",),
    "PATHWAYCOMMONS": ("PC",),
}
_SPELLING = {
    spelling.upper(): canonical
    for canonical, others in NAMESPACES.items()
    for spelling in (canonical, *others)
}


def namespace(raw: str) -> str | None:
    """The canonical spelling of namespace ``raw`` (any known spelling, any case), or None."""
    return _SPELLING.get(raw.strip().upper())


def curie(raw: str) -> str | None:
    """``raw`` (``"MSH:D005483"``, ``"ncbigene:2200"``) as a canonical CURIE, or None when
    its namespace is unknown or its local id is empty or holds whitespace."""
    prefix, sep, local = raw.strip().partition(":")
    ns = namespace(prefix) if sep else None
    local = local.strip()
    if ns is None or not local or any(c.isspace() for c in local):
        return None
    if ns in ("HP", "GO", "UBERON", "MONDO", "DOID", "MP", "EFO", "CHEBI") and ":" in local:
        local = local.rsplit(":", 1)[1]  # "HP:HP:0000118" written with a doubled prefix
    return f"{ns}:{local}"


def parse_curie(raw: str) -> str:
    """`curie`, raising `MedenvError` that names the problem (the caller adds file/line)."""
    found = curie(raw)
    if found is not None:
        return found
    prefix, sep, local = raw.strip().partition(":")
    if not sep or not local.strip():
        raise MedenvError(f"malformed identifier {raw!r}: expected NAMESPACE:ID")
    if namespace(prefix) is None:
        raise MedenvError(
            f"unknown identifier namespace {prefix!r} in {raw!r}; known: {', '.join(NAMESPACES)}"
        )
    raise MedenvError(f"malformed identifier {raw!r}: the id may not contain spaces")

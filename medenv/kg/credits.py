"""Data credits and licence notes for each knowledge-graph source.

`credits(kg)` gives one line per source of a graph (merged graphs have several), naming the
data, its release and its licence terms; `medenv kg stats` and `medenv corpus build` print
them. An edge list is credited as the user's own data; only a file in PrimeKG's column
layout (``kg.layout == "primekg"``, set by the edge-list loader) is credited to PrimeKG.
"""

from __future__ import annotations

from medenv.kg.graph import KnowledgeGraph


def credit(source: str, version: str, layout: str | None = None) -> str:
    """The credit line for ``source`` at ``version`` (``layout``: an edge list's column
    layout, ``"primekg"`` or ``"simple"``)."""
    if source == "hpo":
        return (
            f"This product uses the Human Phenotype Ontology (release {version}), "
            "https://hpo.jax.org (Gargano et al., Nucleic Acids Res. 2024); free to use "
            "with this attribution, content unmodified (https://hpo.jax.org/license)."
        )
    if source == "hetionet":
        return (
            f"Hetionet {version} (Himmelstein et al., eLife 2017), https://het.io, CC0 1.0; "
            "contributing sources keep their licences (SIDER side effects, CC BY-NC-SA 4.0, "
            "are dropped unless kept on purpose)."
        )
    if source == "edgelist" and layout == "primekg":
        return (
            f"PrimeKG (Chandak et al., Sci. Data 2023), https://github.com/mims-harvard/PrimeKG, "
            f"CC BY 4.0, read from the user's file {version}; its contributing sources keep "
            "their licences."
        )
    if source == "edgelist":
        return (
            f"User-supplied edge list ({version}), not distributed with medenv: credit the "
            "data's creators as its licence asks."
        )
    return f"{source} {version}"


def credits(kg: KnowledgeGraph) -> list[str]:
    """One credit line per source of ``kg`` (``hpo+hetionet`` gives two)."""
    sources = kg.source.split("+")
    versions = kg.version.split("+")
    if len(versions) != len(sources):
        versions = [kg.version] * len(sources)
    layout = getattr(kg, "layout", None)  # an edge list's (a merged graph has none)
    return [credit(s, v, layout) for s, v in zip(sources, versions, strict=True)]

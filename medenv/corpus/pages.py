"""Render KG entities as pages: one authoritative medical page, several noisy web pages.

Ids and addresses (stable):
- medical: ``med:<entity_id>`` at ``https://medref.medenv.org/entity/<entity_id>`` (the id
  percent-encoded, ``:`` and ``/`` kept: HPO ids read as they are, Hetionet's
  ``Cellular Component::GO:0005773`` becomes ``Cellular%20Component::GO:0005773`` so a URL
  never holds a space)
  A phenotype's or disease's medical page also states its HPO organ systems
  (`medenv.corpus.organ`), the fact behind the descriptions "is a neurological
  abnormality" and "has cardiovascular features".
- web: ``web:<entity_id>:<style>`` with style ``summary``, ``encyclopedia``, ``forum`` or
  ``compare`` (a distractor: a page titled after the entity that is mostly about a similar
  one; its ``entity_id`` is that similar entity). Web sites use the reserved ``.example``
  domain. Which facts each page states is decided in `medenv.corpus.facts`.

On a merged graph an aligned entity (`medenv.kg.merge`) is one node with the edges of all
its sources, so its pages state facts from every source; its medical page also names the
sources and the id it has in each (``Sources: hpo as NCBIGene:2200; hetionet as
Gene::2200``).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from medenv.corpus.document import Document
from medenv.corpus.facts import Adjacency, Fact, medical_facts, rng_for, similar_entity, web_facts
from medenv.corpus.organ import organ_systems
from medenv.english import article
from medenv.kg.graph import Node

MEDICAL_URL = "https://medref.medenv.org/entity/"
WEB_STYLES = ("summary", "encyclopedia", "forum", "compare")
LIST_CHUNK = 10  # neighbours per line of a medical page (one passage for `browse`)


def slug(node: Node) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", node.name.lower()).strip("-")[:60].strip("-")
    ident = re.sub(r"[^a-z0-9]+", "-", node.id.lower())
    return f"{words}-{ident}" if words else ident


def _names(adj: Adjacency, ids: list[str]) -> str:
    return "; ".join(adj.kg.node(i).name for i in ids)


def medical_page(adj: Adjacency, entity: str) -> Document:
    """The authoritative page of ``entity``: definition, synonyms, every relation group."""
    kg = adj.kg
    node = kg.node(entity)
    kind = node.type.replace("_", " ")
    lines = [f"{node.name} ({node.id}) is {article(kind)} {kind} entry."]
    if node.definition:
        lines.append(f"Definition: {node.definition}")
    if node.synonyms:
        lines.append(f"Also known as: {'; '.join(node.synonyms)}.")
    # what an obfuscated question's organ-system descriptions state
    lines += organ_systems(adj).lines(entity)
    members = getattr(kg, "members", {}).get(entity)
    if members:  # an aligned node of a merged graph: one entity, facts from every source
        known = "; ".join(f"{m.split(':', 1)[0]} as {m.split(':', 1)[1]}" for m in members)
        lines.append(f"Sources: {known}; the facts below come from all of them.")
    for (relation, inverse), (listed, total) in medical_facts(adj, entity).items():
        verb = kg.verbalise(relation, inverse)
        for i in range(0, len(listed), LIST_CHUNK):
            lines.append(f"{node.name} {verb}: {_names(adj, listed[i : i + LIST_CHUNK])}.")
        if total > len(listed):
            lines.append(
                f"({len(listed)} of {total} are listed for '{node.name} {verb}', "
                "the most specific first.)"
            )
    return Document(
        id=f"med:{entity}",
        title=node.name,
        text="\n".join(lines),
        url=MEDICAL_URL + quote(entity, safe=":/"),
        collection="medical",
        entity_id=entity,
    )


def _fact_sentence(adj: Adjacency, entity: str, fact: Fact) -> str:
    name = adj.kg.node(entity).name
    return f"{name} {adj.kg.verbalise(fact.relation, fact.inverse)} {adj.kg.node(fact.other).name}."


_FORUM_OPENERS = (
    "Posted by {user}: Has anyone else been told about {name}? Here is what I found.",
    "Posted by {user}: Sharing my notes on {name} after months of appointments.",
    "Posted by {user}: Our family is still learning about {name}.",
)
_FORUM_REPLIES = (
    "Reply from {user}: My specialist said that {fact}",
    "Reply from {user}: From what I read, {fact}",
    "Reply from {user}: Not a doctor, but I was told {fact}",
)


def web_page(adj: Adjacency, entity: str, style: str, seed: int) -> Document | None:
    """One web page of ``style`` about ``entity`` (``None`` for a ``compare`` page when
    no similar entity exists)."""
    kg = adj.kg
    node = kg.node(entity)
    rng = rng_for(seed, "page", entity, style)
    about = entity
    if style == "summary":
        title = node.name
        url = f"https://www.symptomsummary.example/{slug(node)}"
        lines = [f"Quick facts about {node.name}."]
        if node.definition:
            lines.append(node.definition.split(". ")[0].rstrip(".") + ".")
        lines += [_fact_sentence(adj, entity, f) for f in web_facts(adj, entity, style, seed)]
    elif style == "encyclopedia":
        title = f"{node.name} - Medipedia"
        url = f"https://medipedia.example/wiki/{slug(node)}"
        kind = node.type.replace("_", " ")
        lines = [f"{node.name} is {article(kind)} {kind} ({node.id})."]
        if node.synonyms:
            lines.append(f"Other names: {'; '.join(node.synonyms[:5])}.")
        if node.definition:
            lines.append(node.definition)
        grouped: dict[tuple[str, bool], list[str]] = {}
        for f in web_facts(adj, entity, style, seed):
            grouped.setdefault((f.relation, f.inverse), []).append(f.other)
        for (relation, inverse), others in grouped.items():
            verb = kg.verbalise(relation, inverse)
            lines.append(f"{node.name} {verb} {_names(adj, others)}.")
    elif style == "forum":
        title = f"{node.name} - patient forum thread"
        url = f"https://forum.raretalk.example/t/{slug(node)}"
        user = lambda: f"user{rng.randrange(100, 10000)}"  # noqa: E731
        lines = [rng.choice(_FORUM_OPENERS).format(user=user(), name=node.name)]
        for f in web_facts(adj, entity, style, seed):
            fact = _fact_sentence(adj, entity, f)
            lines.append(rng.choice(_FORUM_REPLIES).format(user=user(), fact=fact))
    elif style == "compare":
        other = similar_entity(adj, entity, seed)
        if other is None:
            return None
        about = other
        o = kg.node(other)
        title = f"{node.name} or {o.name}? Telling them apart"
        url = f"https://www.symptomsummary.example/compare/{slug(node)}/{slug(o)}"
        lines = [f"{node.name} is often confused with {o.name}. This page is about {o.name}."]
        if o.definition:
            lines.append(o.definition)
        lines += [_fact_sentence(adj, other, f) for f in web_facts(adj, other, style, seed)]
    else:
        raise ValueError(f"unknown web page style {style!r}")
    return Document(
        id=f"web:{entity}:{style}",
        title=title,
        text="\n".join(lines),
        url=url,
        collection="web",
        entity_id=about,
    )


def web_styles_for(adj: Adjacency, entity: str, seed: int) -> tuple[str, ...]:
    """Which web pages ``entity`` gets: always a summary and an encyclopedia entry; a forum
    thread for about half of the diseases and phenotypes; a compare page (distractor) for
    about a quarter of all entities."""
    node = adj.kg.node(entity)
    roll = rng_for(seed, "styles", entity).random()
    styles = ["summary", "encyclopedia"]
    if node.type in ("disease", "phenotype") and roll < 0.5:
        styles.append("forum")
    if roll >= 0.75:
        styles.append("compare")
    return tuple(styles)


def page_facts(adj: Adjacency, doc_id: str, seed: int) -> set[tuple[str, str, str]]:
    """The KG edges ``(source, relation, target)`` the KG-rendered page ``doc_id`` states
    (empty for external pages or ids that are not KG pages)."""
    if doc_id.startswith("med:"):
        entity = doc_id[4:]
        if entity not in adj.kg:
            return set()
        return {
            Fact(rel, inv, o).edge(entity)
            for (rel, inv), (listed, _) in medical_facts(adj, entity).items()
            for o in listed
        }
    if doc_id.startswith("web:"):
        entity, _, style = doc_id[4:].rpartition(":")
        if entity not in adj.kg or style not in WEB_FACTS_STYLES:
            return set()
        about = entity
        if style == "compare":
            about = similar_entity(adj, entity, seed)
            if about is None:
                return set()
        return {f.edge(about) for f in web_facts(adj, about, style, seed)}
    return set()


WEB_FACTS_STYLES = frozenset(WEB_STYLES)

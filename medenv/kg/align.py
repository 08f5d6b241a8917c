"""Entity alignment: which nodes of several source graphs are one entity.

Design: aligned nodes are **merged into one node** (not joined by a ``same_as`` edge), so
every consumer (chain search, uniqueness, corpus pages, answer matching) sees one entity
with the edges of all its sources, with no special case. `medenv.kg.merge` builds that
node; this module decides the groups and reports them.

Three methods, applied in this order (a group is labelled with the first that made it):

1. ``file``: a user alignment CSV, header ``left,right[,match]``, one pair of merged node
   ids a row (``hpo:OMIM:154700,hetionet:Disease::DOID:14323``); ``match`` is ``same``
   (default) or ``distinct``. It overrides both other methods: a node named in a ``same``
   row is aligned only as the file says, and a ``distinct`` pair is never joined.
2. ``id``: nodes of different sources that share an identifier (`Node.xrefs`, canonical
   CURIEs, `medenv.kg.ids`). An identifier carried by two or more nodes of one source is
   *ambiguous* and not used; one carried by nodes of incompatible types is a *conflict*
   (reported, not used).
3. ``name`` (off by default): nodes still unaligned whose normalised names or synonyms
   (`normalise`) are equal, of compatible types, one-to-one only: a pair is joined when
   each is the other's only candidate.

Every group holds at most one node per source (a link that would break this is a
conflict). Types are compatible when equal, when one is ``entity`` (untyped), or when
both are in one class of `TYPE_CLASSES` (``phenotype`` ~ ``symptom`` ~ ``side_effect``).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import msgspec

from medenv.errors import DataError
from medenv.kg.graph import KnowledgeGraph, Node
from medenv.kg.loaders.lines import read_lines

MODES = ("none", "ids", "names")  # names = ids + the name matcher
METHODS = ("file", "id", "name")
UNTYPED = "entity"
TYPE_CLASSES = (
    frozenset({"gene", "gene_protein", "protein"}),
    frozenset({"phenotype", "symptom", "side_effect", "effect_phenotype"}),
    frozenset({"compound", "drug"}),
)
FILE_COLUMNS = ("left", "right")
MATCHES = ("same", "distinct")


class AlignOptions(msgspec.Struct, frozen=True):
    """``ids``: align on shared identifiers; ``names``: also run the name matcher;
    ``file``: a user alignment CSV (overrides both)."""

    ids: bool = True
    names: bool = False
    file: str | None = None

    @classmethod
    def of(cls, mode: str = "ids", file: str | Path | None = None) -> AlignOptions:
        """Options from a CLI mode (`MODES`) and an optional alignment file."""
        if mode not in MODES:
            raise ValueError(f"unknown alignment mode {mode!r}; choose one of {MODES}")
        return cls(
            ids=mode != "none", names=mode == "names", file=None if file is None else str(file)
        )


class Conflict(msgspec.Struct, frozen=True):
    """A link not made: ``key`` (an identifier, or ``name:<label>``), the nodes, why."""

    key: str
    nodes: tuple[str, ...]
    types: tuple[str, ...]
    reason: str  # "types" (incompatible types) or "one_per_source"


class Alignment(msgspec.Struct):
    """The groups (canonical node first: the one of the earliest source) and how each
    was made, plus what was refused."""

    groups: list[tuple[str, ...]]
    methods: list[str]
    conflicts: list[Conflict]
    ambiguous: int  # identifiers carried by 2+ nodes of one source (not used)


def compatible(a: str, b: str) -> bool:
    """Whether node types ``a`` and ``b`` may be one entity (module docstring)."""
    if a == b or UNTYPED in (a, b):
        return True
    return any(a in c and b in c for c in TYPE_CLASSES)


def normalise(label: str) -> str:
    """Case-, accent- and punctuation-free form of a name: ``"Type-2 Diabetes"`` ->
    ``"type 2 diabetes"``."""
    text = unicodedata.normalize("NFKD", label).casefold()
    return " ".join(re.findall(r"[0-9a-z]+", text))


def source_of(node_id: str) -> str:
    """The source namespace of a merged node id (``hpo:HP:1`` -> ``hpo``)."""
    return node_id.split(":", 1)[0]


class _Groups:
    """Union-find whose groups hold at most one node per source."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.members: dict[str, dict[str, str]] = {}  # root -> {source: node}
        self.method: dict[str, str] = {}

    def root(self, x: str) -> str:
        while self.parent.get(x, x) != x:
            x = self.parent[x]
        return x

    def group(self, x: str) -> dict[str, str]:
        return self.members.get(self.root(x), {source_of(x): x})

    def link(self, a: str, b: str, method: str) -> bool:
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return True
        ga, gb = self.group(a), self.group(b)
        if set(ga) & set(gb):
            return False
        self.parent[rb] = ra
        self.members[ra] = {**ga, **gb}
        self.members.pop(rb, None)
        self.method[ra] = min(
            (self.method.get(ra, method), self.method.get(rb, method), method),
            key=METHODS.index,
        )
        return True


def read_alignment_file(
    path: Path, nodes: dict[str, Node], sources: Sequence[str]
) -> list[tuple[int, str, str, str]]:
    """``(line, left, right, match)`` rows of a user alignment CSV, checked: header,
    field count, known source namespaces, existing nodes, two sources, compatible types.
    Raises `DataError` naming the file and line."""
    rows: list[tuple[int, str, str, str]] = []
    header: list[str] | None = None
    for lineno, raw in read_lines(path):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        delimiter = "\t" if "\t" in text else ","
        fields = [f.strip() for f in next(csv.reader([text], delimiter=delimiter))]
        if header is None:
            header = [f.lower() for f in fields]
            if tuple(header[:2]) != FILE_COLUMNS or header[2:] not in ([], ["match"]):
                raise DataError(
                    path, f"unexpected header {fields}; expected left,right[,match]", lineno
                )
            continue
        if len(fields) != len(header):
            raise DataError(path, f"expected {len(header)} fields, got {len(fields)}", lineno)
        left, right = fields[0], fields[1]
        match = fields[2].lower() if len(fields) > 2 else "same"
        if match not in MATCHES:
            raise DataError(path, f"match must be same or distinct, got {fields[2]!r}", lineno)
        for node_id in (left, right):
            ns = source_of(node_id)
            if ":" not in node_id or ns not in sources:
                raise DataError(
                    path,
                    f"unknown namespace {ns!r} in {node_id!r}: ids are SOURCE:ID with SOURCE "
                    f"one of {', '.join(sources)}",
                    lineno,
                )
            if node_id not in nodes:
                raise DataError(path, f"no node {node_id!r} in source {ns!r}", lineno)
        if source_of(left) == source_of(right):
            raise DataError(path, f"{left!r} and {right!r} are from the same source", lineno)
        a, b = nodes[left], nodes[right]
        if match == "same" and not compatible(a.type, b.type):
            raise DataError(
                path,
                f"type conflict: {left!r} is a {a.type}, {right!r} is a {b.type}",
                lineno,
            )
        rows.append((lineno, left, right, match))
    if header is None:
        raise DataError(path, "empty file: no header (expected left,right[,match])")
    return rows


def align(graphs: Sequence[tuple[str, KnowledgeGraph]], options: AlignOptions) -> Alignment:
    """The groups of nodes (merged ids ``<source>:<id>``) that are one entity (see the
    module docstring). ``graphs``: ``(namespace, graph)`` in merge order."""
    sources = [ns for ns, _ in graphs]
    nodes: dict[str, Node] = {}
    for ns, g in graphs:
        for node in g.nodes():
            nodes[f"{ns}:{node.id}"] = node
    groups = _Groups()
    conflicts: list[Conflict] = []
    pinned: set[str] = set()
    distinct: dict[frozenset[str], int] = {}  # pair -> its line in the file

    def refused(key: str, ids: Sequence[str], reason: str) -> None:
        conflicts.append(Conflict(key, tuple(ids), tuple(nodes[i].type for i in ids), reason))

    def blocked(a: str, b: str) -> bool:
        if a in pinned or b in pinned:
            return True
        ga, gb = groups.group(a).values(), groups.group(b).values()
        return any(frozenset((x, y)) in distinct for x in ga for y in gb)

    if options.file is not None:
        path = Path(options.file)
        for lineno, left, right, match in read_alignment_file(path, nodes, sources):
            if match == "distinct":
                distinct[frozenset((left, right))] = lineno
                continue
            if not groups.link(left, right, "file"):
                raise DataError(
                    path,
                    f"aligning {left!r} with {right!r} puts two nodes of one source in one entity",
                    lineno,
                )
            pinned.update((left, right))
        for pair, lineno in distinct.items():
            a, b = sorted(pair)
            if groups.root(a) == groups.root(b):
                raise DataError(path, f"{a!r} and {b!r} are marked both same and distinct", lineno)

    ambiguous = 0
    if options.ids:
        by_id: dict[str, list[str]] = {}
        for node_id, node in nodes.items():
            for x in node.xrefs:
                by_id.setdefault(x, []).append(node_id)
        for key in sorted(by_id):
            ids = by_id[key]
            per_source = Counter(source_of(i) for i in ids)
            if len(per_source) < 2:
                continue
            if max(per_source.values()) > 1:
                ambiguous += 1
                continue
            if not all(compatible(nodes[a].type, nodes[b].type) for a in ids for b in ids):
                refused(key, ids, "types")
                continue
            for other in ids[1:]:
                if not blocked(ids[0], other) and not groups.link(ids[0], other, "id"):
                    refused(key, (ids[0], other), "one_per_source")
    if options.names:
        _match_names(nodes, sources, groups, blocked, refused)

    out: list[tuple[str, ...]] = []
    methods: list[str] = []
    order = {ns: i for i, ns in enumerate(sources)}
    for root, members in groups.members.items():
        if len(members) > 1:
            out.append(tuple(sorted(members.values(), key=lambda i: (order[source_of(i)], i))))
            methods.append(groups.method[root])
    ranked = sorted(zip(out, methods, strict=True))
    return Alignment(
        groups=[g for g, _ in ranked],
        methods=[m for _, m in ranked],
        conflicts=conflicts,
        ambiguous=ambiguous,
    )


def name_candidates(
    nodes: dict[str, Node], left: str, right: str, skip: set[str] = frozenset()
) -> list[tuple[str, str]]:
    """One-to-one name matches between sources ``left`` and ``right``: pairs of nodes
    (not in ``skip``) whose normalised labels meet and whose types are compatible, kept
    only when each is the other's only candidate. Sorted."""
    index: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        if source_of(node_id) == right and node_id not in skip:
            for label in {normalise(x) for x in (node.name, *node.synonyms)} - {""}:
                index.setdefault(label, []).append(node_id)
    cands: dict[str, set[str]] = {}
    back: dict[str, set[str]] = {}
    for node_id, node in nodes.items():
        if source_of(node_id) != left or node_id in skip:
            continue
        for label in {normalise(x) for x in (node.name, *node.synonyms)} - {""}:
            for other in index.get(label, ()):
                if compatible(node.type, nodes[other].type):
                    cands.setdefault(node_id, set()).add(other)
                    back.setdefault(other, set()).add(node_id)
    return sorted(
        (a, next(iter(bs)))
        for a, bs in cands.items()
        if len(bs) == 1 and len(back[next(iter(bs))]) == 1
    )


def _match_names(nodes, sources, groups: _Groups, blocked, refused) -> None:
    for i, left in enumerate(sources):
        for right in sources[i + 1 :]:
            # nodes already aligned with a node of the other source take no part
            skip = {
                n
                for n in nodes
                if source_of(n) in (left, right)
                and len(groups.group(n)) > 1
                and {left, right} <= set(groups.group(n))
            }
            for a, b in name_candidates(nodes, left, right, skip):
                if not blocked(a, b) and not groups.link(a, b, "name"):
                    refused(f"name:{normalise(nodes[a].name)}", (a, b), "one_per_source")

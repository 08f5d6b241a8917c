"""The edge-list reader by columns, for PrimeKG-layout files (issue 19: 4M edges in seconds).

`read_primekg` parses the file with pyarrow's CSV reader into string columns, strips them
as `str.strip` does, dictionary-encodes the node ids (``<type>::<id>``), and computes the
graph with numpy: nodes in order of first mention (row by row, ``x`` before ``y``), each
with its first name given (later different names its synonyms, in order) and its
cross-references merged in order; relations by their first
(relation, display relation) pair; edges deduplicated on (source, target, relation) keeping
the first row; then the compact form's successor and predecessor orders
(`medenv.kg.compact`). No Python object is made per edge: per distinct node, relation pair
and cross-reference field only.

It returns None for any file it does not take: a row pyarrow cannot parse (wrong field
count, bad UTF-8, an unterminated quote), an empty id, type or relation, a bad
cross-reference, or no rows. The row reader (`edgelist_rows`) then reads the file and
raises the error naming file and line (or builds the graph). The result equals the row
reader's graph: nodes, edges, attributes and all iteration orders (tested).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv
from tqdm import tqdm

from medenv.errors import DataError
from medenv.kg.compact import CompactGraph
from medenv.kg.graph import KnowledgeGraph, Node, Relation
from medenv.kg.loaders.edgelist_format import (
    PRIMEKG_SOURCE_NAMESPACE,
    generic_relation,
    relation_name,
    type_name,
    xrefs_of,
)

# the characters `str.strip()` removes (`str.isspace`), so a column strips as a field does
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_STEPS = ("parse", "nodes", "relations", "edges", "orders")


def read_primekg(
    path: Path, version: str, header: list[str], delimiter: str, *, progress: bool = True
) -> KnowledgeGraph | None:
    """The graph of a PrimeKG-layout file, or None when the row reader must read it (see
    the module docstring)."""
    with tqdm(_STEPS, desc=f"reading {path.name}", leave=False, disable=not progress) as bar:
        form = _read(path, header, delimiter, bar)
    if form is None:
        return None
    form, relations = form
    kg = KnowledgeGraph.of_compact("edgelist", version, relations.values(), form)
    kg.layout = "primekg"  # the credit line names PrimeKG only for its layout (kg.credits)
    return kg


def _read(path: Path, header: list[str], delimiter: str, bar):
    """``(compact form, relations)``, or None (see the module docstring)."""
    try:
        table = _parse(path, header, delimiter)
    except (pa.ArrowException, OSError, EOFError):
        return None
    bar.update()
    if table.num_rows == 0:
        return None
    cols = {name: _strip(table.column(name)) for name in table.column_names}
    del table
    if any(_has_nul(c) for c in cols.values()):
        return None  # a NUL byte: the row reader names its line
    nodes = _nodes(path, cols)
    if nodes is None:
        return None
    node_list, codes = nodes
    bar.update()
    rels = _relations(cols)
    if rels is None:
        return None
    relations, rel_of_row, words_of_row, words = rels
    bar.update()
    return _edges(
        node_list, codes, rel_of_row, words_of_row, words, list(relations), bar
    ), relations


def _parse(path: Path, header: list[str], delimiter: str) -> pa.Table:
    compression = "gzip" if path.name.endswith(".gz") else None
    with pa.input_stream(str(path), compression=compression) as stream:
        return pacsv.read_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )


def _has_nul(arr: pa.Array) -> bool:
    """Whether a string array's values hold a NUL (one vectorised scan of the bytes its
    offsets span: a buffer may be longer, e.g. zero padding)."""
    _, offsets, data = arr.buffers()
    if data is None or not len(arr):
        return False
    kind = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=kind)[[arr.offset, arr.offset + len(arr)]]
    return bool((np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[1]] == 0).any())


def _strip(column: pa.ChunkedArray) -> pa.Array:
    return pc.utf8_trim(column.combine_chunks(), characters=PY_WHITESPACE)


def _empty(arr: pa.Array) -> bool:
    return bool(pc.any(pc.equal(pc.binary_length(arr), 0)).as_py())


def _encode(arr: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes (int64) and the dictionary's values."""
    enc = pc.dictionary_encode(arr)
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.to_pylist()


def _in_order(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values, first, codes)``: the distinct values of ``keys`` (non-negative ints) in
    order of first appearance, the index of each one's first appearance, and each key's
    position in ``values``."""
    n = len(keys)
    size = int(keys.max()) + 1 if n else 0
    if size <= 4 * n + 1024:  # dense: no sort of the keys
        first = np.full(size, n, dtype=np.int64)
        np.minimum.at(first, keys, np.arange(n, dtype=np.int64))
        values = np.flatnonzero(first < n)
        order = np.argsort(first[values], kind="stable")
        values = values[order]
        lookup = np.empty(size, dtype=np.int64)
        lookup[values] = np.arange(len(values))
        return values, first[values], lookup[keys]
    values, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values))
    return values[order], first[order], rank[inverse.reshape(-1)]


def _nodes(path: Path, cols: dict[str, pa.Array]) -> tuple[list[Node], np.ndarray] | None:
    """The nodes in order of first mention, and each mention's node position (``2 * row``
    for ``x``, ``2 * row + 1`` for ``y``); None for an empty id or type or a bad xref."""
    for name in ("x_id", "x_type", "y_id", "y_type"):
        if _empty(cols[name]):
            return None
    rows = len(cols["x_id"])
    keys = pa.concat_arrays(
        [pc.binary_join_element_wise(cols[f"{s}_type"], cols[f"{s}_id"], "::") for s in "xy"]
    )
    codes, ids = _encode(keys)
    mentions = np.empty(2 * rows, dtype=np.int64)  # row by row, x then y
    mentions[0::2], mentions[1::2] = codes[:rows], codes[rows:]
    values, first, position = _in_order(mentions)  # node i is dictionary entry values[i]
    at = (first % 2) * rows + first // 2  # into the x-then-y concatenation
    types = pa.concat_arrays([cols["x_type"], cols["y_type"]]).take(pa.array(at)).to_pylist()
    names, synonyms = _names(cols, rows, first, position)
    node_ids = [ids[i] for i in values.tolist()]
    xrefs = _xrefs(path, cols, position, rows, node_ids)
    if xrefs is None:
        return None
    node_list = [
        Node(node_id, type_name(kind), name or node_id, synonyms.get(i, ()), xrefs=xrefs.get(i, ()))
        for i, (node_id, kind, name) in enumerate(zip(node_ids, types, names, strict=True))
    ]
    return node_list, position


def _names(
    cols: dict[str, pa.Array], rows: int, first: np.ndarray, position: np.ndarray
) -> tuple[list[str], dict[int, tuple[str, ...]]]:
    """Each node's name and its synonyms as the row reader gives them: the first name given
    (empty: none yet) is the name, other names in later rows synonyms in order of mention.
    Per mention one string comparison with its node's first name; Python work only for the
    mentions that differ."""
    every = pa.concat_arrays([cols["x_name"], cols["y_name"]])  # x rows, then y rows
    at = pa.array((first % 2) * rows + first // 2)  # each node's first mention in `every`
    own = every.take(at)
    node_of = np.concatenate([position[0::2], position[1::2]])  # each mention's node
    differs = pc.and_(
        pc.not_equal(every, own.take(pa.array(node_of))), pc.not_equal(every, "")
    ).to_numpy(zero_copy_only=False)
    names = own.to_pylist()
    other = np.flatnonzero(differs)
    if not len(other):
        return names, {}
    other = other[np.argsort((other % rows) * 2 + other // rows, kind="stable")]  # row order
    synonyms: dict[int, list[str]] = {}
    values = every.take(pa.array(other)).to_pylist()
    for node, name in zip(node_of[other].tolist(), values, strict=True):
        if not names[node]:
            names[node] = name
        elif name != names[node] and name not in synonyms.setdefault(node, []):
            synonyms[node].append(name)
    return names, {k: tuple(v) for k, v in synonyms.items() if v}


def _xrefs(
    path: Path, cols: dict[str, pa.Array], mentions: np.ndarray, rows: int, node_ids: list[str]
) -> dict[int, tuple[str, ...]] | None:
    """Each node's cross-references (from ``*_xrefs`` and ``*_source``), merged in order
    of mention as the row reader merges them; the work is per distinct (side, node,
    source, xref field), not per row. None for a bad cross-reference."""
    todo: list[tuple[int, int, str | None, str | None]] = []  # (mention, node, ns, field)
    for k, side in enumerate("xy"):
        node = mentions[k::2]
        ns = np.full(rows, -1, dtype=np.int64)
        spaces: list[str] = []
        if f"{side}_source" in cols:
            scodes, sources = _encode(cols[f"{side}_source"])
            found = [PRIMEKG_SOURCE_NAMESPACE.get(s.strip().upper()) for s in sources]
            spaces = sorted({s for s in found if s is not None})
            lookup = np.array([-1 if s is None else spaces.index(s) for s in found], np.int64)
            ns = lookup[scodes]
        raw = np.full(rows, -1, dtype=np.int64)
        fields: list[str] = []
        if f"{side}_xrefs" in cols:  # stripped: empty means empty or blank, as for the rows
            column = cols[f"{side}_xrefs"]
            rcodes, fields = _encode(column)
            raw = np.where(pc.binary_length(column).to_numpy(zero_copy_only=False) > 0, rcodes, -1)
        keep = np.flatnonzero((ns >= 0) | (raw >= 0))
        if not len(keep):
            continue
        key = (node[keep] * (len(spaces) + 1) + ns[keep] + 1) * (len(fields) + 1) + raw[keep] + 1
        _, first, _ = _in_order(key)
        for i in keep[first].tolist():
            space = spaces[ns[i]] if ns[i] >= 0 else None
            todo.append((2 * i + k, int(node[i]), space, fields[raw[i]] if raw[i] >= 0 else None))
    todo.sort()
    merged: dict[int, dict[str, None]] = {}
    for mention, n, space, field in todo:
        found: tuple[str, ...] = ()
        if field is not None:
            try:
                found = xrefs_of(path, mention // 2 + 2, field)
            except DataError:
                return None
        if space is not None:
            found = (f"{space}:{node_ids[n].split('::', 1)[1]}", *found)
        merged.setdefault(n, {}).update(dict.fromkeys(found))
    return {n: tuple(refs) for n, refs in merged.items()}


def _relations(cols: dict[str, pa.Array]):
    """``(relations by name, relation code of each row, words code of each row (-1: none),
    words)``, deciding each (relation, display) pair as the row reader does, in order of
    first appearance; None for an empty or unusable relation."""
    rcodes, rels = _encode(cols["relation"])
    if "display_relation" in cols:
        dcodes, displays = _encode(cols["display_relation"])
    else:
        dcodes, displays = np.zeros(len(rcodes), dtype=np.int64), [""]
    values, _, inverse = _in_order(rcodes * len(displays) + dcodes)
    relations: dict[str, Relation] = {}
    pair_rel = np.empty(len(values), dtype=np.int64)
    pair_words = np.full(len(values), -1, dtype=np.int64)
    words_list: list[str] = []
    for p, value in enumerate(values.tolist()):
        relation, display = rels[value // len(displays)], displays[value % len(displays)]
        name = relation_name(relation)
        if not relation or not name:
            return None
        words = display or relation
        if name not in relations:
            relations[name] = generic_relation(name, words)
        elif relations[name] != generic_relation(name, words):
            pair_words[p] = len(words_list)  # e.g. PrimeKG drug_protein: carrier
            words_list.append(words)
        pair_rel[p] = list(relations).index(name)
    return relations, pair_rel[inverse], pair_words[inverse], words_list


def _edges(
    nodes: list[Node],
    mentions: np.ndarray,
    rel: np.ndarray,
    words_of_row: np.ndarray,
    words: list[str],
    rel_names: list[str],
    bar,
) -> CompactGraph:
    """The compact form: edges deduplicated (first row kept), in successor order, and the
    predecessor order (`medenv.kg.compact`)."""
    n, r, e = len(nodes), max(len(rel_names), 1), len(rel)
    src, dst = mentions[0::2], mentions[1::2]
    key = (src * n + dst) * r + rel
    perm = np.argsort(key, kind="stable")  # by (pair, relation), then row
    ordered = key[perm]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    keep = np.zeros(e, dtype=bool)
    keep[perm[starts]] = True  # the first row of each (source, target, relation)
    pair = ordered // r
    pair_starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    first_of_pair = np.minimum.reduceat(perm, pair_starts)  # a pair's first row
    pf = np.empty(e, dtype=np.int64)
    pf[perm] = np.repeat(first_of_pair, np.diff(np.r_[pair_starts, e]))
    del key, perm, ordered, pair
    keep = np.flatnonzero(keep)
    src, dst, rel, pf, words_of_row = src[keep], dst[keep], rel[keep], pf[keep], words_of_row[keep]
    bar.update()
    # successor order: by source, its targets by first row (networkx's insertion order),
    # a pair's relations by row (stable); predecessor order: the same by target
    succ = np.argsort(src * e + pf, kind="stable")
    src, dst, rel, pf, words_of_row = src[succ], dst[succ], rel[succ], pf[succ], words_of_row[succ]
    pred = np.argsort(dst * e + pf, kind="stable")
    bar.update()
    attrs = {
        int(i): {"display_relation": words[w]}
        for i, w in zip(
            np.flatnonzero(words_of_row >= 0).tolist(),
            words_of_row[words_of_row >= 0].tolist(),
            strict=True,
        )
    }
    return CompactGraph(
        Node, msgspec.msgpack.encode(nodes), {}, src, dst, rel, rel_names, attrs, pred, {}
    )

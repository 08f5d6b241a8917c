"""The edge-list reader by columns (`medenv.kg.loaders.edgelist_columns`) against the row
reader (`edgelist_rows`: csv module, one row at a time), on PrimeKG-layout files written
with every feature and quirk of the format; bad rows still name file and line."""

from __future__ import annotations

import gzip
import random
import sys

import pytest

from medenv.errors import DataError
from medenv.kg.compact import CompactGraph
from medenv.kg.loaders import edgelist, edgelist_columns, edgelist_rows

HEADER = "x_id,x_type,x_name,x_source,x_xrefs,relation,display_relation,y_id,y_type,y_name,y_source"
TYPES = ["drug", "gene/protein", "disease", "effect/phenotype"]
RELATIONS = [  # (relation as written, display relations seen for it)
    ("drug_protein", ["target", "carrier", "enzyme", ""]),
    ("indication", ["indication"]),
    ("off-label use", ["off-label use"]),
    ("off_label_use", ["off label"]),  # the same snake-case name, other words
    ("disease_phenotype_positive", ["phenotype present"]),
]
PADS = ["", " ", "\t", "\xa0", " \u2003"]  # str.strip() removes them all


def _field(text: str, rng: random.Random, delimiter: str) -> str:
    text = rng.choice(PADS) + text + rng.choice(PADS)
    if delimiter in text or rng.random() < 0.1:
        return '"' + text.replace('"', '""') + '"'
    return text


def _primekg_text(seed: int, rows: int, delimiter: str = ",", newline: str = "\n") -> str:
    """A PrimeKG-layout file: duplicate rows, several relations per pair, self-loops,
    nodes first seen as ``y``, names with the delimiter and quotes, padded fields, known and
    unknown sources, xref lists, an empty line."""
    rng = random.Random(seed)
    out = [HEADER.replace(",", delimiter)]
    for i in range(rows):
        if i and rng.random() < 0.08:  # a duplicate of an earlier row
            out.append(out[rng.randrange(1, len(out))])
            continue
        if rng.random() < 0.02:
            out.append("")
            continue
        x_type, y_type = rng.choice(TYPES), rng.choice(TYPES)
        x_id = str(rng.randrange(12))
        y_id = x_id if rng.random() < 0.05 else str(rng.randrange(12))
        if rng.random() < 0.05:
            y_type = x_type  # possibly a self-loop
        relation, displays = rng.choice(RELATIONS)
        name = rng.choice([f"name {x_id}", f'say "{x_id}", then', f"n{delimiter}{x_id}", ""])
        xrefs = rng.choice(["", "", "MONDO:0005148", "NCBIGene:2200;HGNC:3603", "  "])
        fields = [
            x_id,
            x_type,
            name,
            rng.choice(["NCBI", "DrugBank", "MONDO", " ncbi "]),
            xrefs,
            relation,
            rng.choice(displays),
            y_id,
            y_type,
            f"{y_type} {y_id}",
            rng.choice(["NCBI", "DRUGBANK", "REACTOME"]),
        ]
        out.append(delimiter.join(_field(f, rng, delimiter) for f in fields))
    return newline.join(out) + newline


def _both(path):
    delimiter, header, layout = edgelist.read_header(path)
    assert layout == "primekg"
    fast = edgelist_columns.read_primekg(path, "v", header, delimiter, progress=False)
    slow = edgelist_rows.read_rows(path, "v", header, delimiter, layout, False)
    return fast, slow


def _assert_same(fast, slow):
    assert fast is not None, "the columnar reader left the file to the row reader"
    assert fast._graph is None  # built as arrays, no networkx graph
    assert fast.compact_form() == CompactGraph.of(slow.graph)  # nodes, edges, attrs, orders
    assert list(fast.relations.items()) == list(slow.relations.items())
    assert fast.layout == slow.layout == "primekg"
    labels = {k: sorted(v) for k, v in fast._by_name.items()}
    assert labels == {k: sorted(v) for k, v in slow._by_name.items()}
    g = fast.compact_form().to_networkx()
    for u in g:  # every iteration order of the networkx view
        assert list(g._succ[u].items()) == list(slow.graph._succ[u].items())
        assert list(g._pred[u].items()) == list(slow.graph._pred[u].items())
        for v in g._pred[u]:
            assert g._pred[u][v] is g._succ[v][u]


@pytest.mark.parametrize("seed", range(6))
def test_columns_read_the_graph_the_row_reader_reads(tmp_path, seed):
    delimiter = ",\t|;"[seed % 4]
    newline = "\r\n" if seed % 2 else "\n"
    path = tmp_path / ("kg.csv.gz" if seed == 5 else "kg.csv")
    text = _primekg_text(seed, 400, delimiter, newline)
    if seed == 5:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8", newline="")
    fast, slow = _both(path)
    _assert_same(fast, slow)
    assert slow.num_edges > 100
    shown = {e.attrs.get("display_relation") for e in slow.edges("drug_protein")}
    assert len(shown) > 1  # some edges keep their own display relation
    assert any(n.xrefs for n in slow.nodes())
    whole = edgelist.load_edgelist(path, progress=False)  # the public entry takes columns
    slow.version = whole.version  # the file name and digest; "v" above
    assert whole._graph is None and whole == slow


def test_columns_with_minimal_primekg_columns(tmp_path):
    path = tmp_path / "min.csv"
    rows = ["x_id,x_type,x_name,relation,y_id,y_type,y_name"]
    rows += [f"{i % 7},drug,d{i % 7},indication,{i % 5},disease,s{i % 5}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    _assert_same(*_both(path))


def test_python_whitespace_is_what_str_strip_removes():
    spaces = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert sorted(edgelist_columns.PY_WHITESPACE) == sorted(spaces)


GOOD = "x_id,x_type,x_name,relation,display_relation,y_id,y_type,y_name\n" + "".join(
    f"{i},drug,d{i},indication,indication,{i},disease,s{i}\n" for i in range(1, 9)
)


@pytest.mark.parametrize(
    ("bad_row", "message", "line"),
    [
        ("1,drug,d,indication,indication,2,disease", "expected 8 fields, got 7", 7),
        (" ,drug,d,indication,indication,2,disease,s", "empty x_id or x_type", 7),
        ("1,drug,d,indication,indication,2, ,s", "empty y_id or y_type", 7),
        ("1,drug,d, ,indication,2,disease,s", "empty relation", 7),
        ("1,drug,d,---,indication,2,disease,s", "unusable relation", 7),
        # an unterminated quote runs to the end of the file: put last (line 10)
        ('1,drug,"d,indication,indication,2,disease,s', "expected 8 fields, got 3", 10),
    ],
)
def test_a_bad_row_names_file_and_line(tmp_path, bad_row, message, line):
    lines = GOOD.splitlines()
    lines.insert(line - 1, bad_row)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    delimiter, header, _ = edgelist.read_header(path)
    assert edgelist_columns.read_primekg(path, "v", header, delimiter, progress=False) is None
    with pytest.raises(DataError, match=message) as err:
        edgelist.load_edgelist(path, progress=False)
    assert err.value.path == str(path) and err.value.line == line
    assert f"bad.csv:{line}:" in str(err.value)


def test_a_quoted_newline_reads_as_the_row_reader_reads_it(tmp_path):
    lines = GOOD.splitlines()
    lines.insert(6, '77,drug,"d\nmore",indication,indication,2,disease,"s\r\n"')
    path = tmp_path / "nl.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    fast, slow = _both(path)
    _assert_same(fast, slow)
    assert slow.node("drug::77").name == "d\nmore"


def test_bad_xref_and_bad_bytes_name_their_line(tmp_path):
    path = tmp_path / "x.csv"
    head = "x_id,x_type,x_name,x_xrefs,relation,y_id,y_type,y_name\n"
    rows = [f"{i},drug,d,DRUGBANK:DB{i},indication,{i},disease,s\n" for i in range(9)]
    rows[4] = "4,drug,d,NOPE:1,indication,4,disease,s\n"  # line 6
    path.write_text(head + "".join(rows), encoding="utf-8")
    with pytest.raises(DataError, match="NOPE") as err:
        edgelist.load_edgelist(path, progress=False)
    assert err.value.line == 6
    data = (head + "".join(rows[:4] + rows[5:])).encode()
    path.write_bytes(data.replace(b"d,DRUGBANK:DB7", b"d\xff,DRUGBANK:DB7"))
    with pytest.raises(DataError, match="not valid UTF-8") as err:
        edgelist.load_edgelist(path, progress=False)
    assert err.value.line == 8  # DB7's row: header, DB0..DB3, DB5, DB6, DB7


def test_a_header_only_file_has_no_edges(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(GOOD.splitlines()[0] + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="no edges"):
        edgelist.load_edgelist(path, progress=False)


def test_quote_quirks_read_as_the_row_reader_reads_them(tmp_path):
    path = tmp_path / "q.csv"
    rows = ['1,drug,"ab"c,indication,2,disease,s', '3,drug,a"b,indication,2,disease,s',
            '4,drug, "q",indication,2,disease,s', '5,drug,"x""y",indication,2,disease,s']  # fmt: skip
    path.write_text("x_id,x_type,x_name,relation,y_id,y_type,y_name\n" + "\n".join(rows) + "\n")
    fast, slow = _both(path)
    _assert_same(fast, slow)
    assert [n.name for n in slow.nodes()] == ["abc", "s", 'a"b', '"q"', 'x"y']

"""The shipped default QA set (`medenv.shipped_qa`) is what the code synthesizes.

The package ships the default set so that a cold cache need not synthesize it; these tests
make sure the shipped file cannot drift from the code: its key is the default set's current
key, a freshly synthesized slice of the default settings is byte-identical to its first
items (synthesis is sequential over seeds, so a smaller ``n`` gives a prefix; tested
independently in tests/test_synth.py), and the installed folder holds exactly its bytes.
After a change that alters the default set, ``make default-set`` re-ships it.
"""

from __future__ import annotations

import gzip
import hashlib
import json

import msgspec
import pyarrow.parquet as pq
import pytest

from medenv.kg.cache import load_kg
from medenv.questions import DEFAULT_N, default_qa_set, default_synth_config
from medenv.shipped_qa import SHIPPED_DIR, install_shipped, shipped_header, write_shipped
from medenv.synth.io import read_qa_set
from medenv.synth.pipeline import synthesize
from medenv.world import load_world

SLICE = 20  # items re-synthesized (the first ones of the default order; was 40)


@pytest.fixture(scope="module")
def shipped():
    header = shipped_header("hpo")
    assert header is not None, f"no default set shipped in {SHIPPED_DIR}"
    data = gzip.decompress((SHIPPED_DIR / "hpo.jsonl.gz").read_bytes())
    return header, data


def test_the_shipped_key_is_the_default_sets_current_key(shipped):
    header, data = shipped
    folder = default_qa_set(progress=False)  # named by the current KG, synthesis and world
    assert header["name"] == folder.name, "stale shipped default set: run `make default-set`"
    assert header["manifest"]["config"] == json.loads(msgspec.json.encode(default_synth_config()))
    assert header["manifest"]["files"]["qa.jsonl"] == hashlib.sha256(data).hexdigest()
    assert header["manifest"]["files"]["items"] == DEFAULT_N == data.count(b"\n")
    # the set the tests use (installed from the shipped file or synthesized) is that file
    assert (folder / "qa.jsonl").read_bytes() == data


def test_a_fresh_slice_of_the_default_settings_is_byte_identical(shipped):
    _, data = shipped
    kg = load_kg("hpo", progress=False)
    world = load_world(progress=False)
    # in two worker processes (`medenv.synth.parallel`), as the default set is built
    result = synthesize(kg, default_synth_config(n=SLICE), world=world, progress=False, workers=2)
    encoder = msgspec.json.Encoder(order="deterministic")
    fresh = [encoder.encode(item) for item in result.items]
    assert fresh == data.splitlines()[:SLICE]
    # the slice reaches every hop length and split, and a described (unnamed) seed
    assert {i.n_hops for i in result.items} == {2, 3, 4}
    assert len({i.split for i in result.items}) == 3
    assert any(c.node == 0 for i in result.items for c in i.constraints)


def test_install_writes_the_synthesized_files_or_nothing(shipped, tmp_path):
    header, data = shipped
    name, config = header["name"], default_synth_config()
    folder = tmp_path / name
    assert install_shipped("hpo", name, config, folder)
    assert (folder / "qa.jsonl").read_bytes() == data
    written = json.loads((folder / "manifest.json").read_text())
    assert written == header["manifest"]
    items = read_qa_set(folder)
    assert len(items) == DEFAULT_N
    rows = pq.read_table(folder / "qa.parquet").to_pylist()  # the same rows, as Parquet
    assert [r["id"] for r in rows] == [i.id for i in items]
    full = json.loads(msgspec.json.encode(items[0]))
    assert rows[0] == {k: full[k] for k in rows[0]}
    # another key, other settings (e.g. another obfuscation level) or a damaged file: nothing
    other = tmp_path / "other"
    assert not install_shipped("hpo", name + "x", config, other)
    changed = msgspec.structs.replace(config, obfuscation=(config.obfuscation + 1) % 3)
    assert not install_shipped("hpo", name, changed, other)
    assert not install_shipped("hetionet", name, config, other)  # none shipped
    where = tmp_path / "shipped"
    write_shipped("hpo", name, folder, where)  # re-shipping the installed set: same files
    assert (where / "hpo.jsonl.gz").read_bytes() == (SHIPPED_DIR / "hpo.jsonl.gz").read_bytes()
    assert shipped_header("hpo", where) == header
    (where / "hpo.jsonl.gz").write_bytes(gzip.compress(data.replace(b"?", b"!", 1), mtime=0))
    assert not install_shipped("hpo", name, config, other, where)
    (where / "hpo.jsonl.gz").write_bytes(b"not gzip")
    assert not install_shipped("hpo", name, config, other, where)
    assert not other.exists() and not list(tmp_path.glob("other.tmp*"))

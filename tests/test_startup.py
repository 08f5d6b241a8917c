"""Start-up: the default question set is named without loading the knowledge graph or the
world once it has been built (issue 19)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import msgspec
import pytest

from medenv import world_memo
from medenv.corpus.build import cached_corpus
from medenv.errors import MedenvError
from medenv.kg.cache import load_kg
from medenv.questions import load_questions
from medenv.world import World, load_world

ROOT = Path(__file__).resolve().parents[1]

NAME_ONLY = textwrap.dedent(
    """
    import gc, sys
    from medenv.questions import default_qa_set
    from medenv.kg.graph import KnowledgeGraph
    folder = default_qa_set(progress=False)
    loaded = any(isinstance(o, KnowledgeGraph) for o in gc.get_objects())
    print(folder, "medenv.world" in sys.modules, loaded)
    """
)


def test_default_qa_set_is_named_without_loading_the_world():
    from medenv.questions import _names_file, _recipe, default_qa_set

    folder = default_qa_set(progress=False)  # loads (or builds) once, records the name
    known = json.loads(_names_file().read_text())
    assert known[_recipe("hpo")] == folder.name
    out = subprocess.run(
        [sys.executable, "-c", NAME_ONLY], capture_output=True, text=True, check=True,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout.split()  # fmt: skip
    assert out == [str(folder), "False", "False"]


def test_a_recorded_name_whose_folder_is_gone_is_not_trusted(tmp_path, monkeypatch):
    """A recipe mapped to a folder that does not exist falls back to naming from the world."""
    from medenv import questions

    monkeypatch.setattr(questions, "_names_file", lambda: tmp_path / "names.json")
    (tmp_path / "names.json").write_text(json.dumps({questions._recipe("hpo"): "gone"}))
    folder = questions.default_qa_set(progress=False)
    assert folder.name != "gone" and (folder / "manifest.json").is_file()
    assert (
        json.loads((tmp_path / "names.json").read_text())[questions._recipe("hpo")] == folder.name
    )


@pytest.fixture(scope="module")
def world():
    """The default world, loaded (its header is stored by the first `load_world`)."""
    return load_world(progress=False).load()


LAZY_RESET = textwrap.dedent(
    """
    import gc, json, sys
    import gymnasium as gym
    import medenv
    from medenv.kg.graph import KnowledgeGraph
    env = gym.make("MedResearch-v0", db=None)
    env.reset(seed=0)
    world = env.unwrapped.world
    before = {"loaded": world.loaded, "networkx": "networkx" in sys.modules,
              "graphs": sum(isinstance(o, KnowledgeGraph) for o in gc.get_objects())}
    name = env.unwrapped.item.question.split()[0]
    env.step({"name": "medical_search", "arguments": {"query": name}})
    print(json.dumps({"before": before, "after": world.loaded,
                      "fingerprint": world.fingerprint, "index_hash": world.index_hash}))
    """
)


def test_reset_does_not_load_the_world_and_the_first_tool_call_does(world):
    """With the header stored (the world fixture's `load_world` wrote it), a fresh process resets
    without the KG, corpus or networkx; the first tool call loads them, and the header's
    fingerprint and index hash are those of the world built eagerly here."""
    kg = load_kg("hpo", progress=False)
    eager = World.from_corpus(kg, cached_corpus(kg, seed=0, progress=False))
    out = subprocess.run(
        [sys.executable, "-c", LAZY_RESET], capture_output=True, text=True, check=True,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout.splitlines()[-1]  # fmt: skip
    got = json.loads(out)
    assert got["before"] == {"loaded": False, "networkx": False, "graphs": 0}
    assert got["after"] is True
    assert (got["fingerprint"], got["index_hash"]) == (eager.fingerprint, eager.index_hash)


def _header(world, **changes):
    return msgspec.structs.replace(world_memo.header_of(world), **changes)


def test_a_header_that_does_not_match_the_parts_is_refused_at_load(world):
    parts = (world.kg, world.corpus, world.medical_index, world.web_index)
    lazy = World.lazy(_header(world, fingerprint="0" * 16), lambda: parts)
    assert not lazy.loaded and lazy.fingerprint == "0" * 16
    with pytest.raises(MedenvError, match="caches changed"):
        lazy.kg  # noqa: B018
    good = World.lazy(_header(world), lambda: parts)
    assert good.kg is world.kg and good.loaded and good.index("web") is world.web_index


def test_a_lazy_world_checks_questions_from_its_header_without_loading(world):
    """A question naming an entity absent from the graph is refused at reset from the
    header's node ids; the loader is never called."""

    def never():
        raise AssertionError("the world was loaded")

    item = load_questions()[0]
    lazy = World.lazy(_header(world), never)
    env = gym.make("MedResearch-v0", qa=[item], world=lazy, db=None)
    env.reset(seed=0)  # every entity is in the header's ids
    assert not lazy.loaded
    bad = msgspec.structs.replace(item, answer_id="HP:9999999")
    env = gym.make("MedResearch-v0", qa=[bad], world=World.lazy(_header(world), never), db=None)
    with pytest.raises(MedenvError, match="HP:9999999"):
        env.reset(seed=0)
    # the summary agrees with the graph on every node (a second, plain reading of the ids)
    summary = lazy.kg_summary
    assert len(summary) == world.kg.graph.number_of_nodes()
    assert all(n.id in summary for n in world.kg.nodes()) and "HP:9999999" not in summary


def test_unreadable_or_other_format_headers_are_ignored(tmp_path, monkeypatch, world):
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path))  # the world is loaded: only headers move
    memo = world_memo.memo_dir()
    assert memo == tmp_path / "world"
    assert world_memo.read_header("k") is None
    memo.mkdir(parents=True, exist_ok=True)
    (memo / "k.msgpack").write_bytes(b"\x00garbage")
    assert world_memo.read_header("k") is None
    world_memo.write_header("k", _header(world, format=world_memo.HEADER_FORMAT + 1))
    assert world_memo.read_header("k") is None
    world_memo.write_header("k", _header(world))
    assert world_memo.read_header("k") == _header(world)
    assert msgspec.msgpack.decode((memo / "k.msgpack").read_bytes())["kg_source"] == "hpo"


def test_the_header_key_changes_with_what_the_world_is_made_of(tmp_path):
    kg_file = tmp_path / "hpo-2025-01-16-abc.pkl"
    base = world_memo.memo_key(kg_file, "tantivy", 0)
    others = {
        world_memo.memo_key(kg_file, "whoosh", 0),
        world_memo.memo_key(kg_file, "tantivy", 1),
        world_memo.memo_key(tmp_path / "hpo-2025-01-16-abd.pkl", "tantivy", 0),
    }
    assert base == world_memo.memo_key(kg_file, "tantivy", 0) and base not in others
    assert len(others) == 3


def test_a_forked_worker_uses_the_world_its_parent_loaded(world):
    """After ``load_world().load()`` in the parent, a forked child's `load_world` returns the
    loaded world (its pages shared copy-on-write), not a lazy one it would load again."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        loaded, fingerprint = pool.apply(_child_world)
    assert loaded is True and fingerprint == world.fingerprint


def _child_world() -> tuple[bool, str]:
    child = load_world(progress=False)
    return child.loaded, child.fingerprint

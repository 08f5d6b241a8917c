"""Start-up: the default question set is named without loading the knowledge graph or the
world once it has been built (issue 19)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
    assert json.loads((tmp_path / "names.json").read_text())[questions._recipe("hpo")] == folder.name

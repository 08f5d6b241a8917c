"""``agents/`` and ``training/`` install as ``medenv.agents`` and ``medenv.training`` (no
top-level ``agents`` package to clash with e.g. the OpenAI Agents SDK): the wheel built with
pip, and the same names from a source checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"medenv.agents": "agents", "medenv.training": "training"}


def _package_folders() -> dict[str, Path]:
    """Every package the source tree holds, by its installed name."""
    out = {}
    for init in sorted((ROOT / "medenv").rglob("__init__.py")):
        out[".".join(init.parent.relative_to(ROOT).parts)] = init.parent
    for name, folder in FOLDERS.items():
        out[name] = ROOT / folder
    return out


def test_pyproject_lists_every_package_and_maps_the_two_folders():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert sorted(config["packages"]) == sorted(_package_folders())
    assert config["package-dir"] == FOLDERS


def test_the_wheel_holds_medenv_only_with_agents_and_training_inside(tmp_path):
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.split()  # fmt: skip
    src = tmp_path / "src"
    for f in files:  # a copy: the build writes build/ and egg-info beside the sources
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            (src / f).write_bytes((ROOT / f).read_bytes())
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist")], cwd=src, check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = list((tmp_path / "dist").glob("medenv-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {n.split("/")[0] for n in names} == {"medenv", "medenv-0.1.0.dist-info"}
    expected = {
        f"{name.replace('.', '/')}/{py.name}"
        for name, folder in _package_folders().items()
        for py in folder.glob("*.py")
    }
    assert expected <= names
    assert "medenv/agents/rollout.py" in names and "medenv/training/grpo.py" in names


def test_source_checkout_imports_the_same_names_without_top_level_packages(tmp_path):
    code = (
        "import sys, medenv.agents.rollout as r, medenv.training.export as e;"
        "print(r.__file__); print(e.__file__);"
        "print('agents' in sys.modules, 'training' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        check=True,
    ).stdout.split("\n")  # fmt: skip
    assert out[0] == str(ROOT / "agents" / "rollout.py")
    assert out[1] == str(ROOT / "training" / "export.py")
    assert out[2] == "False False"

"""Knowledge-informed QA synthesis (KISA): verified multi-hop questions from a KG.

    from medenv.kg.cache import load_kg
    from medenv.synth import SynthConfig, synthesize, write_qa_set

    result = synthesize(load_kg("hpo"), SynthConfig(n=200, seed=0))
    write_qa_set("qa-200", result.items, result.manifest)

`default_qa_set()` gives the built-in set (2,000 items, seed 0), built on first use.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from medenv.synth.config import SYNTH_VERSION, SynthConfig
from medenv.synth.io import read_manifest, read_qa_set, write_qa_set
from medenv.synth.pipeline import SynthResult, synthesize
from medenv.synth.qa import Constraint, Hop, QAItem
from medenv.synth.specialty import SPECIALTIES
from medenv.synth.uniqueness import resolve_chain

__all__ = [
    "SPECIALTIES",
    "SYNTH_VERSION",
    "Constraint",
    "Hop",
    "QAItem",
    "SynthConfig",
    "SynthResult",
    "default_qa_set",
    "read_manifest",
    "read_qa_set",
    "resolve_chain",
    "synthesize",
    "write_qa_set",
]

DEFAULT_N = 2000
DEFAULT_SEED = 0


def _load_world(source: str):
    """The default world when the corpus part is installed, else None."""
    try:
        from medenv.world import load_world
    except ImportError:
        return None
    return load_world(source=source, seed=DEFAULT_SEED, progress=True)


def default_qa_set(source: str = "hpo", progress: bool = True) -> Path:
    """The built-in QA set folder for ``source`` (2,000 items, seed 0), built on first use
    under ``$MEDENV_HOME/qa/`` (with evidence when `medenv.world` is available). The
    folder name carries the KG version, `SYNTH_VERSION`, n, seed and world fingerprint, so
    a set built by an older synthesis version is rebuilt, not reused."""
    from medenv.kg.cache import load_kg
    from medenv.paths import medenv_home

    known = _known_names(source)
    recipe = _recipe(source)
    if recipe in known and (medenv_home() / "qa" / known[recipe] / "manifest.json").is_file():
        return medenv_home() / "qa" / known[recipe]  # named without loading the world
    kg = load_kg(source)
    world = _load_world(source)
    tag = f"w{str(getattr(world, 'fingerprint', ''))[:12]}" if world is not None else "kg"
    name = f"{kg.source}-{kg.version}-v{SYNTH_VERSION}-n{DEFAULT_N}-s{DEFAULT_SEED}-{tag}"
    folder = medenv_home() / "qa" / name
    if (folder / "manifest.json").is_file():
        _remember_name(source, recipe, name, world is not None)
        return folder
    result = synthesize(
        kg, SynthConfig(n=DEFAULT_N, seed=DEFAULT_SEED), world=world, progress=progress
    )
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    write_qa_set(tmp, result.items, result.manifest)
    try:
        os.replace(tmp, folder)
    except OSError:  # built concurrently by another process: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    _remember_name(source, recipe, name, world is not None)
    return folder


def _recipe(source: str) -> str:
    """What the default set's folder name depends on, known without loading anything: the
    KG cache file (its name hashes the input files' paths, sizes and mtimes and the loader's
    version), the corpus and synthesis versions, n and seed."""
    from medenv.corpus.build import CORPUS_VERSION
    from medenv.kg.cache import cache_file

    return (
        f"{cache_file(source).name}|corpus{CORPUS_VERSION}|v{SYNTH_VERSION}|n{DEFAULT_N}|"
        f"s{DEFAULT_SEED}"
    )


def _names_file() -> Path:
    from medenv.paths import medenv_home

    return medenv_home() / "qa" / "default-names.json"


def _known_names(source: str) -> dict[str, str]:
    """``{recipe: folder name}`` of default sets built before (an unreadable file: none)."""
    try:
        known = json.loads(_names_file().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in known.items() if isinstance(v, str)} if isinstance(known, dict) else {}


def _remember_name(source: str, recipe: str, name: str, with_world: bool) -> None:
    """Record ``recipe -> name`` (only for a set named from the world, as the env uses)."""
    if not with_world:
        return
    known = {**_known_names(source), recipe: name}
    file = _names_file()
    tmp = file.with_name(f"{file.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
        os.replace(tmp, file)
    except OSError:  # a read-only home: the name is computed from the world next time
        tmp.unlink(missing_ok=True)

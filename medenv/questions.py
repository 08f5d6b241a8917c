"""The one way to get a question set: `load_questions(qa, source, split)`.

``qa`` is None (the built-in default set of ``source``, `default_qa_set`, built
on first use), a QA-set folder or JSONL file (`medenv.synth.io.read_qa_set`), a `QAItem`,
or a list/tuple of `QAItem`. ``split`` keeps the items of that split. Anything else, a list
holding something other than `QAItem`s, or an empty result, is one `MedenvError` line.
The env, rollouts, the HTTP server and GRPO all load their questions here.

`default_qa_set(source)` is the built-in set's folder (2,000 items, seed 0, obfuscation
level 2, with the world's evidence), made on first use under ``$MEDENV_HOME/qa/``: copied
from the set the package ships when its key matches (`medenv.shipped_qa`), else
synthesized (`medenv.synth`, one worker process per core: `medenv.synth.parallel`).
`ship_default_set` (``make default-set``) re-synthesizes and re-ships it.

`check_items_in_kg` refuses a set naming entities the world's graph lacks (with
`medenv.qa_world.kg_mismatch`, the rule `medenv.qa_world.check_qa_world` applies).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from medenv.corpus.build import CORPUS_VERSION
from medenv.errors import MedenvError
from medenv.kg.cache import cache_file, load_kg
from medenv.paths import build_lock, medenv_home
from medenv.qa import QAItem
from medenv.shipped_qa import install_shipped, write_shipped
from medenv.synth.config import SYNTH_VERSION, SynthConfig
from medenv.synth.io import read_qa_set, write_qa_set
from medenv.synth.pipeline import synthesize


def load_questions(qa: Any = None, source: str = "hpo", split: str | None = None) -> list[QAItem]:
    """The items of ``qa`` (see the module docstring), in their order."""
    if isinstance(qa, QAItem):
        items = [qa]
    elif isinstance(qa, list | tuple):
        items = list(qa)
        bad = [type(x).__name__ for x in items if not isinstance(x, QAItem)]
        if bad:
            raise MedenvError(f"qa must be a path or a list of QAItem, got a list with {bad[0]}")
    elif qa is None or isinstance(qa, str | Path):
        items = read_qa_set(default_qa_set(source=source) if qa is None else qa)
    else:
        raise MedenvError(f"qa must be a path or a list of QAItem, got {type(qa).__name__}")
    if split is not None:
        items = [it for it in items if it.split == split]
    if not items:
        where = "the default QA set" if qa is None else f"{qa!r}"
        raise MedenvError(f"no questions in {where}" + (f" for split {split!r}" if split else ""))
    return items


_PASSED: list[tuple[object, tuple[QAItem, ...]]] = []  # (graph, items) of the last set that passed


def check_items_in_kg(items: list[QAItem], kg, where: str = "the question set") -> None:
    """Raise `MedenvError` when a KG-grounded item's (one with a chain) chain, hops, answer id
    or constraints name an entity the world's knowledge graph lacks (a set made from another KG). Called before
    the env writes any event, so a bad set leaves no half-written run. ``kg`` is a
    `KnowledgeGraph` or anything with ``source``, ``version`` and ``in`` (a lazy world's
    `medenv.world_memo.KGSummary`). The last set that passed is remembered: checking the
    very same item objects against the very same graph again (one env per episode or
    session over one set) returns at once."""
    last = _PASSED[0] if _PASSED else None
    if (last is not None and last[0] is kg and len(last[1]) == len(items)
            and all(a is b for a, b in zip(last[1], items, strict=True))):  # fmt: skip
        return
    for item in items:
        if not item.chain:  # an external question: nothing the env looks up in the KG
            continue
        ids = [*item.chain, item.answer_id]
        ids += [x for hop in item.hops for x in (hop.head, hop.tail)]
        ids += [c.entity for c in item.constraints]
        missing = next((x for x in ids if x and x not in kg), None)
        if missing is not None:
            raise MedenvError(
                f"{where}: question {item.id!r} names entity {missing!r}, which is not in the "
                f"{kg.source} knowledge graph (version {kg.version}); was the set made from "
                "another graph?"
            )
    _PASSED[:] = [(kg, tuple(items))]


DEFAULT_N = 2000
DEFAULT_SEED = 0
DEFAULT_OBFUSCATION = 2  # most questions name at most one entity (`SynthConfig.obfuscation`)


def _load_world(source: str):
    """The default world when the corpus part is installed, else None. (Imported here, not
    at the top: naming an already built set must not import the world, `_recipe`.)"""
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
    known = _known_names(source)
    recipe = _recipe(source)
    if recipe in known and (medenv_home() / "qa" / known[recipe] / "manifest.json").is_file():
        return medenv_home() / "qa" / known[recipe]  # named without loading the world
    with build_lock(medenv_home() / "qa" / f"default-{source}"):  # concurrent callers build once
        known = _known_names(source)  # built while we waited?
        if recipe in known and (medenv_home() / "qa" / known[recipe] / "manifest.json").is_file():
            return medenv_home() / "qa" / known[recipe]
        return _build_default(source, recipe, progress)


def default_synth_config(n: int = DEFAULT_N) -> SynthConfig:
    """The synthesis settings of the default set (``n`` items; the set is the first
    ``DEFAULT_N`` items of this configuration, a smaller ``n`` gives a prefix of it)."""
    return SynthConfig(n=n, seed=DEFAULT_SEED, obfuscation=DEFAULT_OBFUSCATION)


def default_set_name(kg, world) -> str:
    """The default set's key and folder name: KG source and version, `SYNTH_VERSION`, n,
    seed, obfuscation level and the world's fingerprint (``kg`` without a world)."""
    tag = f"w{str(getattr(world, 'fingerprint', ''))[:12]}" if world is not None else "kg"
    return (
        f"{kg.source}-{kg.version}-v{SYNTH_VERSION}-n{DEFAULT_N}-s{DEFAULT_SEED}"
        f"-o{DEFAULT_OBFUSCATION}-{tag}"
    )


def _build_default(source: str, recipe: str, progress: bool) -> Path:
    """The set's folder: the package's shipped set when its key matches
    (`medenv.shipped_qa`), else synthesized."""
    kg = load_kg(source)
    world = _load_world(source)
    name = default_set_name(kg, world)
    folder = medenv_home() / "qa" / name
    config = default_synth_config()
    if not (folder / "manifest.json").is_file() and not install_shipped(
        source, name, config, folder
    ):
        _synthesize_default(kg, world, folder, progress, config)
    _remember_name(source, recipe, name, world is not None)
    return folder


def ship_default_set(source: str = "hpo", progress: bool = True) -> Path:
    """Synthesize the default set of ``source`` afresh (never from the shipped file) and
    ship it in the package (`medenv.shipped_qa.write_shipped`); ``make default-set``. Run
    after a change that alters the default set (the shipped-set test fails until then)."""
    kg = load_kg(source)
    world = _load_world(source)
    name = default_set_name(kg, world)
    tmp = medenv_home() / "qa" / f"{name}.ship{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _synthesize_default(kg, world, tmp, progress, default_synth_config())
        return write_shipped(source, name, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _synthesize_default(kg, world, folder: Path, progress: bool, config: SynthConfig) -> None:
    result = synthesize(kg, config, world=world, progress=progress, workers=None)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    write_qa_set(tmp, result.items, result.manifest)
    try:
        os.replace(tmp, folder)
    except OSError:  # built by a process that held no lock: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)


def _recipe(source: str) -> str:
    """What the default set's folder name depends on, known without loading anything: the
    KG cache file (its name hashes the input files' paths, sizes and mtimes and the loader's
    version), the corpus and synthesis versions, n and seed."""
    return (
        f"{cache_file(source).name}|corpus{CORPUS_VERSION}|v{SYNTH_VERSION}|n{DEFAULT_N}|"
        f"s{DEFAULT_SEED}|o{DEFAULT_OBFUSCATION}"
    )


def _names_file() -> Path:
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

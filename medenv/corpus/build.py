"""`Corpus`: the medical and web collections, built from a KG (plus external text).

`build_corpus(kg, seed, external)` renders one medical page per entity and its web pages
(see `medenv.corpus.pages`), appends external pages, and fingerprints the content
(sha256 over every page). `cached_corpus` stores the result under
``$MEDENV_HOME/corpus/`` keyed by KG source/version/size, seed, builder version and the
external files, so a second start only decodes one msgpack file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec
from tqdm.auto import tqdm

from medenv.corpus.document import Document
from medenv.corpus.external import ExternalSource, read_sources
from medenv.corpus.facts import Adjacency
from medenv.corpus.pages import medical_page, web_page, web_styles_for
from medenv.errors import MedenvError
from medenv.kg.graph import KnowledgeGraph
from medenv.paths import medenv_home

CORPUS_VERSION = "6"  # 4: medical pages state HPO organ systems (medenv.corpus.organ);
# 5: a disease's other phenotype.hpoa names (synonyms) on its pages ("Also known as");
# 6: "an" before a vowel ("is an inheritance entry", `medenv.english.article`)


class _CorpusFile(msgspec.Struct):
    version: str
    seed: int
    fingerprint: str
    medical: list[Document]
    web: list[Document]


def _fingerprint(docs: Iterable[Document]) -> str:
    h = hashlib.sha256(CORPUS_VERSION.encode())
    enc = msgspec.msgpack.Encoder()
    for d in docs:
        h.update(enc.encode(d))
    return h.hexdigest()


class Corpus:
    """The two collections. Pages are kept in id order; lookups by id or url."""

    def __init__(
        self,
        medical: Sequence[Document],
        web: Sequence[Document],
        seed: int = 0,
        fingerprint: str | None = None,
    ) -> None:
        self.medical = sorted(medical, key=lambda d: d.id)
        self.web = sorted(web, key=lambda d: d.id)
        self.seed = seed
        self._by_key: dict[str, Document] = {}
        for d in (*self.medical, *self.web):
            for key in (d.id, d.url):
                if key in self._by_key and self._by_key[key] is not d:
                    raise MedenvError(f"two pages share the id or url {key!r}")
                self._by_key[key] = d
        self.fingerprint = fingerprint or _fingerprint((*self.medical, *self.web))
        self._about: dict[str, list[str]] | None = None

    def __len__(self) -> int:
        return len(self.medical) + len(self.web)

    def collection(self, name: str) -> list[Document]:
        if name == "medical":
            return self.medical
        if name == "web":
            return self.web
        raise MedenvError(f"unknown collection {name!r}; use 'medical' or 'web'")

    def get(self, url_or_id: str) -> Document | None:
        """The page with this url or id (surrounding whitespace ignored)."""
        key = url_or_id.strip()
        doc = self._by_key.get(key)
        if doc is None and key.endswith("/"):
            doc = self._by_key.get(key.rstrip("/"))
        return doc

    def pages_about(self, entity_id: str) -> list[Document]:
        """Pages whose ``entity_id`` is ``entity_id`` (medical first, then web, by id)."""
        if self._about is None:
            about: dict[str, list[str]] = {}
            for d in (*self.medical, *self.web):
                if d.entity_id is not None:
                    about.setdefault(d.entity_id, []).append(d.id)
            self._about = about
        return [self._by_key[i] for i in self._about.get(entity_id, ())]

    def stats(self) -> dict:
        chars = sum(len(d.text) for d in (*self.medical, *self.web))
        return {
            "medical": len(self.medical),
            "web": len(self.web),
            "chars": chars,
            "fingerprint": self.fingerprint[:16],
        }


def medical_pages(adj: Adjacency, ids: Sequence[str]) -> list[Document]:
    """The medical page of each entity of ``ids``, in that order."""
    return [medical_page(adj, entity) for entity in ids]


def web_pages(
    adj: Adjacency, ids: Sequence[str], seed: int, progress: bool = False
) -> list[Document]:
    """The web pages of each entity of ``ids`` (`web_styles_for`), in that order."""
    web: list[Document] = []
    for entity in tqdm(ids, desc="rendering web pages", unit="entity", disable=not progress):
        for style in web_styles_for(adj, entity, seed):
            page = web_page(adj, entity, style, seed)
            if page is not None:
                web.append(page)
    return web


def entity_ids(kg: KnowledgeGraph) -> list[str]:
    """The entities that get pages, in the order they are rendered."""
    return sorted(n.id for n in kg.nodes())


def collection_pages(
    adj: Adjacency,
    ids: Sequence[str],
    name: str,
    seed: int,
    extra: Sequence[Document] = (),
    progress: bool = False,
) -> list[Document]:
    """The pages of collection ``name`` (``medical`` or ``web``): the rendered pages of
    ``ids``, then the ``extra`` (external) pages of that collection, in order."""
    pages = medical_pages(adj, ids) if name == "medical" else web_pages(adj, ids, seed, progress)
    return pages + [d for d in extra if (d.collection == "medical") == (name == "medical")]


def corpus_of(
    adj: Adjacency, seed: int, extra: Sequence[Document] = (), progress: bool = False
) -> Corpus:
    """Every entity of ``adj``'s graph rendered (medical + web pages), plus ``extra``."""
    ids = entity_ids(adj.kg)
    return Corpus(
        collection_pages(adj, ids, "medical", seed, extra),
        collection_pages(adj, ids, "web", seed, extra, progress),
        seed=seed,
    )


def build_corpus(
    kg: KnowledgeGraph,
    seed: int = 0,
    external: Iterable[ExternalSource | tuple[str, str] | str | Path] = (),
    progress: bool = False,
) -> Corpus:
    """Render every entity of ``kg`` (medical page + web pages), plus external pages."""
    return corpus_of(Adjacency(kg), seed, read_sources(external), progress)


def _cache_key(kg: KnowledgeGraph, seed: int, external: Sequence) -> str:
    h = hashlib.sha256(
        f"{CORPUS_VERSION}|{kg.source}|{kg.version}|{kg.num_nodes}|{kg.num_edges}|{seed}".encode()
    )
    for node in kg.nodes():  # names beyond the loader's (e.g. gene names, medenv.kg.gene_names)
        if node.synonyms:
            h.update(("\x1f".join((node.id, *node.synonyms)) + "\x1e").encode())
    members = getattr(kg, "members", None)  # a merged graph's alignment
    if members:
        h.update(f"|aligned-2|{sorted(members.values())}".encode())
    for src in external:
        path = Path(
            src.path
            if isinstance(src, ExternalSource)
            else (src[0] if isinstance(src, tuple) else src)
        )
        st = path.stat() if path.exists() else None
        h.update(f"|{src}|{st.st_size if st else -1}|{st.st_mtime_ns if st else -1}".encode())
    return f"{kg.source}-{kg.version}-s{seed}-{h.hexdigest()[:12]}"


def corpus_file(kg: KnowledgeGraph, seed: int = 0, external: Sequence = ()) -> Path:
    """Where `cached_corpus` keeps the corpus of ``kg``, ``seed`` and ``external``."""
    return medenv_home() / "corpus" / f"{_cache_key(kg, seed, external)}.msgpack"


def read_cached(file: Path) -> Corpus | None:
    """The corpus stored at ``file``; None when missing or of another `CORPUS_VERSION`."""
    if file.is_file():
        data = msgspec.msgpack.decode(file.read_bytes(), type=_CorpusFile)
        if data.version == CORPUS_VERSION:
            return Corpus(data.medical, data.web, seed=data.seed, fingerprint=data.fingerprint)
    return None


def write_cached(file: Path, corpus: Corpus) -> None:
    """Store ``corpus`` at ``file`` atomically (temporary file + rename)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(
        msgspec.msgpack.encode(
            _CorpusFile(CORPUS_VERSION, corpus.seed, corpus.fingerprint, corpus.medical, corpus.web)
        )
    )
    os.replace(tmp, file)


def cached_corpus(
    kg: KnowledgeGraph,
    seed: int = 0,
    external: Sequence[ExternalSource | tuple[str, str] | str | Path] = (),
    progress: bool = True,
) -> Corpus:
    """`build_corpus` through the on-disk cache under ``$MEDENV_HOME/corpus/``."""
    file = corpus_file(kg, seed, external)
    corpus = read_cached(file)
    if corpus is None:
        corpus = build_corpus(kg, seed=seed, external=external, progress=progress)
        write_cached(file, corpus)
    return corpus

"""`synthesize`: the KISA pipeline from a knowledge graph to verified QA items.

Per seed entity (rare tail first, `medenv.synth.rarity`): a target length drawn from
``config.hop_weights`` by a `random.Random` keyed by the run seed and the seed entity ->
bounded subgraph (`subgraph`, radius = target) -> best chains of ``min_hops`` up to the
target length (`chain`) -> for each chain until one passes: uniqueness (`uniqueness`, adding distinguishing constraints) -> question text (`render`) -> leakage
check -> optional rewrite (re-checked) -> labels (`labels`, `specialty`) -> dedup
(`dedup`) -> specialty filter -> evidence and answerability when a world is given
(`evidence`). A seed whose chains all fail is dropped with the reason of its last chain
(``no_chain``, ``ambiguous`` (not unique under the ontology closure even with added
constraints), ``shortcut`` (a constraint pins the answer past part of the chain:
`medenv.synth.hops`), ``leak``, ``duplicate``, ``no_specialty``, ``specialty``,
``unanswerable``, ``wide`` (a middle chain node keeps more than ``max_candidates``
candidates even with added facts), ``search_shortcut`` (every wording finds the answer page by search:
`medenv.synth.shortcut`), ``no_crossing`` when ``min_crossings`` is set and no
multi-source node lies within reach of the seed). With ``min_crossings``, only chains that
cross a source boundary that often are searched for (`medenv.kg.provenance.chain_crossings`).
With ``obfuscation`` 1 or 2, each seed's chains are first tried with *descriptions* only
(plain-worded constraints, `medenv.synth.describe`; the question then names its seed
alone), then with named facts as well (level 2 tries more chains the first way).
Deterministic: same KG, config and world -> the same items in the same order.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
from tqdm.auto import tqdm

from medenv.errors import MedenvError
from medenv.kg.graph import KnowledgeGraph
from medenv.kg.provenance import chain_crossings, node_sources
from medenv.synth.chain import search_chains
from medenv.synth.config import OBFUSCATION_WIDTH, SYNTH_VERSION, SynthConfig, hop_weights_of
from medenv.synth.dedup import Deduplicator
from medenv.synth.describe import Describer, plain
from medenv.synth.evidence import attach_evidence
from medenv.synth.index import GraphIndex
from medenv.synth.lexicon import BUILTIN, apply_lexicon
from medenv.synth.make_item import make_item, reword_past_search
from medenv.synth.qa import QAItem
from medenv.synth.quality import quality
from medenv.synth.rarity import rarity, seed_order
from medenv.synth.render import LeakCheck, labels_of
from medenv.synth.rewrite import accept_rewrite
from medenv.synth.shortcut import is_shortcut
from medenv.synth.specialty import SPECIALTIES, SpecialtyMap
from medenv.synth.specialty_names import user_mapping
from medenv.synth.subgraph import extract_subgraph
from medenv.synth.uniqueness import Disambiguator


class SynthResult(msgspec.Struct):
    items: list[QAItem]
    manifest: dict[str, Any]


def _table(items: list[QAItem], key: Callable[[QAItem], Any]) -> dict[str, int]:
    counts = Counter(str(key(i)) for i in items)
    return dict(sorted(counts.items()))


def synthesize(
    kg: KnowledgeGraph,
    config: SynthConfig | None = None,
    world: Any = None,
    progress: bool = True,
    rewrite: Callable[[str], str] | None = None,
) -> SynthResult:
    """``config.n`` verified items from ``kg`` (see module docstring).

    ``world``: a `medenv.world.World`, or a zero-argument factory of one (called only once
    the KG is known to support ``config.n`` items); when given, every item gets per-hop
    evidence page ids and unanswerable items are dropped. ``rewrite``: optional
    text-to-text hook (e.g. `medenv.synth.rewrite.LLMRewriter`) applied to each question;
    a rewrite that fails `accept_rewrite` (empty, leaks a chain entity, drops or adds a
    named entity, or is a search shortcut) is discarded and the template text kept
    (counted as ``rewrite_rejected``, by reason under ``rewrites``).
    Raises `MedenvError` when the KG cannot support ``config.n`` items.
    """
    cfg = (config or SynthConfig()).check()
    started = time.perf_counter()
    lexicon = apply_lexicon(kg, cfg.lexicon) if cfg.lexicon is not None else BUILTIN
    index = GraphIndex(kg)
    specialty = SpecialtyMap(index, user_mapping(cfg.specialty_file))
    # On a graph with HPO's organ-system branches every item gets one of the 12 specialties
    # (a chain with none is dropped as ``no_specialty``); other graphs may yield "general".
    needs_specialty = specialty.has_branches
    disamb = Disambiguator(index)
    describer = Describer(index, specialty) if cfg.obfuscation >= 1 else None
    props = kg.relation_properties()
    rar = {i: rarity(index, i) for i in index.ids}
    names = {i: index.node[i].name.casefold() for i in index.ids}
    answer_types = frozenset(cfg.answer_types)
    allowed = frozenset(i for i in index.ids if index.degree[i] <= cfg.hub_degree)
    wanted = frozenset(cfg.specialties)
    lengths, weights = hop_weights_of(cfg)
    accept = None
    multi_source: frozenset[str] = frozenset()
    if cfg.min_crossings:
        multi_source = frozenset(i for i in index.ids if len(node_sources(kg, i)) > 1)

        def accept(nodes: tuple[str, ...], steps: tuple) -> bool:
            return chain_crossings(kg, nodes, steps) >= cfg.min_crossings

    seeds = list(
        seed_order(
            index,
            seed=cfg.seed,
            seed_types=cfg.seed_types,
            hub_degree=cfg.hub_degree,
            rare_share=cfg.rare_share,
            rare_fraction=cfg.rare_fraction,
        )
    )
    if wanted:
        seeds = [(s, r) for s, r in seeds if specialty.of(s) in wanted]
    if cfg.n > len(seeds):
        raise MedenvError(
            f"n={cfg.n} is more than this KG supports: {kg.source} has {len(seeds)} eligible "
            f"seed entities (one item each at most) for these settings"
        )
    if callable(world):
        world = world()

    items: list[QAItem] = []
    drops: Counter[str] = Counter()
    dedup = Deduplicator(cfg.near_duplicate)
    expansions: list[int] = []
    budget_hits = 0
    targets: Counter[int] = Counter()
    rewrite_rejected = 0
    rewrites: Counter[str] = Counter()
    tried = 0
    bar = tqdm(total=cfg.n, desc="synth", unit="q", disable=not progress, leave=False)
    try:
        for seed_id, _from_tail in seeds:
            if len(items) >= cfg.n:
                break
            tried += 1
            target = target_hops(cfg.seed, seed_id, lengths, weights)
            targets[target] += 1
            sub = extract_subgraph(
                index,
                seed_id,
                radius=min(cfg.radius, target),
                node_cap=cfg.node_cap,
                hub_degree=cfg.hub_degree,
                allowed=allowed,
            )
            if accept is not None and multi_source.isdisjoint(sub.depth):
                drops["no_crossing"] += 1
                continue
            search = search_chains(
                sub,
                min_hops=cfg.min_hops,
                max_hops=target,
                budget=cfg.expansion_budget,
                rarity=rar,
                is_answer=lambda v: index.type[v] in answer_types,
                keep=cfg.candidates * (OBFUSCATION_WIDTH if cfg.obfuscation >= 2 else 1),
                names=names,
                accept=lambda nodes, steps: (
                    not _widening_tail(steps, props) and (accept is None or accept(nodes, steps))
                ),
            )
            expansions.append(search.expansions)
            budget_hits += not search.exhausted
            reason = "no_chain"
            attempts = [(chain, False) for chain in search.chains[: cfg.candidates]]
            if describer is not None:  # descriptions only first, then named facts too
                attempts = [(chain, True) for chain in search.chains] + attempts
            for chain, plain_only in attempts:
                reason, item = make_item(
                    index,
                    disamb,
                    specialty,
                    rar,
                    cfg,
                    chain.nodes,
                    chain.steps,
                    kg,
                    lexicon,
                    describer,
                    plain_only,
                )
                if item is None:
                    continue
                if rewrite is not None:
                    new = rewrite(item.question)
                    why = accept_rewrite(
                        item.question,
                        new,
                        LeakCheck(labels_of(index, chain.nodes[1:])),
                        world,
                        item.answer_id,
                    )
                    if hasattr(rewrite, "record"):
                        rewrite.record(item.question, why is None, why)
                    if why is None:
                        item = msgspec.structs.replace(item, question=new.strip())
                        rewrites["accepted"] += 1
                    else:
                        rewrite_rejected += 1
                        rewrites[f"rejected_{why}"] += 1
                if dedup.is_duplicate(item):
                    reason = "duplicate"
                    continue
                if needs_specialty and item.specialty not in SPECIALTIES:
                    reason = "no_specialty"
                    continue
                if wanted and item.specialty not in wanted:
                    reason = "specialty"
                    continue
                if world is not None:
                    with_evidence = attach_evidence(world, item)
                    if with_evidence is None:
                        reason = "unanswerable"
                        continue
                    item = reword_past_search(world, index, cfg, with_evidence, lexicon)
                    if item is None:
                        reason = "search_shortcut"
                        continue
                dedup.add(item)
                items.append(item)
                bar.update(1)
                reason = None
                break
            if reason is not None:
                drops[reason] += 1
                bar.set_postfix(dropped=sum(drops.values()), refresh=False)
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    if len(items) < cfg.n:
        raise MedenvError(
            f"n={cfg.n} is more than this KG supports with these settings: only {len(items)} "
            f"verified items from all {tried} seed entities (drops: {dict(sorted(drops.items()))});"
            f" lower n or widen min-hops/max-hops"
        )
    manifest = {
        "synth_version": SYNTH_VERSION,
        "seed": cfg.seed,
        "kg_source": kg.source,
        "kg_version": kg.version,
        "config": msgspec.to_builtins(cfg),
        "world": getattr(world, "fingerprint", None) if world is not None else None,
        "counts": {
            "items": len(items),
            "seeds_tried": tried,
            "by_hops": _table(items, lambda i: i.n_hops),
            "by_specialty": _table(items, lambda i: i.specialty),
            "by_split": _table(items, lambda i: i.split),
            "by_answer_type": _table(items, lambda i: index.type[i.answer_id]),
            "mean_hops": round(sum(i.n_hops for i in items) / max(len(items), 1), 4),
            "mean_effective_hops": round(
                sum(i.effective_hops for i in items) / max(len(items), 1), 4
            ),
            "by_effective_hops": _table(items, lambda i: i.effective_hops),
            "with_constraints": sum(1 for i in items if i.constraints),
            "by_crossings": _table(items, lambda i: chain_crossings(kg, i.chain, _steps(i))),
            "search_shortcut_rate": (
                round(sum(is_shortcut(world, i) for i in items) / max(len(items), 1), 4)
                if world is not None
                else None
            ),
        },
        "quality": quality(items),
        "obfuscation": _obfuscation(index, cfg, items),
        "uniqueness": {
            "semantics": "ontology closure (medenv.kg.semantics)",
            "relation_properties": {
                k: msgspec.to_builtins(v) for k, v in sorted(kg.relation_properties().items())
            },
            "unique_under_closure": len(items),
        },
        "drops": dict(sorted(drops.items())),
        "rewrite_rejected": rewrite_rejected,
        "rewrites": dict(sorted(rewrites.items())),
        "search": {
            "expansions_total": sum(expansions),
            "expansions_mean": round(sum(expansions) / max(len(expansions), 1), 2),
            "expansions_max": max(expansions, default=0),
            "budget_hits": budget_hits,
            "target_hops": {str(k): v for k, v in sorted(targets.items())},
        },
        "elapsed_s": round(elapsed, 3),
    }
    return SynthResult(items=items, manifest=manifest)


def _obfuscation(index: GraphIndex, cfg: SynthConfig, items: list[QAItem]) -> dict:
    """How the set names its entities: the level, constraints worded as descriptions vs
    named, and the items whose constraints are all descriptions (naming the seed alone)."""
    described = named = plain_items = seeds = 0
    for item in items:
        words = [cfg.obfuscation >= 1 and plain(index, c) is not None for c in item.constraints]
        described += sum(words)
        named += len(words) - sum(words)
        plain_items += all(words)
        seeds += any(c.node == 0 for c in item.constraints)
    return {
        "level": cfg.obfuscation,
        "described_constraints": described,
        "named_constraints": named,
        "items_with_only_descriptions": plain_items,
        "items_with_described_seed": seeds,
    }


def _steps(item: QAItem) -> tuple[tuple[str, bool], ...]:
    return tuple((h.relation, h.inverse) for h in item.hops)


def target_hops(
    run_seed: int, seed_id: str, lengths: tuple[int, ...], weights: tuple[float, ...]
) -> int:
    """The chain length wanted for seed entity ``seed_id``: one of ``lengths`` drawn with
    ``weights`` by a `random.Random` keyed by the run seed and the entity id (so it does
    not depend on the seed's position in the run, nor on ``n``)."""
    if len(lengths) == 1:
        return lengths[0]
    rng = random.Random(f"hops|{run_seed}|{seed_id}")
    return rng.choices(lengths, weights=weights)[0]


LONG_WIDENING = 4


def _widening_tail(steps, props: dict) -> bool:
    """Chains of `LONG_WIDENING` or more hops whose last step widens under the closure
    (a transitive relation, or an inherited one walked forwards: "a clinical feature of
    this disease" admits every ancestor of its features) are not tried: on HPO under 2%
    of them can be made unique (measured: 10 of 465), and they cost most of the time."""
    if len(steps) < LONG_WIDENING:
        return False
    rel, inv = steps[-1]
    p = props.get(rel)
    return p is not None and (p.transitive or (p.inherited_along is not None and not inv))

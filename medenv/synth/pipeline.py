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
`medenv.synth.shortcut`), ``too_long`` (a question over `medenv.synth.seedwork.MAX_QUESTION_CHARS`, which the env
could not show whole: names of tens of thousands of characters), ``no_crossing`` when
``min_crossings`` is set and no
multi-source node lies within reach of the seed, ``generic`` when the seed is a generic node,
an ontology near-root: `medenv.synth.generic`). With ``min_crossings``, only chains that
cross a source boundary that often are searched for (`medenv.kg.provenance.chain_crossings`).
With ``obfuscation`` 1 or 2, each seed's chains are first tried with *descriptions* only
(plain-worded constraints, `medenv.synth.describe`; the question then names its seed
alone), then with named facts as well (level 2 tries more chains the first way).
Deterministic: same KG, config and world -> the same items in the same order. A seed's
share of the work is `medenv.synth.seedwork.SeedWork` (a pure function of the settings and
the seed); with ``workers`` it runs in forked processes (`medenv.synth.parallel`) and this
module merges the outcomes in seed order, deduplication replayed here, so the items do not
depend on the number of workers.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import msgspec
from tqdm.auto import tqdm

from medenv.errors import MedenvError
from medenv.kg.graph import KnowledgeGraph
from medenv.kg.provenance import chain_crossings
from medenv.synth.config import SYNTH_VERSION, SynthConfig
from medenv.synth.dedup import Deduplicator
from medenv.synth.describe import plain
from medenv.synth.index import GraphIndex
from medenv.synth.lexicon import BUILTIN, apply_lexicon
from medenv.synth.parallel import check_workers, pooled_outcomes, usable_workers
from medenv.synth.qa import QAItem
from medenv.synth.quality import quality
from medenv.synth.rarity import seed_order
from medenv.synth.seedwork import LONG_WIDENING, SeedWork, replay, target_hops

__all__ = ["LONG_WIDENING", "SynthResult", "synthesize", "target_hops"]


class SynthResult(msgspec.Struct):
    items: list[QAItem]
    manifest: dict[str, Any]


def _table(items: list[QAItem], key: Callable[[QAItem], Any]) -> dict[str, int]:
    counts = Counter(str(key(i)) for i in items)
    return dict(sorted(counts.items()))


def check_node_types(index, cfg: SynthConfig, source: str) -> None:
    """`MedenvError` when the graph has no node of any answer type (or of any seed type) asked
    for: a typo was read as "the KG supports 0 items: no_chain" after a scan of every seed.
    (Some of the types may be missing: the defaults name types one source lacks.)"""
    types = set(index.type.values())
    for flag, asked in (("--answer-type", cfg.answer_types), ("--seed-type", cfg.seed_types)):
        if asked and not set(asked) & types:
            raise MedenvError(
                f"{flag} {', '.join(asked)}: no node of these types in the {source} graph "
                f"(its types: {', '.join(sorted(types))})"
            )


def synthesize(
    kg: KnowledgeGraph,
    config: SynthConfig | None = None,
    world: Any = None,
    progress: bool = True,
    rewrite: Callable[[str], str] | None = None,
    workers: int = 1,
) -> SynthResult:
    """``config.n`` verified items from ``kg`` (see module docstring).

    ``world``: a `medenv.world.World`, or a zero-argument factory of one (called only once
    the KG is known to support ``config.n`` items); when given, every item gets per-hop
    evidence page ids and unanswerable items are dropped. ``rewrite``: optional
    text-to-text hook (e.g. `medenv.synth.rewrite.LLMRewriter`) applied to each question;
    a rewrite that fails `accept_rewrite` (empty, leaks a chain entity, drops or adds a
    named entity, or is a search shortcut) is discarded and the template text kept
    (counted as ``rewrite_rejected``, by reason under ``rewrites``). ``workers``: processes
    that compute the seeds' chains and checks (`medenv.synth.parallel`; None: one per
    core); the items and the manifest's counts are the same for any number (one is used
    with a ``rewrite`` hook, or where processes cannot be forked).
    Raises `MedenvError` when the KG cannot support ``config.n`` items.
    """
    cfg = (config or SynthConfig()).check()
    workers = check_workers(workers)
    started = time.perf_counter()
    lexicon = apply_lexicon(kg, cfg.lexicon) if cfg.lexicon is not None else BUILTIN
    work = SeedWork(kg, cfg, lexicon, rewrite)
    index = work.index
    check_node_types(index, cfg, kg.source)
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
    if work.wanted:
        seeds = [(s, r) for s, r in seeds if work.specialty.of(s) in work.wanted]
    if cfg.n > len(seeds):
        raise MedenvError(
            f"n={cfg.n} is more than this KG supports: {kg.source} has {len(seeds)} eligible "
            f"seed entities (one item each at most) for these settings (a seed is a node of "
            f"type {', '.join(cfg.seed_types)} with 1 to {cfg.hub_degree} links"
            f"{', in the specialties asked' if work.wanted else ''})"
        )
    if callable(world):
        world = world()
    work.world = world
    workers = usable_workers(workers, work)
    if world is not None and workers > 1 and hasattr(world, "load"):
        world.load()  # before forking workers, so that they share its pages
        getattr(world, "adjacency", None)  # (what a page states: built on first use)

    items: list[QAItem] = []
    drops: Counter[str] = Counter()
    dedup = Deduplicator(cfg.near_duplicate)
    expansions: list[int] = []
    budget_hits = 0
    targets: Counter[int] = Counter()
    tried = 0
    shortcuts = 0
    bar = tqdm(total=cfg.n, desc="synth", unit="q", disable=not progress, leave=False)
    seed_ids = [s for s, _ in seeds]
    with ExitStack() as stack:
        stack.callback(bar.close)
        if workers > 1:
            outcomes: Iterator = stack.enter_context(pooled_outcomes(work, seed_ids, workers))
        else:
            outcomes = (work.plan(s) for s in seed_ids)
        for outcome in outcomes:
            if len(items) >= cfg.n:
                break
            head, plan = (outcome, None) if workers > 1 else outcome
            tried += 1
            targets[head.target] += 1
            if head.skipped is not None:
                drops[head.skipped] += 1
                continue
            expansions.append(head.expansions)
            budget_hits += not head.exhausted
            if plan is None:  # a worker's attempts, up to its first passing one
                reason, kept = replay(head.attempts, dedup)
                if kept is None and not head.complete:  # that one was a duplicate
                    _, plan = work.plan(head.seed_id)
                    rest = work.run(plan, len(head.attempts))
                    reason, kept = replay(rest, dedup, reason)
            else:
                reason, kept = replay(work.run(plan), dedup)
            if kept is not None:
                items.append(kept.final)
                shortcuts += kept.shortcut
                bar.update(1)
            else:
                drops[reason] += 1
                bar.set_postfix(dropped=sum(drops.values()), refresh=False)
    rewrite_rejected, rewrites = work.rewrite_rejected, work.rewrites
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
            "search_shortcut_rate": (  # measured on each kept text (`Attempt.shortcut`)
                round(shortcuts / max(len(items), 1), 4) if world is not None else None
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

"""One seed entity's share of `medenv.synth.pipeline.synthesize`, as a pure function.

`SeedWork` holds everything a run shares (graph index, disambiguator, describer, config,
world, ...) and computes, for one seed entity, what the pipeline needs from it: the
target length, the chain search's figures and the *attempts* (`Attempt`, one per chain
tried, in order). Every step is keyed by the run seed and the seed entity (`target_hops`,
the chain digest's wording RNG), never by the seeds before it, so the outcome of a seed
does not depend on which process computes it nor on what that process computed before
(its memos only cache pure functions). The one check that does depend on earlier seeds,
deduplication against the items accepted so far, is left to the caller (`replay`).

`outcome(seed_id)` computes the attempts up to and including the first that passes every
check but deduplication (what a worker process sends back, `medenv.synth.parallel`);
`run(plan, start)` yields them lazily from any position of `plan(seed_id)` (the in-process path, and
a worker's seed whose passing attempt turned out to be a duplicate).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from medenv.kg.graph import KnowledgeGraph
from medenv.kg.provenance import chain_crossings, node_sources
from medenv.synth.chain import search_chains
from medenv.synth.config import OBFUSCATION_WIDTH, SynthConfig, hop_weights_of
from medenv.synth.dedup import Deduplicator
from medenv.synth.describe import Describer
from medenv.synth.evidence import attach_evidence
from medenv.synth.generic import generic_nodes
from medenv.synth.index import GraphIndex
from medenv.synth.make_item import make_item, reword_past_search
from medenv.synth.namekey import index_keys
from medenv.synth.qa import QAItem
from medenv.synth.rarity import rarity
from medenv.synth.render import LeakCheck, labels_of
from medenv.synth.rewrite import accept_rewrite
from medenv.synth.shortcut import is_shortcut
from medenv.synth.specialty import SPECIALTIES, SpecialtyMap
from medenv.synth.specialty_names import user_mapping
from medenv.synth.subgraph import extract_subgraph
from medenv.synth.uniqueness import Disambiguator

# The longest question kept: half the env's observation (medenv.actions.OBSERVATION_MAX_CHARS,
# 65,536) leaves room for the prompt around it. Names of tens of thousands of characters (a
# user's graph) made a 72,257-character question the env could only show cut.
MAX_QUESTION_CHARS = 32_768


class Attempt(msgspec.Struct, frozen=True, array_like=True):
    """One chain tried for a seed. ``item``: `make_item`'s item (after an accepted
    rewrite), None when it failed with ``reason``; with an item, ``reason`` is the first
    later check it failed (``no_specialty``, ``specialty``, ``unanswerable``,
    ``search_shortcut``) or None, and ``final`` is the item to keep (with evidence, maybe
    reworded). The caller checks ``item`` for duplicates before anything else."""

    reason: str | None
    item: QAItem | None = None
    final: QAItem | None = None
    shortcut: bool = False  # ``final``'s text finds its answer's page (`is_shortcut`)


class SeedOutcome(msgspec.Struct, frozen=True, array_like=True):
    """A seed's figures and attempts (`SeedWork.outcome`). ``skipped``: a drop reason
    decided before any chain (``no_crossing``; ``generic``: the seed is a generic node,
    `medenv.synth.generic`); ``complete``: the attempts are all of
    the seed's (none passed every check but deduplication)."""

    seed_id: str
    target: int
    expansions: int = 0
    exhausted: bool = True
    skipped: str | None = None
    attempts: tuple[Attempt, ...] = ()
    complete: bool = True


class SeedWork:
    """The run's shared state and the per-seed computation (see module docstring)."""

    def __init__(
        self,
        kg: KnowledgeGraph,
        cfg: SynthConfig,
        lexicon: dict,
        rewrite: Callable[[str], str] | None = None,
    ) -> None:
        self.kg, self.cfg, self.lexicon, self.rewrite = kg, cfg, lexicon, rewrite
        self.world: Any = None
        index = self.index = GraphIndex(kg)
        self.specialty = SpecialtyMap(index, user_mapping(cfg.specialty_file))
        self.disamb = Disambiguator(index)
        self.describer = Describer(index, self.specialty) if cfg.obfuscation >= 1 else None
        self.props = kg.relation_properties()
        self.rar = {i: rarity(index, i) for i in index.ids}
        self.names = index_keys(index)  # same-concept names (`medenv.synth.namekey`)
        self.answer_types = frozenset(cfg.answer_types)
        self.generic = generic_nodes(index)  # never in a chain nor named (`synth.generic`)
        self.allowed = frozenset(
            i for i in index.ids if index.degree[i] <= cfg.hub_degree and i not in self.generic
        )
        self.wanted = frozenset(cfg.specialties)
        # On a graph with HPO's organ-system branches every item gets one of the 12
        # specialties (a chain with none is dropped as ``no_specialty``).
        self.needs_specialty = self.specialty.has_branches
        self.lengths, self.weights = hop_weights_of(cfg)
        self.multi_source: frozenset[str] = frozenset()
        if cfg.min_crossings:
            self.multi_source = frozenset(i for i in index.ids if len(node_sources(kg, i)) > 1)
        self.rewrites: Counter[str] = Counter()  # in-process only (a rewrite hook)
        self.rewrite_rejected = 0

    def _accept(self, nodes: tuple[str, ...], steps: tuple) -> bool:
        if _widening_tail(steps, self.props):
            return False
        return not self.cfg.min_crossings or (
            chain_crossings(self.kg, nodes, steps) >= self.cfg.min_crossings
        )

    def plan(self, seed_id: str) -> tuple[SeedOutcome, list[tuple[Any, bool]]]:
        """The seed's target and chain-search figures (no attempts yet; ``skipped`` set
        when no chain is searched for), and the (chain, descriptions only) pairs to try,
        in order."""
        cfg, index = self.cfg, self.index
        target = target_hops(cfg.seed, seed_id, self.lengths, self.weights)
        if seed_id in self.generic:
            return SeedOutcome(seed_id, target, skipped="generic"), []
        sub = extract_subgraph(
            index,
            seed_id,
            radius=min(cfg.radius, target),
            node_cap=cfg.node_cap,
            hub_degree=cfg.hub_degree,
            allowed=self.allowed,
        )
        if cfg.min_crossings and self.multi_source.isdisjoint(sub.depth):
            return SeedOutcome(seed_id, target, skipped="no_crossing"), []
        search = search_chains(
            sub,
            min_hops=cfg.min_hops,
            max_hops=target,
            budget=cfg.expansion_budget,
            rarity=self.rar,
            is_answer=lambda v: index.type[v] in self.answer_types,
            keep=cfg.candidates * (OBFUSCATION_WIDTH if cfg.obfuscation >= 2 else 1),
            same_concept=self.names.same_concept,
            accept=self._accept,
        )
        plan = [(chain, False) for chain in search.chains[: cfg.candidates]]
        if self.describer is not None:  # descriptions only first, then named facts too
            plan = [(chain, True) for chain in search.chains] + plan
        head = SeedOutcome(seed_id, target, search.expansions, search.exhausted)
        return head, plan

    def run(self, plan: list[tuple[Any, bool]], start: int = 0) -> Iterator[Attempt]:
        """The attempts of a `plan` from position ``start``, computed lazily."""
        for chain, plain_only in plan[start:]:
            yield self.attempt(chain, plain_only)

    def outcome(self, seed_id: str) -> SeedOutcome:
        """The seed's figures and its attempts up to the first that passes every check
        but deduplication (``complete`` False) or all of them."""
        head, plan = self.plan(seed_id)
        done: list[Attempt] = []
        for att in self.run(plan):
            done.append(att)
            if att.final is not None:
                return msgspec.structs.replace(head, attempts=tuple(done), complete=False)
        return msgspec.structs.replace(head, attempts=tuple(done))

    def attempt(self, chain, plain_only: bool) -> Attempt:
        """One chain: `make_item`, the optional rewrite, the specialty filters, and with
        a world evidence, answerability and the search-shortcut rewording."""
        cfg, index = self.cfg, self.index
        reason, item = make_item(
            index,
            self.disamb,
            self.specialty,
            self.rar,
            cfg,
            chain.nodes,
            chain.steps,
            self.kg,
            self.lexicon,
            self.describer,
            plain_only,
            names=self.names,
            generic=self.generic,
        )
        if item is None:
            return Attempt(reason)
        if self.rewrite is not None:
            item = self._rewritten(item, chain.nodes)
        if len(item.question) > MAX_QUESTION_CHARS:
            return Attempt("too_long", item)
        if self.needs_specialty and item.specialty not in SPECIALTIES:
            return Attempt("no_specialty", item)
        if self.wanted and item.specialty not in self.wanted:
            return Attempt("specialty", item)
        final: QAItem | None = item
        if self.world is not None:
            with_evidence = attach_evidence(self.world, item)
            if with_evidence is None:
                return Attempt("unanswerable", item)
            final = reword_past_search(self.world, index, cfg, with_evidence, self.lexicon)
            if final is None:
                return Attempt("search_shortcut", item)
        return Attempt(None, item, final, self.world is not None and is_shortcut(self.world, final))

    def _rewritten(self, item: QAItem, nodes: tuple[str, ...]) -> QAItem:
        new = self.rewrite(item.question)
        why = accept_rewrite(
            item.question,
            new,
            LeakCheck(labels_of(self.index, nodes[1:])),
            self.world,
            item.answer_id,
        )
        if hasattr(self.rewrite, "record"):
            self.rewrite.record(item.question, why is None, why)
        if why is None:
            self.rewrites["accepted"] += 1
            return msgspec.structs.replace(item, question=new.strip())
        self.rewrite_rejected += 1
        self.rewrites[f"rejected_{why}"] += 1
        return item


def replay(
    attempts, dedup: Deduplicator, reason: str = "no_chain"
) -> tuple[str | None, Attempt | None]:
    """Go through a seed's ``attempts`` in order as the sequential pipeline does:
    ``(None, attempt)`` for the first whose item is no duplicate and passed every check
    (its ``final`` added to ``dedup``), else ``(reason of the last attempt, None)``
    (``reason`` when there was none)."""
    for att in attempts:
        if att.item is None:
            reason = att.reason
            continue
        if dedup.is_duplicate(att.item):
            reason = "duplicate"
            continue
        if att.reason is not None:
            reason = att.reason
            continue
        dedup.add(att.final)
        return None, att
    return reason, None


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

"""One chain -> one verified item (`make_item`), and its rewording past search.

`make_item`: uniqueness under the closure (`uniqueness`, adding distinguishing
constraints; with a `Describer`, descriptions first or only), effective hops (`hops`:
an item with fewer effective than nominal hops is a ``shortcut``), a described seed
(`describe_seed`), question text (`render`), the leak check, labels (`labels`,
`specialty`). `reword_past_search`: the first of `REWORDINGS` other wordings whose text
does not find the answer's page by search (`shortcut`). Deterministic for a config seed.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec

from medenv.kg.graph import KnowledgeGraph
from medenv.kg.names import natural_order
from medenv.synth import labels
from medenv.synth.config import SynthConfig
from medenv.synth.describe import Describer, plain
from medenv.synth.hops import effective_hops
from medenv.synth.index import GraphIndex
from medenv.synth.namekey import NameKeys
from medenv.synth.qa import Constraint, Hop, QAItem
from medenv.synth.render import LeakCheck, labels_of, render_question
from medenv.synth.shortcut import is_shortcut
from medenv.synth.specialty import SpecialtyMap
from medenv.synth.uniqueness import Disambiguator

UNNAMEABLE_CONSTRAINT_TYPES = frozenset({"frequency"})
REWORDINGS = 3


def answer_aliases(node) -> tuple[str, ...]:
    """Synonyms, and the natural word order of inverted catalogue names (for OMIM-style
    "Leukemia, acute monocytic": "acute monocytic leukemia"), without the name itself."""
    seen = {node.name.casefold()}
    out = []
    for label in (*node.synonyms, natural_order(node.name), *map(natural_order, node.synonyms)):
        if label.casefold() not in seen:
            seen.add(label.casefold())
            out.append(label)
    return tuple(out)


def reword_past_search(
    world: Any, index: GraphIndex, cfg: SynthConfig, item: QAItem, lexicon: dict
) -> QAItem | None:
    """``item``, or the first of `REWORDINGS` other wordings, whose text does not find the
    answer's page by search (`medenv.synth.shortcut`); None when every wording does."""
    if not is_shortcut(world, item):
        return item
    steps = tuple((h.relation, h.inverse) for h in item.hops)
    check = LeakCheck(labels_of(index, item.chain[1:]))
    digest = labels.chain_digest(item.chain, steps)
    for k in range(1, REWORDINGS + 1):
        rng = random.Random(f"{cfg.seed}|{digest}|{k}")
        text = render_question(
            index, item.chain, steps, item.constraints, rng, lexicon, cfg.obfuscation >= 1
        )
        if check(text):
            continue
        candidate = msgspec.structs.replace(item, question=text)
        if not is_shortcut(world, candidate):
            return candidate
    return None


SEED_FACTS = 3
"""At most this many descriptions of a described seed (`describe_seed`)."""


def describe_seed(
    disamb: Disambiguator,
    describer: Describer,
    chain: tuple[str, ...],
    steps: tuple[tuple[str, bool], ...],
    constraints: tuple,
    limit: int = 0,
) -> tuple:
    """``constraints`` plus descriptions of the seed (constraints on node 0: the question
    then describes its seed instead of naming it), when they name exactly one entity and
    the question, re-verified under the closure with the seed described, still admits
    its answer alone (and, with a ``limit``, every middle node has at most ``limit``
    candidates, counted from the described seed); else ``constraints`` unchanged.

    The descriptions are the fewest the greedy choice finds, at most `SEED_FACTS`: each
    time the one that leaves the fewest nodes of the seed's type (ties: the describer's
    order), until the question holds (before synthesis version 11 every description of the
    seed was stated, up to 16: "has genitourinary features, has head and neck features,
    has ocular features, ..."). Effective hops do not change: no shortcut starts at the
    seed, and a described seed cannot be looked up by name."""
    index = disamb.index
    if sum(plain(index, c) is None for c in constraints) != 1:
        return constraints
    own = [
        Constraint(node=0, relation=f.relation, entity=f.entity, inverse=f.inverse)
        for f in describer.facts(chain[0])
        if f.entity not in chain
    ]
    if not own:
        return constraints

    def holds(trial: tuple) -> bool:
        sets = disamb.candidate_sets(chain, steps, trial)
        return sets[-1] == {chain[-1]} and not (limit and disamb.widest(sets, limit) is not None)

    if not holds((*own, *constraints)):  # all of them: no subset does better
        return constraints
    members = set(disamb.of_type(index.type[chain[0]]))
    chosen: list[Constraint] = []
    while len(chosen) < SEED_FACTS:
        scored = [
            (len(members & disamb.satisfies(c)), k, c) for k, c in enumerate(own) if c not in chosen
        ]
        scored = [x for x in scored if x[0] < len(members)]
        if not scored:
            return constraints
        _, _, best = min(scored, key=lambda x: (x[0], x[1]))
        chosen.append(best)
        members &= disamb.satisfies(best)
        trial = (*chosen, *constraints)
        if holds(trial):
            return trial
    return constraints


def describe_named(
    disamb: Disambiguator,
    describer: Describer,
    chain: tuple[str, ...],
    steps: tuple[tuple[str, bool], ...],
    constraints: tuple,
    max_constraints: int,
    limit: int = 0,
) -> tuple:
    """``constraints`` with each named constraint (in order) replaced by descriptions of
    its chain node (`medenv.synth.describe`) where that works: the other constraints
    are kept, descriptions are added by the same greedy search as ever
    (`Disambiguator.disambiguate`, descriptions only, at most ``max_constraints`` in all
    and 3 per node) until the question, re-verified under the closure, admits its answer
    alone, and the result must keep every hop (`effective_hops` = nominal) and, with a
    ``limit``, every middle node within ``limit`` candidates (`Disambiguator.narrow`,
    descriptions only); else that named constraint stays. A named constraint the others
    make redundant is dropped."""
    index = disamb.index
    current = tuple(constraints)
    for c in [c for c in constraints if plain(index, c) is None]:
        rest = tuple(x for x in current if x != c)
        trial = disamb.disambiguate(
            chain,
            steps,
            max_constraints=max_constraints,
            per_node=3,
            named=False,
            described=describer.facts,
            start=rest,
        )
        if trial is not None and limit:
            trial = disamb.narrow(
                chain,
                steps,
                trial,
                limit=limit,
                max_constraints=max_constraints,
                named=False,
                described=describer.facts,
            )
        if trial is not None and effective_hops(disamb, chain, steps, trial) == len(steps):
            current = trial
    return current


def make_item(
    index: GraphIndex,
    disamb: Disambiguator,
    specialty: SpecialtyMap,
    rar: dict[str, float],
    cfg: SynthConfig,
    chain: tuple[str, ...],
    steps: tuple[tuple[str, bool], ...],
    kg: KnowledgeGraph,
    lexicon: dict,
    describer: Describer | None = None,
    plain_only: bool = False,
    names: NameKeys | None = None,
    generic: frozenset[str] = frozenset(),
) -> tuple[str, QAItem | None]:
    """``("ok", item)`` or ``(drop reason, None)`` for one chain. With a ``describer``
    (obfuscation level 1 or more), constraints may be descriptions (`medenv.synth.describe`)
    and read in plain words; ``plain_only``: descriptions only (no named constraint).
    A named constraint's entity is never a ``generic`` node (`medenv.synth.generic`), nor,
    with ``names``, the same concept as a chain entity (`medenv.synth.namekey`)."""
    checks: list[LeakCheck] = []

    def check(text: str) -> list[str]:  # built on first use: most chains fail before
        if not checks:
            checks.append(LeakCheck(labels_of(index, chain[1:])))
        return checks[0](text)

    def usable(e: str) -> bool:
        return (
            index.type[e] not in UNNAMEABLE_CONSTRAINT_TYPES
            and e not in generic
            and not (names is not None and names.clashes(e, chain))
            and not check(index.node[e].name)
        )

    if describer is None:
        constraints = disamb.disambiguate(
            chain, steps, max_constraints=cfg.max_constraints, usable=usable
        )
    else:
        constraints = disamb.disambiguate(
            chain,
            steps,
            max_constraints=cfg.max_constraints + plain_only,
            per_node=2 + plain_only,
            usable=usable,
            named=not plain_only,
            described=describer.facts,
        )
    if constraints is None:
        return "ambiguous", None
    limit = cfg.max_candidates
    most = cfg.max_constraints + (describer is not None)
    if limit:
        narrowed = None
        if describer is not None:  # descriptions first
            narrowed = disamb.narrow(
                chain,
                steps,
                constraints,
                limit=limit,
                max_constraints=most,
                usable=usable,
                named=False,
                described=describer.facts,
            )
        if narrowed is None and not plain_only:
            narrowed = disamb.narrow(
                chain,
                steps,
                constraints,
                limit=limit,
                max_constraints=most,
                usable=usable,
                described=describer.facts if describer is not None else None,
            )
        if narrowed is None:
            return "wide", None
        constraints = narrowed
    effective = effective_hops(disamb, chain, steps, constraints)
    if effective < len(steps):
        return "shortcut", None
    if describer is not None and not plain_only:
        constraints = describe_named(disamb, describer, chain, steps, constraints, most, limit)
        constraints = describe_seed(disamb, describer, chain, steps, constraints, limit)
    digest = labels.chain_digest(chain, steps)
    rng = random.Random(f"{cfg.seed}|{digest}")
    question = render_question(
        index, chain, steps, constraints, rng, lexicon, describer is not None
    )
    if check(question):
        return "leak", None
    answer = index.node[chain[-1]]
    n = len(steps)
    item = QAItem(
        id=labels.item_id(digest),
        question=question,
        answer=answer.name,
        answer_id=answer.id,
        aliases=answer_aliases(answer),
        chain=chain,
        hops=tuple(
            Hop(head=chain[i], relation=rel, tail=chain[i + 1], inverse=inv)
            for i, (rel, inv) in enumerate(steps)
        ),
        n_hops=n,
        specialty=specialty.of_chain(chain),
        difficulty=labels.difficulty(n, rar[chain[0]]),
        rarity=round(rar[chain[0]], 4),
        optimal_calls=labels.optimal_calls(n),
        split=labels.split_of(digest, cfg.split_shares),
        kg_source=kg.source,
        kg_version=kg.version,
        constraints=constraints,
        effective_hops=effective,
    )
    return "ok", item

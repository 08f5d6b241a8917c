"""`SynthConfig`: every knob of question synthesis, with its default and checks."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec

from medenv.errors import DataError, MedenvError
from medenv.synth.specialty import SPECIALTIES
from medenv.synth.specialty_names import read_mapping

SYNTH_VERSION = 12
"""Version of the synthesis algorithm: bumped whenever the same config and KG would give
different items, so cached sets (`medenv.questions.default_qa_set`) built by an older version
are not reused. 2: per-seed target chain length drawn from ``hop_weights``. 4: uniqueness
under the ontology closure, effective hops, shortcut check, aliases, lexicon wording.
5: the leak check also reads punctuation as spaces. 6: obfuscation levels (constraints described
in plain words, `medenv.synth.describe`) and the manifest's ``obfuscation`` block; the default,
level 0, gives version 5's items. 7: at levels 1 and 2 a question may describe its seed
instead of naming it (constraints on node 0); level 0 (still the default) gives version 6's
items. 8: answerability, ``max_candidates`` (every middle chain node pinned to at most 3
candidates; facts added until it holds, else dropped as ``wide``), and at levels 1-2
named constraints replaced by descriptions where the question stays unique. 9: a disease's
other ``phenotype.hpoa`` names are synonyms (aliases of an answer, labels of the leak check,
names found by ``kg.find``). 10: an ``is_a`` fact with an organ-system branch root ("is a
digestive abnormality") also admits the root itself (`medenv.synth.describe.admits_itself`):
a question is unique under that plain reading too. 11: no *generic* node (an ontology
near-root: `medenv.synth.generic`, e.g. "Phenotypic abnormality") in a chain or named in
a constraint; no two entities of one concept by name in a chain, nor a constraint entity
of a chain entity's concept (`medenv.synth.namekey`: "Feingold syndrome type 1" and
"Feingold syndrome 1"); a described seed states the fewest of its descriptions the greedy
choice finds, at most 3 (`medenv.synth.make_item.describe_seed`; it stated all of them,
up to 16); "follows X-linked recessive inheritance" keeps the capital of "X-linked".
12: the constraint search scores a fact by the candidates it leaves as the question's reader
reads it (`PathQuery.satisfies`: a branch's ``is_a`` fact keeps the branch itself), not by
the closure alone, which let it add a branch fact that excluded no candidate (1,997 of the
2,000 default items unchanged)."""


OBFUSCATION_LEVELS = (0, 1, 2)
OBFUSCATION_WIDTH = 40
"""Level 2: chains per seed tried with descriptions only, per candidate. 40 (12 before
synthesis version 8): with the answerability limit (`SynthConfig.max_candidates`) fewer
chains pass with descriptions alone; on 300 items (seed 5, no world) 12 gave 40% of
questions naming at most one entity, 40 gives 53%, at ~1.6x the CPU."""


class SynthConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of one synthesis run. Same config + same KG -> same questions.

    - ``n``: items wanted; ``seed``: drives seed order and wording.
    - ``min_hops``/``max_hops``: chain length bounds (edges from seed to answer).
    - ``hop_weights``: relative weights of the target lengths ``min_hops..max_hops`` (one
      per length, see `hop_weights_of`); each seed draws its target length from them and
      gets the longest chain up to it. Empty (default): ``1, 4, .., k*k`` (the squared rank
      of the length), which favours longer chains: 2..4 hops weigh 1:4:9 (long chains are
      the ones most often dropped as ambiguous under the closure, so the set's mean
      effective hops stays at 3 or more).
    - ``rare_share``: share of seed entities drawn from the rare tail, which is the
      ``rare_fraction`` rarest eligible entities (see `medenv.synth.rarity`).
    - ``radius``/``node_cap``/``hub_degree``: the bounded subgraph around a seed (hops from
      the seed, at most ``node_cap`` nodes, nodes of degree above ``hub_degree`` left out).
    - ``expansion_budget``: node expansions the chain search may spend per seed;
      ``candidates``: best chains per seed tried before the seed is dropped.
    - ``max_constraints``: distinguishing facts a question may add to be unambiguous.
    - ``answer_types``: node types an answer may have; ``seed_types``: types of seeds.
    - ``specialties``: keep only items of these specialties (empty: all).
    - ``min_crossings``: on a merged graph, keep only chains that cross a source boundary
      at least this often (`medenv.kg.provenance.chain_crossings`); 0 (default): any.
    - ``split_shares``: train / validation / test shares (hash of the chain decides).
    - ``near_duplicate``: Jaccard similarity of word 3-shingles above which two questions
      with the same answer are duplicates.
    - ``specialty_file``: a user specialty mapping (`medenv.synth.specialty_names`: node id
      or name -> specialty), for any graph; None: HPO branches, else names and ancestors.
    - ``lexicon``: a user relation lexicon file (`medenv.synth.lexicon`: wording and
      relation properties, e.g. for ``edgelist`` graphs); None: the built-in lexicon.
    - ``obfuscation``: how much the question names (`OBFUSCATION_LEVELS`). 0 (default): the seed and
      every constraint entity are named verbatim. 1: constraints may be *descriptions*
      (verified properties worded in plain clinical vocabulary: organ system, mode of
      inheritance, clinical course; `medenv.synth.describe`), and each chain is first
      tried with descriptions only, so that the question names only its seed; a question
      that would name its seed and one constraint entity describes its seed instead when
      it stays unique. 2: as 1, trying ``candidates * OBFUSCATION_WIDTH`` chains
      per seed with descriptions only before falling back to named facts (the most
      questions naming one entity). Descriptions are constraints like any other: verified
      under the closure, by the effective-hop and the shortcut checks.
    - ``max_candidates``: answerability: every *middle* chain node (``1 <= i < n``) is
      pinned, given the question's seed and constraints under the closure, to at most
      this many candidates (the level ``S(i)`` of `medenv.synth.uniqueness`): facts are
      added (descriptions first at levels 1-2) until it holds, else the item is dropped
      (``wide``). A reader following the chain from its seed never holds more than this
      many live candidates for one node. 0: no limit.
    """

    n: int = 2000
    seed: int = 0
    min_hops: int = 2
    max_hops: int = 4
    hop_weights: tuple[float, ...] = ()
    rare_share: float = 0.7
    rare_fraction: float = 0.3
    radius: int = 4
    node_cap: int = 300
    hub_degree: int = 150
    expansion_budget: int = 2000
    candidates: int = 4
    max_constraints: int = 3
    answer_types: tuple[str, ...] = ("disease", "gene", "phenotype")
    seed_types: tuple[str, ...] = ("phenotype", "disease", "gene")
    specialties: tuple[str, ...] = ()
    split_shares: tuple[float, float, float] = (0.8, 0.1, 0.1)
    near_duplicate: float = 0.8
    lexicon: str | None = None
    min_crossings: int = 0
    specialty_file: str | None = None
    obfuscation: int = 0
    max_candidates: int = 3

    def check(self) -> SynthConfig:
        """Raise `MedenvError` naming the first bad setting; return self."""
        if self.n < 1:
            raise MedenvError(f"n must be at least 1, got {self.n}")
        if self.min_hops < 1:
            raise MedenvError(f"min-hops must be at least 1, got {self.min_hops}")
        if self.min_hops > self.max_hops:
            raise MedenvError(
                f"min-hops ({self.min_hops}) is larger than max-hops ({self.max_hops})"
            )
        if self.max_hops > 8:
            raise MedenvError(f"max-hops must be at most 8, got {self.max_hops}")
        weights = self.hop_weights
        span = self.max_hops - self.min_hops + 1
        if weights and len(weights) != span:
            raise MedenvError(
                f"hop-weights needs one weight per length {self.min_hops}..{self.max_hops} "
                f"({span}), got {len(weights)}: {weights}"
            )
        if weights and (not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0):
            raise MedenvError(
                f"hop-weights must be non-negative finite numbers with a positive sum: {weights}"
            )
        if not 0.0 <= self.rare_share <= 1.0:
            raise MedenvError(f"rare-share must be in [0, 1], got {self.rare_share}")
        if not 0.0 < self.rare_fraction <= 1.0:
            raise MedenvError(f"rare-fraction must be in (0, 1], got {self.rare_fraction}")
        for name in ("radius", "node_cap", "hub_degree", "expansion_budget", "candidates"):
            if getattr(self, name) < 1:
                raise MedenvError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.min_crossings < self.max_hops:
            raise MedenvError(
                f"min-crossings must be in 0..max-hops-1 ({self.max_hops - 1}): a chain of n "
                f"hops crosses at most n-1 times; got {self.min_crossings}"
            )
        if self.obfuscation not in OBFUSCATION_LEVELS:
            raise MedenvError(
                f"obfuscation must be one of {', '.join(map(str, OBFUSCATION_LEVELS))}, "
                f"got {self.obfuscation}"
            )
        if self.max_candidates < 0:
            raise MedenvError(f"max_candidates must be >= 0, got {self.max_candidates}")
        if self.max_constraints < 0:
            raise MedenvError(f"max_constraints must be >= 0, got {self.max_constraints}")
        unknown = [s for s in self.specialties if s not in SPECIALTIES]
        if unknown:
            raise MedenvError(
                f"unknown specialty {unknown[0]!r}; valid specialties: {', '.join(SPECIALTIES)}"
            )
        if self.lexicon is not None:
            if not Path(self.lexicon).is_file():
                raise DataError(self.lexicon, "lexicon file not found")
        if self.specialty_file is not None:
            read_mapping(self.specialty_file, SPECIALTIES)  # a bad file fails before the KG
        shares = self.split_shares
        if len(shares) != 3 or min(shares) < 0 or abs(sum(shares) - 1.0) > 1e-6:
            raise MedenvError(f"split shares must be 3 non-negative numbers summing to 1: {shares}")
        return self


def hop_weights_of(config: SynthConfig) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The target lengths ``min_hops..max_hops`` and their weights (``hop_weights``, or
    ``1, 4, .., k*k`` by squared length rank when it is empty)."""
    lengths = tuple(range(config.min_hops, config.max_hops + 1))
    weights = tuple(float(w) for w in config.hop_weights) or tuple(
        float(k * k) for k in range(1, len(lengths) + 1)
    )
    return lengths, weights

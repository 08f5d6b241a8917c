"""What `medenv.env.MedResearchEnv.reset` decides before an episode starts: its random
generator (seeded lazily) and the question it plays.

- `LazySeeding`: ``reset(seed=s)`` seeds as ``gym.Env.reset`` does, except that for a
  whole-number seed the generator (`gymnasium.utils.seeding.np_random` of ``s``) is made
  when `np_random` is first read. A reset to a given ``question_id`` never draws, and
  making a generator costs ~25 µs per reset; the draws are those of the eager generator
  (tested against gymnasium's), and bad seeds raise gymnasium's error.
- `choose_question`: the question a reset's ``options`` pick (``question_id``, or a draw
  among those matching ``split``/``specialty``/``hops``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding

from medenv.env_config import whole_number
from medenv.errors import MAX_SEED, MedenvError, check_seed
from medenv.qa import QAItem

RESET_OPTIONS = ("question_id", "split", "specialty", "hops")


class LazySeeding(gym.Env):
    """A ``gym.Env`` whose seeded generator is made on first use (see the module)."""

    _pending_seed: int | None = None  # the seed of a generator not made yet

    def _seed(self, seed) -> None:
        """``gym.Env.reset(seed=seed)``'s seeding, the generator made when first read. A
        bool is refused by name: gymnasium takes ``True`` as the seed 1, but the event it
        is logged in then holds ``true``, which no reader of the log decodes. A seed past
        `MAX_SEED` (2**63 - 1) is refused: the ``episodes`` table's 64-bit ``seed`` read
        ``10**30`` as NULL."""
        if isinstance(seed, bool):
            raise MedenvError(f"seed must be a whole number or None, got {seed!r}")
        if isinstance(seed, int | np.integer) and seed > MAX_SEED:
            check_seed(int(seed), "seed")
        if type(seed) is int and seed >= 0:
            self._np_random, self._np_random_seed, self._pending_seed = None, seed, seed
        else:
            super().reset(seed=seed)

    @property
    def np_random(self) -> np.random.Generator:
        if self._np_random is None:
            seed, self._pending_seed = self._pending_seed, None
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        return self._np_random

    @np_random.setter
    def np_random(self, value: np.random.Generator) -> None:
        self._np_random, self._np_random_seed, self._pending_seed = value, -1, None


def choose_question(
    items: list[QAItem],
    by_id: dict[str, QAItem],
    options: dict,
    split: str | None,
    draw: Callable[[int], int],
) -> QAItem:
    """The item ``options`` name (``question_id``), else ``items[draw(n)]`` among the ``n``
    that match ``split`` (default: the env's ``split``), ``specialty`` and ``hops``.
    Options that are not a dict, unknown options, a ``hops`` that is not a whole number, an
    unknown id or no match are a `MedenvError`."""
    if not isinstance(options, Mapping):
        raise MedenvError(f"reset options must be a dict, got {type(options).__name__}")
    unknown = sorted(set(options) - set(RESET_OPTIONS), key=str)
    if unknown:
        raise MedenvError(
            f"unknown reset option(s) {unknown}; use question_id, split, specialty, hops"
        )
    if options.get("question_id") is not None:
        qid = str(options["question_id"])
        if qid not in by_id:
            raise MedenvError(f"no question {qid!r} in the question set")
        return by_id[qid]
    split = options.get("split", split)
    specialty, hops = options.get("specialty"), options.get("hops")
    if hops is not None:
        hops = whole_number("the reset option hops", hops)
    pool = [
        item
        for item in items
        if (split is None or item.split == split)
        and (specialty is None or item.specialty == specialty)
        and (hops is None or item.n_hops == hops)
    ]
    if not pool:
        raise MedenvError(
            f"no question matches split={split!r} specialty={specialty!r} hops={hops!r}"
        )
    return pool[draw(len(pool))]

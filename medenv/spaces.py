"""`ModelText`: the env's observation/action space, and its vector shared memory.

`ModelText` is a `gymnasium.spaces.Text` over `CHARSET` (the characters of real model and
corpus text). Gymnasium's own shared-memory support for ``Text`` (used by
``AsyncVectorEnv(shared_memory=True)``, the ``gym.make_vec(..., vectorization_mode="async")``
default) reads the buffer once, when the vector env is built, and returns those start-up
strings (all ``\\x00``) on every later step. This module registers `ModelText`'s own
``create``/``read``/``write`` functions with gymnasium's single-dispatch hooks (the extension
point gymnasium documents for custom spaces):

- the buffer holds, per sub-env, one int32 length then ``max_length`` Unicode code points
  (UTF-32), so a write is one ``str.encode`` and a read one ``bytes.decode``;
- ``read`` returns `SharedTexts`, a live view: indexing it decodes the buffer as it is now,
  and ``copy.deepcopy`` (what ``AsyncVectorEnv(copy=True)``, the default, returns) gives a
  plain ``tuple`` of ``str``, as ``SyncVectorEnv`` returns.
"""

from __future__ import annotations

import copy
import multiprocessing as mp
from collections.abc import Sequence
from types import ModuleType

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import shared_memory as gym_shm

# Characters of real model and corpus text: ASCII with whitespace, Latin (incl. extended),
# IPA, Greek, Cyrillic, punctuation, super/subscripts, currency, letterlike symbols,
# arrows, maths, technical and box symbols, CJK punctuation, full-width forms, U+FFFD.
RANGES = ((0x0000, 0x0590), (0x1E00, 0x2C00), (0x3000, 0x3040), (0xFF00, 0xFFF0), (0xFFFD, 0xFFFE))
CHARSET = frozenset(chr(i) for lo, hi in RANGES for i in range(lo, hi))


class ModelText(gym.spaces.Text):
    """`gymnasium.spaces.Text` over `CHARSET`, with a short repr. (`make` copies a cached
    prototype: building the charset tables takes ~7 ms, copying them nothing.)"""

    def __init__(self, max_length: int, seed=None) -> None:
        super().__init__(max_length, min_length=0, charset=CHARSET, seed=seed)

    @classmethod
    def make(cls, max_length: int) -> ModelText:
        proto = _PROTOTYPES.get(max_length)
        if proto is None:
            proto = _PROTOTYPES[max_length] = cls(max_length)
        space = copy.copy(proto)  # the tables are never mutated: shared; the RNG is not
        space._np_random = None
        return space

    def __repr__(self) -> str:
        return f"ModelText(0, {self.max_length}, charset={len(self.character_set)} chars)"


_PROTOTYPES: dict[int, ModelText] = {}


class SharedTexts(Sequence):
    """A live, read-only view of ``n`` texts in a `ModelText` shared-memory buffer."""

    def __init__(self, buffer, n: int, max_length: int) -> None:
        self._rows = np.frombuffer(buffer.get_obj(), dtype=np.int32).reshape(n, max_length + 1)

    def __len__(self) -> int:
        return self._rows.shape[0]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self)[index]
        row = self._rows[index]
        return row[1 : 1 + int(row[0])].tobytes().decode("utf-32-le", "surrogatepass")

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __copy__(self) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"


@gym_shm.create_shared_memory.register(ModelText)
def _create(space: ModelText, n: int = 1, ctx: ModuleType = mp):
    return ctx.Array(np.dtype(np.int32).char, n * (space.max_length + 1))


@gym_shm.read_from_shared_memory.register(ModelText)
def _read(space: ModelText, shared_memory, n: int = 1) -> SharedTexts:
    return SharedTexts(shared_memory, n, space.max_length)


@gym_shm.write_to_shared_memory.register(ModelText)
def _write(space: ModelText, index: int, value: str, shared_memory) -> None:
    if not isinstance(value, str) or len(value) > space.max_length:
        raise ValueError(f"not a value of {space!r}: {type(value).__name__} {str(value)[:40]!r}")
    codes = np.frombuffer(value.encode("utf-32-le", "surrogatepass"), dtype=np.int32)
    size = space.max_length + 1
    row = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)[index * size : (index + 1) * size]
    row[0] = len(codes)
    row[1 : 1 + len(codes)] = codes

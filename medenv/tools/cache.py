"""A bounded, deterministic cache of tool results, one per world.

A tool's result is a pure function of the world (its KG, corpus and indexes, named by its
fingerprint), the tool and its checked arguments, so a repeated call can return the stored
`ToolResult` (frozen) instead of searching again. RL workloads repeat calls: a GRPO group
runs G rollouts of one question, evaluation re-runs, replay. `run_cached` keeps up to
`cache_size()` results per world object, least recently used out first; the env's
observations and events are the same with the cache on or off (tests check it), only the
logged ``latency_ms`` is shorter on a hit.

Size: ``MEDENV_TOOL_CACHE`` (results per world; default `DEFAULT_SIZE`; ``0`` turns the
cache off), read at each call so a process can switch it; `cache_stats` reports hits.
"""

from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import msgspec

from medenv.errors import MedenvError
from medenv.tools.result import ToolResult

DEFAULT_SIZE = 4096
ENV_VAR = "MEDENV_TOOL_CACHE"
_KEY = msgspec.json.Encoder(order="deterministic")


class ResultCache:
    """Up to ``size`` results, least recently used evicted first."""

    __slots__ = ("results", "hits", "misses", "__weakref__")

    def __init__(self) -> None:
        self.results: OrderedDict[tuple[str, bytes], ToolResult] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple[str, bytes]) -> ToolResult | None:
        result = self.results.get(key)
        if result is not None:
            self.results.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return result

    def put(self, key: tuple[str, bytes], result: ToolResult, size: int) -> None:
        self.results[key] = result
        while len(self.results) > size:
            self.results.popitem(last=False)


_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # world -> ResultCache


def cache_size() -> int:
    """Results kept per world (``MEDENV_TOOL_CACHE``, default `DEFAULT_SIZE`; 0 = off)."""
    raw = os.environ.get(ENV_VAR)
    if raw is None or raw == "":
        return DEFAULT_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = -1
    if size < 0:
        raise MedenvError(f"{ENV_VAR} must be a whole number >= 0 (0 = off), got {raw!r}")
    return size


def run_cached(world: Any, name: str, args: msgspec.Struct, run: Callable) -> ToolResult:
    """``run(world, args)``, or the stored result of the same call on the same world."""
    size = cache_size()
    if size == 0:
        return run(world, args)
    try:
        cache = _CACHES.get(world)
        if cache is None:
            cache = _CACHES[world] = ResultCache()
    except TypeError:  # a world that cannot be weakly referenced: no cache
        return run(world, args)
    try:
        key = (name, _KEY.encode(args))
    except (UnicodeEncodeError, msgspec.EncodeError):  # e.g. a lone surrogate: not kept
        return run(world, args)
    result = cache.get(key)
    if result is None:
        result = run(world, args)
        cache.put(key, result, size)
    return result


def clear_cache(world: Any) -> None:
    """Forget ``world``'s stored results and counts (benches start each pass cold)."""
    _CACHES.pop(world, None)


def cache_stats(world: Any) -> tuple[int, int, int]:
    """``(hits, misses, results held)`` of ``world``'s cache (zeros without one)."""
    cache = _CACHES.get(world)
    if cache is None:
        return (0, 0, 0)
    return (cache.hits, cache.misses, len(cache.results))

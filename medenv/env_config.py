"""`EnvConfig`: the configuration of a `MedResearchEnv`, one typed struct.

The ``gym.make("MedResearch-v0", ...)`` keyword arguments that change what an episode does
map onto its fields (``qa`` as a label: ``"default"``, the resolved path, or ``"inline"``;
``world`` as ``"default"``, ``"custom"`` or a recorded `medenv.worldspec.WorldSpec` dict; ``reward_terms`` as the import paths of the terms
beyond the defaults, `medenv.reward.term_refs`). It is logged as ``run_started.config``
(`to_dict`) and hashed into every ``episode_started.config_hash`` (`config_hash`);
`medenv.verify` rebuilds an env from it. Runtime objects (the question list, the
world, the recorder, tags, run id, shard) are not configuration.
"""

from __future__ import annotations

import hashlib
import numbers
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from medenv.errors import MedenvError, is_utf8_text

MAX_STEPS = 10**6  # the most steps an episode may be given (``max_steps``)


class EnvConfig(msgspec.Struct, frozen=True, kw_only=True):
    qa: str = "default"
    split: str | None = None
    tools: tuple[str, ...] = ()
    max_steps: int = 12
    reward_weights: dict[str, float] = {}
    backend: str = "tantivy"
    source: str = "hpo"
    world_seed: int = 0
    world: str | dict[str, Any] = "default"
    parallel_calls: bool = False
    tool_format: str = "auto"
    reward_terms: dict[str, str] = {}

    def __post_init__(self) -> None:
        # the env checks max_steps is a whole number >= 1 first; the bound is checked here,
        # where every env's configuration passes (10**30 steps was taken without a word)
        whole_number("max_steps", self.max_steps, minimum=1, maximum=MAX_STEPS)

    def to_dict(self) -> dict[str, Any]:
        """The logged form (``reward_terms`` only when there are user terms)."""
        out = msgspec.to_builtins(self)
        out["tools"] = list(self.tools)
        if not self.reward_terms:
            out.pop("reward_terms")
        return out

    @property
    def config_hash(self) -> str:
        """16 hex digits of SHA-256 over `to_dict` (keys sorted)."""
        data = msgspec.json.encode(self.to_dict(), order="deterministic")
        return hashlib.sha256(data).hexdigest()[:16]


def qa_label(qa: Any) -> str:
    if qa is None:
        return "default"
    if isinstance(qa, str | Path):
        return str(Path(qa).expanduser().resolve())
    return "inline"


def whole_number(
    name: str, value: Any, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an int when it is a whole number (an int, a NumPy integer, a float with
    no fraction, or a string of digits) of at least ``minimum`` and at most ``maximum``;
    otherwise one `MedenvError` naming the argument (never Python's ``int()`` error, never a
    silently cut fraction)."""
    number = None
    if not isinstance(value, bool) and isinstance(value, numbers.Real | str):
        try:
            number = int(value)
        except (ValueError, OverflowError):
            number = None
        if isinstance(value, numbers.Real) and number is not None and number != value:
            number = None
    if number is None:
        raise MedenvError(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and number < minimum:
        raise MedenvError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and number > maximum:
        raise MedenvError(f"{name} must be at most {maximum:,}, got {number:,}")
    return number


def check_render_mode(render_mode: Any, modes: Iterable[str]) -> None:
    """One `MedenvError` naming ``render_mode`` and the allowed values when it is neither
    None nor one of ``modes`` (gymnasium's ``make`` tripped over an int with an
    AttributeError of its own)."""
    modes = tuple(modes)
    if render_mode is not None and not (isinstance(render_mode, str) and render_mode in modes):
        allowed = ", ".join(["None", *map(repr, modes)])
        raise MedenvError(f"render_mode must be one of {allowed}, got {render_mode!r}")


def check_env_args(tools: Any, tags: Any, parallel_calls: Any, world: Any, db: Any) -> None:
    """One `MedenvError` for a ``gym.make`` argument of a type the env cannot use (a string
    for ``tools`` would be read letter by letter; ``"no"`` for ``parallel_calls`` is true)."""
    if tools is not None and (
        isinstance(tools, str | bytes)
        or not isinstance(tools, Iterable)
        or not all(isinstance(t, str) for t in tools)  # [["x"]]: unhashable, deep inside
    ):
        raise MedenvError(f"tools must be a list of tool names, got {tools!r}")
    if tags is not None and not isinstance(tags, Mapping):
        raise MedenvError(f"tags must be a dict, got {type(tags).__name__}")
    if tags is not None:
        check_tag_value("tags", tags)
    if not (isinstance(parallel_calls, bool | np.bool_) or parallel_calls in (0, 1)):
        raise MedenvError(f"parallel_calls must be True or False, got {parallel_calls!r}")
    if not (
        world is None or isinstance(world, dict) or callable(world) or hasattr(world, "kg_summary")
    ):
        raise MedenvError(
            "world must be None, a world (medenv.world.load_world), a factory of one or a "
            f"recorded world spec dict, got {type(world).__name__}"
        )
    if not (db is None or isinstance(db, str | os.PathLike) or hasattr(db, "emit")):
        raise MedenvError(f"db must be a path, None or a Recorder, got {type(db).__name__}")


def check_env_names(source: Any, backend: Any, reward_terms: Any) -> None:
    """One `MedenvError` naming ``source``, ``backend`` or ``reward_terms`` when it is not of
    a type the env can use (a list or None for ``source`` was a TypeError from deep inside
    the KG loader; an int for ``reward_terms`` one from the rubric)."""
    if not isinstance(source, str):
        raise MedenvError(f"source must be a KG source name (a string), got {source!r}")
    if not isinstance(backend, str | None):  # None: the registry names the choices
        raise MedenvError(f"backend must be a search backend name, got {backend!r}")
    usable = (
        reward_terms is None
        or hasattr(reward_terms, "terms")  # a Rubric
        or hasattr(reward_terms, "fn")  # a RewardTerm
        or (isinstance(reward_terms, Iterable) and not isinstance(reward_terms, str | bytes))
    )
    if not usable:
        raise MedenvError(
            "reward_terms must be None, a Rubric, a RewardTerm or a list of RewardTerms, "
            f"got {type(reward_terms).__name__}"
        )


def check_tag_value(where: str, value: Any, depth: int = 0) -> None:
    """One `MedenvError` naming the tag when ``value`` (an episode's tags, logged as JSON
    with every event of the episode) cannot be logged as it is: a key that is not a string
    (``1`` was logged as ``"1"``), text with a lone surrogate (logged as U+FFFD), a NaN or
    infinite number (logged as ``null``), an object that is not JSON (logged as its
    ``repr``), nesting deeper than 32."""
    if depth > 32:
        raise MedenvError(f"{where} is nested deeper than 32 levels")
    if isinstance(value, str):
        if not is_utf8_text(value):
            raise MedenvError(f"{where} holds a lone surrogate, which UTF-8 cannot store")
        return
    if value is None or isinstance(value, bool | np.bool_):
        return
    if isinstance(value, numbers.Number):
        if isinstance(value, numbers.Real) and not np.isfinite(float(value)):
            raise MedenvError(f"{where} must be a finite number, got {value!r}")
        if not isinstance(value, numbers.Real):
            raise MedenvError(f"{where} must be a JSON value, got {type(value).__name__}")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not is_utf8_text(key):
                raise MedenvError(f"{where} has a key that is not text: {key!r}")
            check_tag_value(f"{where}[{key!r}]", item, depth + 1)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_tag_value(f"{where}[{i}]", item, depth + 1)
        return
    raise MedenvError(f"{where} must be a JSON value, got {type(value).__name__}")

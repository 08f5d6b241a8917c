"""The env's episode-level events, built from what the env holds (its configuration, the
world, the question, the `medenv.env_step.EpisodeState`, the rubric's score).

The payload types are declared in `medenv.events.schema`; these functions only gather the
values. Per-step events are built in `medenv.env_step`.
"""

from __future__ import annotations

import hashlib
import platform
from typing import Any

import gymnasium as gym
import msgspec

from medenv import __version__ as medenv_version
from medenv.env_step import EpisodeState
from medenv.events import schema as ev
from medenv.qa import QAItem
from medenv.reward import EpisodeOutcome, RewardScore
from medenv.tools.parsing import PARSER_VERSION


def qa_hash(items: list[QAItem]) -> str:
    """16 hex digits of SHA-256 over the question set's ``(id, answer)`` pairs."""
    data = msgspec.json.encode([(i.id, i.answer) for i in items], order="deterministic")
    return hashlib.sha256(data).hexdigest()[:16]


def run_started(
    config: dict[str, Any], weights: dict[str, float], world, items: list[QAItem], seed
) -> ev.RunStarted:
    kg = world.kg_summary  # source and version, without loading a lazy world
    return ev.RunStarted(
        config=config,
        kg_source=str(kg.source),
        kg_version=str(kg.version),
        corpus_hash=str(world.fingerprint),
        index_hash=world.index_hash,
        parser_version=PARSER_VERSION,
        reward_weights=weights,
        seed=seed,
        qa_hash=qa_hash(items),
        versions={
            "medenv": medenv_version,
            "gymnasium": gym.__version__,
            "python": platform.python_version(),
            "schema": str(ev.SCHEMA_VERSION),
            "backend": str(world.backend),
        },
    )


def episode_started(
    item: QAItem, *, seed: int | None, prompt: str, config_hash: str, tags: dict
) -> ev.EpisodeStarted:
    """Its other fields (``split``, ``n_hops``, ``answer``, ...) are the item's, by name."""
    return ev.from_sources(
        ev.EpisodeStarted, item, question_id=item.id, seed=seed, prompt=prompt,
        config_hash=config_hash, tags=tags, item=msgspec.to_builtins(item),
    )  # fmt: skip


def reward_assigned(score: RewardScore, o: EpisodeOutcome, recall: float) -> ev.RewardAssigned:
    """Its other fields are the score's (a term's value by its name) or the outcome's."""
    comps = score.components
    return ev.from_sources(
        ev.RewardAssigned, score, o,
        accuracy=comps.get("accuracy", 0.0), format=comps.get("format", 0.0),
        efficiency=comps.get("efficiency", 0.0), evidence_recall=recall,
    )  # fmt: skip


def episode_ended(state: EpisodeState, terminated: bool, truncated: bool) -> ev.EpisodeEnded:
    """Its counters are the `EpisodeState`'s, by name."""
    return ev.from_sources(ev.EpisodeEnded, state, terminated=terminated, truncated=truncated)

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
from pathlib import Path
from typing import Any

import msgspec


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

"""The `Agent` protocol: one small interface every policy implements.

An agent is reset once per episode and then asked for one action per step:

- ``reset(item=None, seed=None)``: start a new episode. ``item`` is the episode's
  `QAItem`, passed only to trusted agents (the oracle reads its masked chain structure);
  other agents ignore it. ``seed`` makes sampling (phrasing, random choices) reproducible.
- ``act(observation, info) -> str``: the raw model text for the next step. On the first
  call ``observation`` is the env's question prompt; afterwards it is the bare text the
  last tool returned. ``info`` is the env's info dict (``tools`` holds the tool schemas
  as a JSON string, ``budget`` and ``step`` the step budget and counter).

The returned text is what a model would write: an optional ``<think>...</think>`` block
followed by exactly one ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` or a
final ``<answer>...</answer>``. The env parses it; agents never call tools themselves.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Agent(Protocol):
    """A policy over the MedResearch env: raw model text in, raw model text out."""

    name: str

    def reset(self, item: Any = None, seed: int | None = None) -> None: ...

    def act(self, observation: str, info: dict) -> str: ...

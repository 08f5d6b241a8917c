"""Agents by name: `AgentSpec` (a name plus constructor options, picklable) and `make_agent`.

``AGENT_NAMES`` are the built-in agents (``oracle``, ``heuristic``, ``random``, ``llm``);
a rollout also takes a picklable callable ``world -> Agent`` (`agent_name` names it). The
spec's options also label episodes: an oracle with ``explore`` tags each episode
``explore: bool`` (`explore_options`), an llm with ``guidance`` tags the run
``guidance: True`` (`guidance_tags`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from medenv.agents.heuristic import HeuristicAgent
from medenv.agents.llm import LLMAgent, make_backend, model_contract
from medenv.agents.oracle import OracleAgent
from medenv.agents.random import RandomAgent

from medenv.errors import MedenvError

AGENT_NAMES = ("oracle", "heuristic", "random", "llm")
LLM_NEEDS_MODEL = "the llm agent needs a model: --model PATH|openai:URL#MODEL|vllm:MODEL"


class AgentSpec(msgspec.Struct, frozen=True):
    """An agent by name, with keyword options for its constructor (picklable)."""

    name: str
    options: dict = {}


def make_agent(spec: str | AgentSpec, world: Any = None):
    """Build an agent from its name/spec. The oracle needs ``world`` (its KG names)."""
    if isinstance(spec, str):
        spec = AgentSpec(spec)
    opts = dict(spec.options)
    if spec.name == "oracle":
        if world is None:
            raise MedenvError("the oracle agent needs the world (its knowledge graph)")
        return OracleAgent(world, **opts)
    if spec.name == "heuristic":
        return HeuristicAgent(**opts)
    if spec.name == "random":
        return RandomAgent(**opts)
    if spec.name == "llm":
        model = opts.pop("model", None)
        if not model:
            raise MedenvError(LLM_NEEDS_MODEL)
        backend_opts = opts.pop("backend_options", {})
        # the prompt contract: the model folder's saved one, with the asked parts
        contract = model_contract(model, opts.pop("prompt", None), opts.pop("adapt_prompt", False))
        return LLMAgent(make_backend(model, **backend_opts), contract=contract, **opts)
    raise MedenvError(f"unknown agent {spec.name!r}; choose one of {', '.join(AGENT_NAMES)}")


def agent_name(factory: str | AgentSpec | Callable) -> str:
    if isinstance(factory, str):
        return factory
    if isinstance(factory, AgentSpec):
        return factory.name
    return getattr(factory, "agent_name", None) or getattr(factory, "__name__", "custom")


def is_named(factory: Any, name: str | None = None) -> bool:
    """Whether ``factory`` is a built-in agent by name or spec (and, given ``name``, that one)."""
    return isinstance(factory, (str, AgentSpec)) and name in (None, agent_name(factory))


def guidance_tags(factory: Any) -> dict:
    """``{"guidance": True}`` for an llm spec with masked trajectory guidance (export strips
    it from SFT prompts and flags the rows)."""
    if isinstance(factory, AgentSpec) and factory.options.get("guidance"):
        return {"guidance": True}
    return {}


def explore_options(factory: Any) -> tuple[int, float] | None:
    """(agent seed, explore share) of an oracle spec that explores, else None."""
    if isinstance(factory, AgentSpec) and factory.name == "oracle":
        share = float(factory.options.get("explore") or 0.0)
        if share > 0:
            return int(factory.options.get("seed") or 0), share
    return None

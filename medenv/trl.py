"""TRL adapter: ``GRPOTrainer(environment_factory=MedResearchToolEnv, ...)``.

How TRL (>= 1.16) drives an environment class (``trl/trainer/grpo_trainer.py``): it calls
the factory with no arguments once per concurrent rollout (instances are pooled and reset
between batches); every public *function* of the class other than ``reset``/``get_reward``
becomes a tool whose schema transformers' ``get_json_schema`` reads from the type hints and
the Google-style docstring; ``reset(**row)`` gets the dataset row and a returned string is
appended to the row's last user message; ``get_reward()`` (if defined) scores the rollout.

Contracts:
- The tool methods (``medical_search``, ``web_search``, ``browse``, ``answer``) are
  generated from the tool registry (`medenv.tools.registry.tool_schemas`): names, argument
  names, types, defaults and descriptions, so ``get_json_schema`` of each method equals the
  registry schema (less the JSON-schema bounds transformers cannot express). A call is one
  env step with a tool-call dict: the registry validates it, the env logs it.
- ``reset(**row)`` starts the episode of the row's question: ``row["id"]`` (the column that
  ``medenv export --format rl`` writes) or ``row["question_id"]``. A row with neither draws a
  question with the env's seeded RNG only if it carries no prompt of its own (TRL's
  dataset-free mode); a row with a prompt but no id raises `MedenvError` (it would be scored
  against another question). It returns the env's prompt when the row's last user turn is
  empty and ``None`` otherwise (the row's prompt is what the model reads).
- `MedResearchToolEnv.get_reward` ends the episode (``finish`` if no ``answer`` call ended
  it: truncated, logged, scored) and returns the env's total reward. `MedResearchTools` is
  the same adapter without ``get_reward``, for trainers that pass `reward_functions` (one
  per reward term, weights in ``GRPOConfig.reward_weights``); those also step a
  rollout's final text when it made no ``answer`` call, so ``<answer>X</answer>`` counts.
- Construction kwargs go to ``gym.make("MedResearch-v0", ...)``; use
  ``functools.partial(MedResearchToolEnv, qa=..., db=...)`` as the factory to set them.
  ``MedResearchToolEnv.close_all()`` closes every instance's event store (TRL never
  closes environments; it is not a method TRL would offer as a tool).
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any

import gymnasium as gym

import medenv  # noqa: F401  (registers MedResearch-v0)
from medenv.errors import MedenvError
from medenv.prompt import question_only, truncate_observation
from medenv.reward import TERM_NAMES
from medenv.tools.registry import TOOL_NAMES, tool_schemas

COMPONENTS = TERM_NAMES  # one reward function per built-in term (`medenv.reward.DEFAULT_TERMS`)
_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool}
DONE_MESSAGE = "The episode is over: the answer was already submitted."


def _docstring(schema: dict) -> str:
    fn = schema["function"]
    lines = [fn["description"], "", "Args:"]
    for arg, spec in fn["parameters"]["properties"].items():
        lines.append(f"    {arg}: {spec.get('description', arg)}")
    return "\n".join(lines)


def _tool_method(schema: dict):
    """A method whose signature, annotations and docstring state ``schema``; calling it
    steps the env with ``{"name": ..., "arguments": {...}}``."""
    fn = schema["function"]
    name, params = fn["name"], fn["parameters"]
    required = set(params.get("required", ()))
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    for arg, spec in params["properties"].items():
        kind = _TYPES[spec["type"]]
        default = inspect.Parameter.empty if arg in required else spec.get("default")
        parameters.append(
            inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        )
        annotations[arg] = kind
    annotations["return"] = str

    def tool(self, **arguments: Any) -> str:
        return self._call(name, arguments)

    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = _docstring(schema)
    tool.__annotations__ = annotations
    tool.__signature__ = inspect.Signature(parameters, return_annotation=str)
    return tool


class MedResearchTools:
    """One rollout's `MedResearchEnv` with the registry's tools as methods (no
    ``get_reward``: pair with `reward_functions`). See the module docstring."""

    _instances: weakref.WeakSet = weakref.WeakSet()

    def __init__(
        self,
        *,
        max_tool_chars: int | None = None,
        task_prompt: str = "full",
        step_clock: Any = None,
        agent: str = "trl",
        **env_kwargs: Any,
    ) -> None:
        tags = {"agent": agent, **dict(env_kwargs.pop("tags", None) or {})}
        self._env = gym.make("MedResearch-v0", tags=tags, **env_kwargs)
        self._max_tool_chars = max_tool_chars
        self._task_prompt = task_prompt  # "question": the reset prompt keeps only its question
        self._clock = step_clock
        self._done = True
        self._info: dict = {}
        self._components: dict[str, float] | None = None
        MedResearchTools._instances.add(self)

    @property
    def env(self):
        """The wrapped gymnasium env (``env.unwrapped`` is the `MedResearchEnv`)."""
        return self._env

    def reset(self, **row: Any) -> str | None:
        base = self._env.unwrapped
        if self._clock is not None:
            base.tags = {**base.tags, "training_step": int(self._clock.step)}
        qid = row.get("id", row.get("question_id"))
        has_prompt = bool(_last_user_text(row.get("prompt")))
        if qid is None and has_prompt:
            raise MedenvError(
                "the dataset row has a prompt but no 'id' (or 'question_id') column: the env "
                "cannot tell which question it asks (use the rows of `medenv export --format rl`)"
            )
        options = {"question_id": str(qid)} if qid is not None else None
        prompt, info = self._env.reset(options=options)
        self._done, self._info, self._components = False, info, None
        if has_prompt:
            return None
        return question_only(prompt) if self._task_prompt == "question" else prompt

    def _call(self, name: str, arguments: dict) -> str:
        if self._done:
            return DONE_MESSAGE
        observation, _, terminated, truncated, info = self._env.step(
            {"name": name, "arguments": arguments}
        )
        self._info = info
        self._done = bool(terminated or truncated)
        # the store logs the full observation; the policy reads it cut (as SFT rows are)
        return truncate_observation(observation, self._max_tool_chars)

    def _step_text(self, text: str) -> str:
        """Step a reply that parsed to no tool call (GRPO's malformed turns,
        `medenv.training.grpo_turns`): the env answers it as in evaluation (a format error is a
        penalised step and the episode goes on). Private: never offered as a tool."""
        if self._done:
            return DONE_MESSAGE
        observation, _, terminated, truncated, info = self._env.step(text)
        self._info = info
        self._done = bool(terminated or truncated)
        return truncate_observation(observation, self._max_tool_chars)

    def _finish(self, completion: list[dict] | str | None = None) -> dict[str, float]:
        """End the rollout; its reward components. A final text (``completion``) is stepped
        first when no ``answer`` call ended the episode; otherwise the env ``finish``es it."""
        if self._components is not None:
            return self._components
        if not self._done and completion is not None:
            text = completion if isinstance(completion, str) else _last_assistant_text(completion)
            if text.strip():
                _, _, terminated, truncated, self._info = self._env.step(text)
                self._done = bool(terminated or truncated)
        if not self._done:  # no answer: the env ends it as truncated, logs and scores it
            _, self._info = self._env.unwrapped.finish()
            self._done = True
        self._components = dict(self._env.unwrapped.reward_components)
        self._components["total"] = float(self._env.unwrapped.finish()[0])
        return self._components

    @classmethod
    def close_all(cls) -> None:
        """Close the event store of every adapter created in this process."""
        for instance in list(MedResearchTools._instances):
            instance._env.close()


for _schema in tool_schemas(TOOL_NAMES):
    setattr(MedResearchTools, _schema["function"]["name"], _tool_method(_schema))


class MedResearchToolEnv(MedResearchTools):
    """`MedResearchTools` whose reward is the env's: ``get_reward()`` (TRL calls it once
    per rollout) ends the episode and returns its total reward."""

    def get_reward(self) -> float:
        return self._finish()["total"]


def _last_user_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    for msg in reversed(prompt or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content") or ""
            return content if isinstance(content, str) else str(content)
    return ""


def _last_assistant_text(messages: list[dict]) -> str:
    for msg in reversed(messages):
        if msg.get("role") == "assistant":
            content = msg.get("content") or ""
            return content if isinstance(content, str) else ""
    return ""


def _reward_func(component: str):
    def reward(completions, environments=None, **_: Any) -> list[float]:
        if environments is None:
            raise MedenvError("medenv reward functions need environment_factory's environments")
        return [env._finish(c)[component] for env, c in zip(environments, completions, strict=True)]

    reward.__name__ = component
    return reward


def reward_functions(names: tuple[str, ...] | list[str] = COMPONENTS) -> list:
    """One reward function per reward term named (default: the built-in terms, accuracy,
    format, efficiency, evidence_recall), unweighted: weights go to
    ``GRPOConfig.reward_weights`` (a weight-0 term is logged by TRL as a metric). A user
    term passed to the env (``reward_terms=``) is scored by naming it here too."""
    return [_reward_func(c) for c in names]

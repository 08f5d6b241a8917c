"""`MedResearchEnv` (``MedResearch-v0``): a multi-hop medical question, tools as actions.

- ``reset(seed, options)`` picks a question (``options``: ``question_id``, ``split``,
  ``specialty``, ``hops``; otherwise drawn with the seeded ``np_random``) and returns the
  prompt: instructions, the tools and the question. ``info`` never holds the answer or chain.
- ``step(action)``: ``action`` is the model's raw text or a tool-call dict (see
  `medenv.tools.parsing`), in any model family's tool-call format or only the one named by
  ``tool_format`` (``"auto"`` by default; the format read is logged in ``action_received``'s
  ``family``). One call per step unless ``parallel_calls``. A malformed action
  returns an error observation (its kind is ``info["error"]``), counts as a format error and
  is logged; it never raises. ``answer`` terminates; ``max_steps`` actions truncate.
- Reward: 0.0 until the episode ends, then `medenv.reward.compute_reward`; components and
  ``evidence_recall`` are in ``info`` (evidence recall is also updated on every step).
- ``finish()`` ends an open episode early as truncated and returns ``(reward, info)``
  (reward and events as for truncation at ``max_steps``): for trainers whose rollout
  stops before an answer. ``env.unwrapped.episode_id`` is the logged episode id.
- ``info`` has the same keys and value types on every call: `INFO_KEYS`.
- Every event goes to the `EventStore` at ``db`` (None disables logging).

Determinism: the same seed and actions give the same observations, rewards and events
(except ``ts``, ``latency_ms``, the event hashes that cover them, and the generated
run/episode ids). A step parses exactly the
action text it logs (`canonical_action`), so a replay of the log re-executes the same input.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import msgspec

from medenv import __version__ as medenv_version
from medenv.actions import (  # noqa: F401  (re-exported: the env's action/observation rules)
    ACTION_MAX_CHARS,
    DEEP_OBJECT,
    MAX_NESTING,
    OBSERVATION_MAX_CHARS,
    canonical_action,
    fit_text,
    too_deep,
    truncation_marker,
)
from medenv.env_config import EnvConfig, qa_label
from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.recorder import Recorder
from medenv.events.store import DURABILITY, EventStore, new_run_id
from medenv.paths import medenv_home
from medenv.qa import QAItem
from medenv.qa_world import check_qa_world
from medenv.questions import load_questions
from medenv.reward import RewardTerm, Rubric, evidence_recall, outcome, rubric_from, term_refs
from medenv.spaces import CHARSET, ModelText  # noqa: F401  (re-exported)
from medenv.tools.parsing import (
    ERROR_KINDS,
    FAMILIES,
    PARSER_VERSION,
    ParsedAction,
    ParseError,
    check_tool_format,
    error_suffix,
    format_hint,
    parse_action,
)
from medenv.tools.registry import TOOL_NAMES, tool_schemas, validate
from medenv.tools.registry import run as run_tool
from medenv.tools.result import ToolResult
from medenv.worldspec import spec_of_config, world_config

INFO_KEYS = (
    "question_id", "tools", "budget", "step", "run_id", "error", "tool",
    "accuracy", "format", "efficiency", "evidence_recall", "correct",
)  # fmt: skip
DEFAULT_DB = "default"
_ABSENT = object()


def _qa_hash(items: list[QAItem]) -> str:
    data = msgspec.json.encode([(i.id, i.answer) for i in items], order="deterministic")
    return hashlib.sha256(data).hexdigest()[:16]


def default_db_path() -> Path:
    return medenv_home() / "runs" / "events.duckdb"


class MedResearchEnv(gym.Env[str, str]):
    """See the module docstring. Constructor arguments are the ``gym.make`` kwargs."""

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self,
        qa: str | Path | list[QAItem] | None = None,
        split: str | None = None,
        tools: tuple[str, ...] | list[str] | None = None,
        max_steps: int = 12,
        reward_weights: dict | msgspec.Struct | None = None,
        backend: str = "tantivy",
        source: str = "hpo",
        db: str | Path | Recorder | None = DEFAULT_DB,
        durability: str = "step",
        run_id: str | None = None,
        world=None,
        parallel_calls: bool = False,
        tool_format: str = "auto",
        tags: dict | None = None,
        shard: int | str | None = "auto",
        world_seed: int = 0,
        render_mode: str | None = None,
        reward_terms: Rubric | list[RewardTerm] | None = None,
    ) -> None:
        if int(max_steps) < 1:
            raise MedenvError(f"max_steps must be >= 1, got {max_steps}")
        if durability not in DURABILITY:
            raise MedenvError(f"durability must be one of {DURABILITY}, got {durability!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise MedenvError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        names = tuple(TOOL_NAMES if tools is None else tools)
        if "answer" not in names:
            names = (*names, "answer")
        self.tool_names = names
        self.schemas = tool_schemas(names)
        self._tools_json = json.dumps(self.schemas, sort_keys=True)
        self.max_steps = int(max_steps)
        self.rubric = rubric_from(reward_terms, reward_weights)
        self.weights = self.rubric.weights
        self.parallel_calls = bool(parallel_calls)
        self.tool_format = check_tool_format(tool_format)
        self.split = split
        self.tags = dict(tags or {})
        self.render_mode = render_mode
        self.run_id = run_id or new_run_id()
        self.action_space = ModelText.make(ACTION_MAX_CHARS)
        self.observation_space = ModelText.make(OBSERVATION_MAX_CHARS)

        if isinstance(world, dict):  # a recorded world spec (e.g. a Minari env_spec's kwargs)
            world = spec_of_config({"world": world})
        self._qa_arg = qa
        self._world_arg = world
        self._recorder = db if isinstance(db, Recorder) else None
        if self._recorder is not None or db is None:
            self._db = None
        else:
            self._db = default_db_path() if db == DEFAULT_DB else Path(db)
        self.store_path = self._db  # the store's main file (shards sit beside it)
        self._durability = durability
        self._shard = shard
        self._set_config(
            EnvConfig(
                qa=qa_label(qa), split=split, tools=names, max_steps=self.max_steps,
                reward_weights=self.weights, backend=backend, source=source,
                world_seed=int(world_seed), world=world_config(world, source, backend, int(world_seed)),
                parallel_calls=self.parallel_calls, tool_format=self.tool_format,
                reward_terms=term_refs(self.rubric),
            )
        )  # fmt: skip
        self._backend, self._source, self._world_seed = backend, source, int(world_seed)

        self.items: list[QAItem] | None = None
        self._by_id: dict[str, QAItem] = {}
        self.world = None
        self.store: Recorder | None = self._recorder  # an EventStore once opened
        self.episode_id: str | None = None
        self.item: QAItem | None = None
        self._n_episodes = 0
        self._run_logged = False
        self._items_checked = False
        self._open = False  # an episode is in progress
        self._reset_state()

    # -- lazy set-up (keeps gym.make cheap, e.g. for AsyncVectorEnv's space probe) --------
    def _ensure_ready(self, seed: int | None) -> None:
        if self.items is None:
            self.items = load_questions(self._qa_arg, self._source)
            self._by_id = {item.id: item for item in self.items}
        if self.world is None:
            if callable(self._world_arg):  # a factory: survives gym's deepcopy of kwargs
                self.world = self._world_arg()
            elif self._world_arg is not None:
                self.world = self._world_arg
            else:
                from medenv.world import load_world

                self.world = load_world(self._source, self._backend, seed=self._world_seed)
        if not self._items_checked:
            check_qa_world(self.items, self.world.kg_summary, self.env_config.qa)
            self._items_checked = True
        if self._recorder is not None and self.store is None:
            self.store = self._recorder
        if self._db is not None and self.store is None:
            self.store = EventStore(
                self._db, run_id=self.run_id, durability=self._durability, shard=self._shard
            )
        if not self._run_logged:
            self._run_logged = True
            self._emit(self._run_started(seed), None)

    def cap_steps(self, limit: int) -> None:
        """Lower the step budget to ``limit`` (if below it) before the first `reset`, so an
        outer ``TimeLimit(limit)`` truncates on the step where the env itself truncates, logs
        and rewards the episode. `medenv.time_budget.TimeBudget` calls it for ``gym.make``."""
        if self._run_logged:
            raise MedenvError("cap_steps() must be called before the first reset()")
        if 1 <= int(limit) < self.max_steps:
            self.max_steps = int(limit)
            self._set_config(msgspec.structs.replace(self.env_config, max_steps=self.max_steps))

    def _set_config(self, config: EnvConfig) -> None:
        self.env_config = config
        self.config: dict[str, Any] = config.to_dict()  # as logged in run_started
        self.config_hash = config.config_hash

    def __getstate__(self) -> dict:
        """Pickle the configuration, question set and RNG, not the open episode or event
        store: the copy logs a new ``run_started`` in its own shard at its first `reset`, and
        its world reopens from its recipe (`World.__reduce__`; the default world from
        ``source``/``backend``/``world_seed``)."""
        state = self.__dict__.copy()
        state.update(store=None, _run_logged=False, _open=False, item=None, episode_id=None)
        if self._world_arg is None:
            state["world"] = None
        return state

    def _run_started(self, seed: int | None) -> ev.RunStarted:
        kg = self.world.kg_summary  # source and version, without loading a lazy world
        return ev.RunStarted(
            config=self.config,
            kg_source=str(kg.source),
            kg_version=str(kg.version),
            corpus_hash=str(self.world.fingerprint),
            index_hash=self.world.index_hash,
            parser_version=PARSER_VERSION,
            reward_weights=self.weights,
            seed=seed,
            qa_hash=_qa_hash(self.items),
            versions={
                "medenv": medenv_version,
                "gymnasium": gym.__version__,
                "python": platform.python_version(),
                "schema": str(ev.SCHEMA_VERSION),
                "backend": str(self.world.backend),
            },
        )

    def _emit(self, payload: ev.Payload, episode_id: str | None) -> None:
        if self.store is not None:
            self.store.emit(payload, episode_id)

    def _reset_state(self) -> None:
        self._steps = 0
        self._n_tool_calls = 0
        self._n_format_errors = 0
        self._retrieved: list[str] = []
        self._prediction: str | None = None
        self._last_components = None
        self._last_correct = False
        self._last_total = 0.0  # the reward of the ended episode (`finish` returns it again)
        self._recall = 0.0

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._ensure_ready(seed)
        if self._open:
            self._end_episode(terminated=False, truncated=False, reward=False)
        item = self._choose(options or {})
        self.item = item
        self._reset_state()
        self._n_episodes += 1
        shard = self.store.shard if self.store is not None else 0
        self.episode_id = f"{self.run_id}-s{shard}-e{self._n_episodes:06d}"
        prompt = fit_text(
            render_prompt(item.question, self.schemas, self.max_steps, self.tool_format)
        )
        self._emit(
            ev.EpisodeStarted(
                question_id=item.id,
                seed=seed,
                split=item.split,
                specialty=item.specialty,
                n_hops=item.n_hops,
                optimal_calls=item.optimal_calls,
                answer=item.answer,
                aliases=list(item.aliases),
                prompt=prompt,
                config_hash=self.config_hash,
                tags=self.tags,
                item=msgspec.to_builtins(item),
            ),
            self.episode_id,
        )
        self._open = True
        if self.store is not None:
            self.store.commit()
        return prompt, self._info("", "")

    def _choose(self, options: dict) -> QAItem:
        unknown = sorted(set(options) - {"question_id", "split", "specialty", "hops"})
        if unknown:
            raise MedenvError(
                f"unknown reset option(s) {unknown}; use question_id, split, specialty, hops"
            )
        if options.get("question_id") is not None:
            qid = str(options["question_id"])
            if qid not in self._by_id:
                raise MedenvError(f"no question {qid!r} in the question set")
            return self._by_id[qid]
        split = options.get("split", self.split)
        specialty, hops = options.get("specialty"), options.get("hops")
        pool = [
            item
            for item in self.items
            if (split is None or item.split == split)
            and (specialty is None or item.specialty == specialty)
            and (hops is None or item.n_hops == int(hops))
        ]
        if not pool:
            raise MedenvError(
                f"no question matches split={split!r} specialty={specialty!r} hops={hops!r}"
            )
        return pool[int(self.np_random.integers(len(pool)))]

    def step(self, action: str | dict):
        if self.item is None or not self._open:
            raise MedenvError("call reset() before step() (the episode is over or not started)")
        try:
            return self._step(action)
        except BaseException:
            if self.store is not None:
                self.store.discard()  # a step is logged whole or not at all
            raise

    def _step(self, action: str | dict):
        """parse -> check -> run calls (or reject) -> advance."""
        step = self._steps
        parsed = self._parse(step, action)
        checked, error = self._check(parsed)
        outputs, tool, terminated = [], "", False
        if error is None:
            outputs, tool, terminated, error = self._run_calls(step, checked)
        if error is not None:
            observation, tool = self._reject(step, parsed, error), ""
        else:
            observation = fit_text("\n\n".join(outputs))
        reward, truncated = self._advance(terminated)
        info = self._info(error.kind if error else "", tool)
        return observation, reward, terminated, truncated, info

    def _parse(self, step: int, action: Any) -> ParsedAction:
        """Read the action (its canonical text, cut to the action space) and log it."""
        action, text, is_dict = canonical_action(action)
        cut = None
        if len(text) > ACTION_MAX_CHARS:  # outside the action space: read its start only
            cut, text = len(text), text[:ACTION_MAX_CHARS]
            action, is_dict = text, False
        if too_deep(text):
            message = f"The action is nested deeper than {MAX_NESTING} levels. " + error_suffix(
                None, self.tool_format
            )
            parsed = ParsedAction(calls=(), think=None, error=ParseError("bad_json", message))
        else:
            parsed = parse_action(
                action, parallel_calls=self.parallel_calls, schemas=self.schemas,
                tool_format=self.tool_format, check_arguments=False,
            )  # fmt: skip
        self._emit(
            ev.ActionReceived(
                step=step, text=text + truncation_marker(cut), think=parsed.think,
                is_dict=is_dict, truncated_from=cut, family=parsed.family,
            ),
            self.episode_id,
        )  # fmt: skip
        return parsed

    def _check(self, parsed: ParsedAction) -> tuple[list, ParseError | None]:
        """Each call's arguments through its tool's msgspec ``Args`` (the one check)."""
        if parsed.error is not None:
            return [], parsed.error
        checked = []
        for call in parsed.calls:
            args = validate(call.name, call.arguments)
            if isinstance(args, ToolResult):
                return [], _parse_error(args.error, args.text)
            checked.append((call, args))
        return checked, None

    def _run_calls(self, step: int, checked: list):
        """Run the checked calls in order and log them: ``(outputs, tool, terminated,
        error)``; a tool's own argument fault (e.g. a blank query) stops the step."""
        outputs: list[str] = []
        tool = ""
        for i, (call, args) in enumerate(checked):
            self._emit(
                ev.ToolCalled(step=step, name=call.name, arguments=call.arguments, call=i),
                self.episode_id,
            )
            start = time.perf_counter()
            result = run_tool(self.world, call.name, args)
            latency = (time.perf_counter() - start) * 1000.0
            obs_i = fit_text(result.text)
            self._emit(
                ev.ToolReturned(
                    step=step, name=call.name, observation=obs_i, latency_ms=round(latency, 3),
                    doc_ids=list(result.doc_ids), ok=result.ok, error=result.error, call=i,
                ),
                self.episode_id,
            )  # fmt: skip
            if not result.ok and result.error in ERROR_KINDS:  # e.g. a blank query
                return outputs, tool, False, _parse_error(result.error, result.text)
            tool = call.name if not tool else f"{tool},{call.name}"
            self._n_tool_calls += 1
            self._retrieved.extend(result.doc_ids)
            outputs.append(obs_i)
            if call.name == "answer" and result.ok:
                self._prediction = str(call.arguments["answer"])
                self._emit(ev.AnswerSubmitted(step=step, answer=self._prediction), self.episode_id)
                return outputs, tool, True, None
        return outputs, tool, False, None

    def _reject(self, step: int, parsed: ParsedAction, error: ParseError) -> str:
        """Count and log a rejected action; its error observation."""
        self._n_format_errors += 1
        observation = f"Error ({error.kind}): {error.message}"
        hint = format_hint(parsed.family if parsed.family else self.tool_format)
        if hint not in observation:  # the registry's own argument checks carry no hint
            observation += "\n" + error_suffix(parsed.family, self.tool_format)
        observation = fit_text(observation)
        self._emit(
            ev.ActionRejected(
                step=step, kind=error.kind, message=error.message, observation=observation
            ),
            self.episode_id,
        )
        return observation

    def _advance(self, terminated: bool) -> tuple[float, bool]:
        """Count the step; end (and reward) the episode when it terminated or ran out of
        steps, else commit the step's events. ``(reward, truncated)``."""
        self._steps += 1
        self._recall = evidence_recall(self.item, self._retrieved)
        truncated = not terminated and self._steps >= self.max_steps
        reward = 0.0
        if terminated or truncated:
            reward = self._last_total = self._end_episode(terminated, truncated, reward=True)
        elif self.store is not None:
            self.store.commit()
        return reward, truncated

    def finish(self) -> tuple[float, dict[str, Any]]:
        """End the open episode now, as truncated (e.g. a trainer's rollout ran out of
        tokens or turns before an ``answer``), and assign its reward.

        Logs ``reward_assigned`` (the components `compute_reward` gives the episode as it
        stands: no prediction unless one was submitted) and ``episode_ended`` with
        ``truncated=True``, exactly as truncation at ``max_steps`` does, and returns
        ``(reward, info)`` (``info`` as from `step`, components filled in). When the episode
        has already ended (terminated or truncated by `step`, or finished before), nothing is
        logged and the final ``(reward, info)`` are returned again. Raises `MedenvError`
        before the first `reset`.
        """
        if self.item is None:
            raise MedenvError("call reset() before finish() (no episode has started)")
        if self._open:
            self._last_total = self._end_episode(terminated=False, truncated=True, reward=True)
        return self._last_total, self._info("", "")

    def _end_episode(self, terminated: bool, truncated: bool, reward: bool) -> float:
        total = 0.0
        if reward:
            o = outcome(
                self.item, self._prediction, self._n_tool_calls, self._n_format_errors,
                self._retrieved, steps=self._steps, terminated=terminated, truncated=truncated,
            )  # fmt: skip
            score = self.rubric.score(o)
            self._last_correct = o.correct
            self._last_components = score
            total = float(score.total)
            comps = score.components
            self._emit(
                ev.RewardAssigned(
                    accuracy=comps.get("accuracy", 0.0), format=comps.get("format", 0.0),
                    efficiency=comps.get("efficiency", 0.0), total=score.total,
                    correct=o.correct, evidence_recall=self._recall,
                    weights=score.weights, components=comps,
                ),
                self.episode_id,
            )  # fmt: skip
        self._emit(
            ev.EpisodeEnded(
                steps=self._steps, terminated=terminated, truncated=truncated,
                n_tool_calls=self._n_tool_calls, n_format_errors=self._n_format_errors,
            ),
            self.episode_id,
        )  # fmt: skip
        self._open = False
        if self.store is not None:
            self.store.end_episode(self.episode_id)
        return total

    @property
    def reward_components(self) -> dict[str, float]:
        """Every reward term's value for the ended episode (empty while it is open)."""
        score = self._last_components
        return dict(score.components) if score is not None else {}

    def _info(self, error: str, tool: str) -> dict[str, Any]:
        comps = self.reward_components
        return {
            "question_id": self.item.id,
            "tools": self._tools_json,
            "budget": self.max_steps - self._steps,
            "step": self._steps,
            "run_id": self.run_id,
            "error": error,
            "tool": tool,
            "accuracy": float(comps.get("accuracy", 0.0)),
            "format": float(comps.get("format", 0.0)),
            "efficiency": float(comps.get("efficiency", 0.0)),
            "evidence_recall": float(self._recall),
            "correct": self._last_correct,
        }

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.item is None:
            return None
        return (
            f"question {self.item.id} | step {self._steps}/{self.max_steps} | "
            f"tool calls {self._n_tool_calls} | format errors {self._n_format_errors}"
        )

    def close(self) -> None:
        """Log the end of an unfinished episode and close the event store (safe twice)."""
        store, self.store = self.store, None
        if store is not None:
            if self._open:
                self.store = store
                self._end_episode(terminated=False, truncated=False, reward=False)
                self.store = None
            store.close()
        self._open = False
        super().close()


def call_example(tool_format: str) -> str:
    """A ``medical_search`` call in the format of ``tool_format`` (Hermes/Qwen for ``auto``)."""
    if tool_format not in FAMILIES or tool_format == "hermes":
        return (
            '<tool_call>\n{"name": "medical_search", "arguments": {"query": "..."}}\n</tool_call>'
        )
    example = re.sub(r"\bTOOL\b", "medical_search", FAMILIES[tool_format][1])
    example = re.sub(r"\bARG\b", "query", example).replace("VALUE", "...")
    return example.replace("{...}", '{"query": "..."}')


def _parse_error(kind: str | None, message: str):
    kind = kind if kind in ERROR_KINDS else "bad_arguments"
    return ParseError(kind, message.removeprefix("Error: "))


def render_prompt(
    question: str, schemas: list[dict], max_steps: int, tool_format: str = "auto"
) -> str:
    """The first observation: what the agent is, its tools, the call format (Hermes/Qwen, or
    the family ``tool_format`` names), the question."""
    lines = [
        "You are a medical research agent. Answer the question by searching and reading "
        "sources; the question describes intermediate entities without naming them, so "
        "resolve them one at a time.",
        "",
        "Tools:",
    ]
    for schema in schemas:
        fn = schema["function"]
        props = fn.get("parameters", {}).get("properties", {})
        required = set(fn.get("parameters", {}).get("required", ()))
        args = ", ".join(p if p in required else f"{p}?" for p in props)
        lines.append(f"- {fn['name']}({args}): {fn.get('description', '')}")
    lines += [
        "",
        "Call exactly one tool per turn, as:",
        call_example(tool_format),
        "Give the final answer (a short entity name) as <answer>...</answer>; it ends the "
        f"episode. You have {max_steps} turns.",
        "",
        f"Question: {question}",
    ]
    return "\n".join(lines)

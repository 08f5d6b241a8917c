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

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import msgspec

from medenv import env_events
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
from medenv.env_config import (
    EnvConfig,
    check_env_args,
    check_env_names,
    check_render_mode,
    qa_label,
    whole_number,
)
from medenv.env_prompt import ask, call_example, prompt_head, render_prompt  # noqa: F401
from medenv.env_reset import LazySeeding, choose_question
from medenv.env_step import EpisodeState, check_calls, read_action, reject, run_calls
from medenv.errors import MedenvError, check_seed
from medenv.events import schema as ev
from medenv.events.files import check_shard
from medenv.events.logged_step import LoggedStep, events_of
from medenv.events.recorder import Recorder
from medenv.events.store import DURABILITY, EventStore, check_run_id, new_run_id
from medenv.gc_tuning import raise_gc_thresholds
from medenv.paths import medenv_home
from medenv.qa import QAItem
from medenv.qa_world import check_qa_world
from medenv.questions import load_questions
from medenv.reward import RewardTerm, Rubric, evidence_recall, outcome, rubric_from, term_refs
from medenv.spaces import CHARSET, ModelText  # noqa: F401  (re-exported)
from medenv.tools.parsing import check_tool_format
from medenv.tools.registry import TOOL_NAMES, tool_schemas
from medenv.world import load_world
from medenv.worldspec import WorldSpec, spec_of_config, world_config

INFO_KEYS = (
    "question_id", "tools", "budget", "step", "run_id", "error", "tool",
    "accuracy", "format", "efficiency", "evidence_recall", "correct",
)  # fmt: skip
DEFAULT_DB = "default"


def default_db_path() -> Path:
    return medenv_home() / "runs" / "events.duckdb"


class MedResearchEnv(LazySeeding, gym.Env[str, str]):
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
        max_steps = whole_number("max_steps", max_steps, minimum=1)
        world_seed = check_seed(whole_number("world_seed", world_seed), "world_seed")
        check_env_args(tools, tags, parallel_calls, world, db)
        check_env_names(source, backend, reward_terms)
        if durability not in DURABILITY:
            raise MedenvError(f"durability must be one of {DURABILITY}, got {durability!r}")
        check_render_mode(render_mode, self.metadata["render_modes"])
        names = tuple(TOOL_NAMES if tools is None else tools)
        if "answer" not in names:
            names = (*names, "answer")
        self.tool_names = names
        raise_gc_thresholds()
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
        self.run_id = check_run_id(run_id) or new_run_id()
        self.action_space = ModelText.make(ACTION_MAX_CHARS)
        self.observation_space = ModelText.make(OBSERVATION_MAX_CHARS)

        if isinstance(world, dict):  # a recorded world spec (e.g. a Minari env_spec's kwargs)
            unknown = sorted(set(world) - set(WorldSpec.__struct_fields__), key=str)
            if unknown:  # msgspec ignores them: {"sorce": "hetionet"} was the HPO world
                raise MedenvError(
                    f"world spec has unknown field(s) {unknown}; "
                    f"fields: {', '.join(WorldSpec.__struct_fields__)}"
                )
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
        self._shard = check_shard(shard)  # refused here, not at the first reset
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
        self._prompt_head: tuple[int, str] = (0, "")  # (max_steps, `prompt_head` of it)
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
            payload = env_events.run_started(
                self.config, self.weights, self.world, self.items, seed
            )
            self._emit(payload, None)

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

    def _emit(self, payload: ev.Payload, episode_id: str | None) -> None:
        if self.store is not None:
            self.store.emit(payload, episode_id)

    def _reset_state(self) -> None:
        self._state = EpisodeState()
        self._recall_of = 0  # pages retrieved when evidence recall was last computed
        self._last_components = None
        self._last_correct = False
        self._last_total = 0.0  # the reward of the ended episode (`finish` returns it again)

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._seed(seed)
        self._ensure_ready(seed)
        if self._open:
            self._end_episode(terminated=False, truncated=False, reward=False)
        item = self._choose(options or {})
        self.item = item
        self._reset_state()
        self._n_episodes += 1
        shard = self.store.shard if self.store is not None else 0
        self.episode_id = f"{self.run_id}-s{shard}-e{self._n_episodes:06d}"
        if self._prompt_head[0] != self.max_steps:  # rendered once per budget
            head = prompt_head(self.schemas, self.max_steps, self.tool_format)
            self._prompt_head = (self.max_steps, head)
        prompt = fit_text(ask(self._prompt_head[1], item.question))
        if self.store is not None:  # logging off: the event is not built
            self._emit(
                env_events.episode_started(
                    item, seed=seed, prompt=prompt, config_hash=self.config_hash, tags=self.tags
                ),
                self.episode_id,
            )
        self._open = True
        if self.store is not None:
            self.store.commit()
        return prompt, self._info("", "")

    def _choose(self, options: dict) -> QAItem:
        return choose_question(
            self.items, self._by_id, options, self.split,
            lambda n: int(self.np_random.integers(n)),
        )  # fmt: skip

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
        """parse -> check -> run calls (or reject) -> log the step -> advance."""
        step, log = self._state.steps, self.store is not None  # log: the step is recorded
        parsed, record = read_action(
            action, step, parallel_calls=self.parallel_calls, schemas=self.schemas,
            tool_format=self.tool_format, log=log,
        )  # fmt: skip
        checked, error = check_calls(parsed)
        ran = None
        if error is None:
            ran = run_calls(self.world, checked, step, self._state, record)
            error = ran.error
        if error is not None:
            self._state.n_format_errors += 1
            observation = reject(parsed, error, step, self.tool_format, record)
            terminated, tool = False, ""
        else:
            outs = ran.outputs  # each already fitted (`fit_text` is idempotent)
            observation = outs[0] if len(outs) == 1 else fit_text("\n\n".join(outs))
            terminated, tool = ran.terminated, ran.tool
        if record is not None:
            self._log_step(record)
        reward, truncated = self._advance(terminated)
        info = self._info(error.kind if error else "", tool)
        return observation, reward, terminated, truncated, info

    def _log_step(self, record: LoggedStep) -> None:
        """Hand the step to the recorder whole (`EventStore.emit_step`) or, to a recorder
        that takes events only, as its events (`events_of`)."""
        emit_step = getattr(self.store, "emit_step", None)
        if emit_step is not None:
            emit_step(record, self.episode_id)
        else:
            for _, payload in events_of(record):
                self.store.emit(payload, self.episode_id)

    def _advance(self, terminated: bool) -> tuple[float, bool]:
        """Count the step; end (and reward) the episode when it terminated or ran out of
        steps, else commit the step's events. ``(reward, truncated)``."""
        state = self._state
        state.steps += 1
        if len(state.retrieved) != self._recall_of:  # recall changes only with new pages
            self._recall_of = len(state.retrieved)
            state.evidence_recall = evidence_recall(self.item, state.retrieved)
        truncated = not terminated and state.steps >= self.max_steps
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
        total, state = 0.0, self._state
        if reward:
            o = outcome(
                self.item, state.prediction, state.n_tool_calls, state.n_format_errors,
                state.retrieved, steps=state.steps, terminated=terminated, truncated=truncated,
            )  # fmt: skip
            score = self.rubric.score(o)
            self._last_correct = o.correct
            self._last_components = score
            total = float(score.total)
            if self.store is not None:
                self._emit(
                    env_events.reward_assigned(score, o, state.evidence_recall), self.episode_id
                )
        if self.store is not None:
            self._emit(env_events.episode_ended(state, terminated, truncated), self.episode_id)
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
            "budget": self.max_steps - self._state.steps,
            "step": self._state.steps,
            "run_id": self.run_id,
            "error": error,
            "tool": tool,
            "accuracy": float(comps.get("accuracy", 0.0)),
            "format": float(comps.get("format", 0.0)),
            "efficiency": float(comps.get("efficiency", 0.0)),
            "evidence_recall": float(self._state.evidence_recall),
            "correct": self._last_correct,
        }

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.item is None:
            return None
        return (
            f"question {self.item.id} | step {self._state.steps}/{self.max_steps} | "
            f"tool calls {self._state.n_tool_calls} | format errors {self._state.n_format_errors}"
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

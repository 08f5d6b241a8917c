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

from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.schema import utf8_safe
from medenv.reward import RewardTerm, Rubric, evidence_recall, outcome, rubric_from, term_refs
from medenv.spaces import CHARSET, ModelText  # noqa: F401  (re-exported)
from medenv.spaces import RANGES as _RANGES
from medenv.synth.qa import QAItem
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

ACTION_MAX_CHARS = 131_072  # ~32k tokens: a long reasoning trace plus the call
# Actions nested deeper (JSON brackets outside strings, or a dict/list action) are a bad_json
# error without parsing: Python's recursion limit would otherwise decide, and it depends on
# the caller's stack depth, so a replay could parse the same text differently.
MAX_NESTING = 100
DEEP_OBJECT = f"<a tool-call object nested deeper than {MAX_NESTING} levels>"
_NESTING_TOKENS = re.compile(r'[\[\]{}"\\]')
OBSERVATION_MAX_CHARS = 65_536
# Observations map any character outside CHARSET to U+FFFD; actions are accepted as they are.
_OUTSIDE = re.compile("[^" + "".join(f"\\U{lo:08x}-\\U{hi - 1:08x}" for lo, hi in _RANGES) + "]")
INFO_KEYS = (
    "question_id", "tools", "budget", "step", "run_id", "error", "tool",
    "accuracy", "format", "efficiency", "evidence_recall", "correct",
)  # fmt: skip
DEFAULT_DB = "default"
_ABSENT = object()


def fit_text(text: str, limit: int = OBSERVATION_MAX_CHARS) -> str:
    """``text`` inside the observation space: foreign characters -> U+FFFD, length capped."""
    if not text.isascii():
        text = _OUTSIDE.sub("\ufffd", text)
    if len(text) > limit:
        note = f"\n[... {len(text) - limit} more characters truncated]"
        text = text[: limit - len(note)] + note
    return text


def default_db_path() -> Path:
    from medenv.paths import medenv_home

    return medenv_home() / "runs" / "events.duckdb"


def _hash(value: Any) -> str:
    return hashlib.sha256(msgspec.json.encode(value, order="deterministic")).hexdigest()[:16]


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
        db: str | Path | None = DEFAULT_DB,
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
        from medenv.events.store import DURABILITY, new_run_id
        from medenv.tools.registry import TOOL_NAMES, tool_schemas

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

        self._qa_arg = qa
        self._world_arg = world
        self._db = None if db is None else (default_db_path() if db == DEFAULT_DB else Path(db))
        self.store_path = self._db  # the store's main file (shards sit beside it)
        self._durability = durability
        self._shard = shard
        self.config: dict[str, Any] = {
            "qa": _qa_label(qa),
            "split": split,
            "tools": list(names),
            "max_steps": self.max_steps,
            "reward_weights": self.weights,
            "backend": backend,
            "source": source,
            "world_seed": int(world_seed),
            "world": "custom" if world is not None else "default",
            "parallel_calls": self.parallel_calls,
            "tool_format": self.tool_format,
        }
        if term_refs(self.rubric):  # terms beyond the defaults: where to import them from
            self.config["reward_terms"] = term_refs(self.rubric)
        self.config_hash = _hash(self.config)
        self._backend, self._source, self._world_seed = backend, source, int(world_seed)

        self.items: list[QAItem] | None = None
        self._by_id: dict[str, QAItem] = {}
        self.world = None
        self.store = None
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
            self.items = _load_items(self._qa_arg, self._source)
            if not self.items:
                raise MedenvError("the question set is empty")
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
            _check_kg(self.items, self.world.kg)
            check_items_in_kg(self.items, self.world.kg, self.config["qa"])
            self._items_checked = True
        if self._db is not None and self.store is None:
            from medenv.events.store import EventStore

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
            self.config["max_steps"] = self.max_steps
            self.config_hash = _hash(self.config)

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
        import gymnasium

        from medenv import __version__ as medenv_version

        kg = self.world.kg
        return ev.RunStarted(
            config=self.config,
            kg_source=str(kg.source),
            kg_version=str(kg.version),
            corpus_hash=str(self.world.fingerprint),
            index_hash=self.world.index_hash,
            parser_version=PARSER_VERSION,
            reward_weights=self.weights,
            seed=seed,
            qa_hash=_hash([(i.id, i.answer) for i in self.items]),
            versions={
                "medenv": medenv_version,
                "gymnasium": gymnasium.__version__,
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
        from medenv.tools.registry import execute, validate
        from medenv.tools.result import ToolResult

        step = self._steps
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
                tool_format=self.tool_format,
            )  # fmt: skip
        self._emit(
            ev.ActionReceived(
                step=step, text=text + truncation_marker(cut), think=parsed.think,
                is_dict=is_dict, truncated_from=cut, family=parsed.family,
            ),
            self.episode_id,
        )  # fmt: skip

        error, tool, terminated = parsed.error, "", False
        checked = []
        if error is None:  # the registry's validation is the last word on arguments
            for call in parsed.calls:
                args = validate(call.name, call.arguments)
                if isinstance(args, ToolResult):
                    error = _parse_error(args.error, args.text)
                    break
                checked.append(call)
        if error is None:
            outputs = []
            for i, call in enumerate(checked):
                self._emit(
                    ev.ToolCalled(step=step, name=call.name, arguments=call.arguments, call=i),
                    self.episode_id,
                )
                start = time.perf_counter()
                result = execute(self.world, call.name, call.arguments)
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
                    error = _parse_error(result.error, result.text)
                    break
                tool = call.name if not tool else f"{tool},{call.name}"
                self._n_tool_calls += 1
                self._retrieved.extend(result.doc_ids)
                outputs.append(obs_i)
                if call.name == "answer" and result.ok:
                    self._prediction = str(call.arguments["answer"])
                    self._emit(
                        ev.AnswerSubmitted(step=step, answer=self._prediction), self.episode_id
                    )
                    terminated = True
                    break
            observation = fit_text("\n\n".join(outputs))
        if error is not None:
            tool = ""
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
        self._steps += 1
        self._recall = evidence_recall(self.item, self._retrieved)
        truncated = not terminated and self._steps >= self.max_steps
        reward = 0.0
        if terminated or truncated:
            reward = self._last_total = self._end_episode(terminated, truncated, reward=True)
        elif self.store is not None:
            self.store.commit()
        return (
            observation,
            reward,
            terminated,
            truncated,
            self._info(error.kind if error else "", tool),
        )

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


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests dicts/lists/tuples more than ``limit`` levels (iterative:
    also ends on a value that contains itself)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if not isinstance(item, dict | list | tuple):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def too_deep(text: str) -> bool:
    """Whether action text nests JSON brackets (outside JSON strings) more than
    `MAX_NESTING` levels, or is `DEEP_OBJECT`. Cheap unless the text holds that many
    brackets."""
    if text == DEEP_OBJECT:
        return True
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return False
    depth, in_string, skip = 0, False, -1
    for match in _NESTING_TOKENS.finditer(text):
        i = match.start()
        if i == skip:
            continue
        ch = text[i]
        if in_string:
            if ch == "\\":
                skip = i + 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif ch in "]}":
            depth = max(0, depth - 1)
    return False


def truncation_marker(length: int | None) -> str:
    """What follows the logged text of an action cut to ``ACTION_MAX_CHARS`` (``""`` for an
    action that was not cut): the marker and the original length."""
    if length is None:
        return ""
    return (
        f"\n[... truncated: the action had {length} characters; the env read the first "
        f"{ACTION_MAX_CHARS}]"
    )


def canonical_action(action: Any) -> tuple[str | dict | list, str, bool]:
    """What `MedResearchEnv.step` parses for ``action``, the text it logs, and whether that
    text is JSON: ``(parsed, text, is_dict)``.

    Text is parsed as it is. A dict or list is logged as JSON (sorted keys) and parsed *from
    that JSON*, so replaying the log parses exactly the value the live step parsed (same
    key order, tuples as lists). Anything else, or a dict that is not JSON, is parsed as its
    ``repr``. Lone surrogates become U+FFFD (`utf8_safe`). Never raises.
    """
    if isinstance(action, dict | list) and _deeper_than(action, MAX_NESTING):
        return DEEP_OBJECT, DEEP_OBJECT, False
    if isinstance(action, dict | list):
        try:
            text = utf8_safe(json.dumps(action, sort_keys=True, ensure_ascii=False))
            # once more from the JSON: keys that collide as strings (1 and "1") keep one
            # value, so the logged text is a fixed point and a replay logs it again
            text = json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False)
            return json.loads(text), text, True
        except (TypeError, ValueError, RecursionError):
            pass
    if isinstance(action, str):
        text = str(action)
    else:
        try:
            text = repr(action)
        except Exception:  # noqa: BLE001 - a broken __repr__ must not break the step
            text = f"<unprintable {type(action).__name__}>"
    text = utf8_safe(text)
    return text, text, False


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
    from medenv.tools.parsing import ParseError

    kind = kind if kind in ERROR_KINDS else "bad_arguments"
    return ParseError(kind, message.removeprefix("Error: "))


def check_items_in_kg(items: list[QAItem], kg, where: str = "the question set") -> None:
    """Raise `MedenvError` when a KG-grounded item's (one with a chain) chain, hops, answer id
    or constraints name an entity the world's knowledge graph lacks (a set made from another KG). Called before
    the env writes any event, so a bad set leaves no half-written run."""
    for item in items:
        if not item.chain:  # an external question: nothing the env looks up in the KG
            continue
        ids = [*item.chain, item.answer_id]
        ids += [x for hop in item.hops for x in (hop.head, hop.tail)]
        ids += [c.entity for c in item.constraints]
        missing = next((x for x in ids if x and kg.get(x) is None), None)
        if missing is not None:
            raise MedenvError(
                f"{where}: question {item.id!r} names entity {missing!r}, which is not in the "
                f"{kg.source} knowledge graph (version {kg.version}); was the set made from "
                "another graph?"
            )


def _check_kg(items: list[QAItem], kg) -> None:
    """Refuse questions built from another graph than the world's (their answers and
    evidence pages would not be in it). Items without a recorded source (hand-made) or from
    an external set are not checked; a recorded version must match too."""
    for item in items:
        if item.kg_source in ("", "external"):
            continue
        if item.kg_source != str(kg.source) or item.kg_version not in ("", str(kg.version)):
            built = " ".join(filter(None, (item.kg_source, item.kg_version)))
            raise MedenvError(
                f"question {item.id} was built from the {built} graph but the world is "
                f"{kg.source} {kg.version}: give the env the world (--source/--path) the "
                "question set was built from"
            )


def _qa_label(qa) -> str:
    if qa is None:
        return "default"
    if isinstance(qa, str | Path):
        return str(Path(qa).expanduser().resolve())
    return "inline"


def _load_items(qa, source: str) -> list[QAItem]:
    if isinstance(qa, list | tuple):
        items = list(qa)
        bad = [type(x).__name__ for x in items if not isinstance(x, QAItem)]
        if bad:
            raise MedenvError(f"qa must be a path or a list of QAItem, got a list with {bad[0]}")
        return items
    if isinstance(qa, QAItem):
        return [qa]
    from medenv.synth.io import read_qa_set

    if qa is None:
        from medenv.synth import default_qa_set

        qa = default_qa_set(source=source)
    return read_qa_set(qa)


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

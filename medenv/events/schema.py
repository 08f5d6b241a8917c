"""Event payloads: immutable `msgspec.Struct`s, one per event type, each carrying ``v``.

A stored event is a row ``(run_id, episode_id, seq, ts, type, payload JSON)``; `Event` is
that row with ``payload`` decoded to its Struct. ``episode_id`` is None for run-level events
(``run_started``). ``seq`` counts events within an episode (within the run for run-level
events) from 0, so ``(run_id, episode_id, seq)`` is unique within a store file.

Schema version 2 adds the hash chain (`medenv.events.chain`): every stored payload ends
with ``"h"``, a hash over the event and the previous hash of its episode (run-level events:
of its run), and the run chain holds an ``episode_sealed`` event per ended episode and a
``run_closed`` event per closed writer. Version 1 payloads (no ``"h"``) still decode.

This module declares the events (payload types, `EVENT_TYPES`, the per-step measurements
`STEP_MEASURES`) and how the env fills them (`from_sources`, `measures`): adding an event
field is a change to this file alone. What works on the declarations lives beside it:
`medenv.events.codec` (`encode_payload`, the one place where text is made encodable, and
`decode_payload`) and `medenv.events.tokens` (`count_tokens`, `TOKEN_FIELDS`,
`with_tokens`); their names are also readable here (``schema.encode_payload``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import msgspec

SCHEMA_VERSION = 2


class Payload(msgspec.Struct, frozen=True, kw_only=True):
    v: int = SCHEMA_VERSION


P = TypeVar("P", bound=Payload)


class RunStarted(Payload, frozen=True, kw_only=True):
    config: dict[str, Any]
    kg_source: str
    kg_version: str
    corpus_hash: str
    parser_version: str
    reward_weights: dict[str, float]
    seed: int | None
    qa_hash: str = ""
    versions: dict[str, str] = {}
    index_hash: str = ""  # `medenv.world.World.index_hash` (empty in older logs)


class EpisodeStarted(Payload, frozen=True, kw_only=True):
    question_id: str
    seed: int | None
    split: str
    specialty: str
    n_hops: int
    optimal_calls: int
    answer: str
    aliases: list[str]
    prompt: str
    config_hash: str
    tags: dict[str, Any]
    item: dict[str, Any] = {}  # the full QAItem: replay rebuilds the episode from it
    tokens: int | None = None  # `count_tokens(prompt)`, filled in by the store


class ActionReceived(Payload, frozen=True, kw_only=True):
    step: int
    text: str
    think: str | None = None
    is_dict: bool = False  # the action was a tool-call dict (``text`` is its JSON)
    family: str | None = None  # the tool-call format recognised (`medenv.tools.parsing`)
    # set when the action was longer than ACTION_MAX_CHARS: its length; ``text`` is then
    # the part the env parsed followed by a "[... truncated ...]" marker
    truncated_from: int | None = None
    tokens: int | None = None  # `count_tokens(text)`, filled in by the store


class ActionRejected(Payload, frozen=True, kw_only=True):
    step: int
    kind: str
    message: str
    observation: str = ""
    tokens: int | None = None  # `count_tokens(observation)`, filled in by the store


class ToolCalled(Payload, frozen=True, kw_only=True):
    step: int
    name: str
    arguments: dict[str, Any]
    call: int = 0  # index of the call within the step (parallel calls)


class ToolReturned(Payload, frozen=True, kw_only=True):
    step: int
    name: str
    observation: str
    latency_ms: float
    doc_ids: list[str]
    ok: bool = True
    error: str | None = None
    call: int = 0
    tokens: int | None = None  # `count_tokens(observation)`, filled in by the store


class AnswerSubmitted(Payload, frozen=True, kw_only=True):
    step: int
    answer: str


class RewardAssigned(Payload, frozen=True, kw_only=True):
    """The end-of-episode reward. ``components`` holds every reward term's value (weight-0
    terms and user terms included; empty in logs written before named terms), ``weights``
    every term's weight; ``accuracy``/``format``/``efficiency`` repeat the built-in terms
    (0.0 when the rubric lacks them) for the store's views and older readers."""

    accuracy: float
    format: float
    efficiency: float
    total: float
    correct: bool
    evidence_recall: float
    weights: dict[str, float]
    components: dict[str, float] = {}


class EpisodeEnded(Payload, frozen=True, kw_only=True):
    steps: int
    terminated: bool
    truncated: bool
    n_tool_calls: int
    n_format_errors: int


class JudgeVerdict(Payload, frozen=True, kw_only=True):
    """One judgement of one episode's answer (`medenv.judge`): a run-level event of the
    judge pass's own run; ``run_id``/``episode_id`` name the judged episode."""

    run_id: str
    episode_id: str
    question_id: str
    prediction: str
    gold: str
    model: str
    prompt_hash: str
    key: str
    correct: bool
    raw: str
    cached: bool = False


class EpisodeSummary(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An ended episode's figures as evaluation reads them (`medenv.events.summaries`),
    folded from the episode's own events where they are sealed (`medenv.events.sealer`,
    `medenv.events.seal_summary`) and stored in its ``episode_sealed``, so evaluation reads
    one event type. The meanings are
    those of the SQL projection over the episode's events (`summaries.SUMMARY_SQL`):
    ``question_id``/``specialty``/``tags`` from ``episode_started``; ``external`` its
    ``item.kg_source == "external"`` (then ``n_hops``/``optimal_calls``/``rarity``/
    ``evidence_recall`` are None); ``rarity`` ``item.rarity``; ``ended`` an
    ``episode_ended`` was logged; ``n_tool_calls``/``n_format_errors`` the last
    ``episode_ended``'s, else the number of ``tool_called``/``action_rejected`` events;
    ``n_actions`` the number of ``action_received`` events, else ``episode_ended.steps``;
    ``correct``/``reward``/``evidence_recall``/``components`` the last
    ``reward_assigned``'s (``correct`` False without one); ``prediction`` the last
    ``answer_submitted.answer``; ``has_actions`` the episode logged an action (token
    figures are None without one)."""

    question_id: str
    specialty: str = "general"
    external: bool = False
    n_hops: int | None = None
    optimal_calls: int | None = None
    rarity: float | None = None
    tags: dict[str, Any] = {}
    ended: bool = False
    n_tool_calls: int = 0
    n_actions: int = 0
    n_format_errors: int = 0
    has_actions: bool = False
    correct: bool = False
    reward: float | None = None
    evidence_recall: float | None = None
    components: dict[str, float] = {}
    prediction: str | None = None


class EpisodeSealed(Payload, frozen=True, kw_only=True):
    """Run-level: episode ``episode_id`` ended with ``events`` events whose chain ends in
    ``hash`` (hex). Written by `EventStore.end_episode`; binds each episode to its run.

    ``tokens``: the sum of the ``tokens`` of the episode's events that count their text
    (`TOKEN_FIELDS`: prompt, actions, observations); ``action_tokens``: of its
    ``action_received`` events alone. Evaluation reads these instead of the text events
    (None in logs written before they were recorded). ``summary``: the episode's figures
    for evaluation (`EpisodeSummary`; None in older logs and for an episode that never
    logged ``episode_started``)."""

    episode_id: str
    events: int
    hash: str
    tokens: int | None = None
    action_tokens: int | None = None
    summary: EpisodeSummary | None = None


class RunClosed(Payload, frozen=True, kw_only=True):
    """Run-level: a writer of the run closed cleanly after sealing ``episodes`` episodes."""

    episodes: int


class UnknownPayload(Payload, frozen=True, kw_only=True):
    """What readers get for an event type this medenv does not declare (written by a newer
    medenv or another tool): its ``type`` and the payload as a plain dict (``v`` included
    when present). Never written by `EventStore`."""

    type: str
    data: dict[str, Any] = {}


EVENT_TYPES: dict[str, type[Payload]] = {
    "run_started": RunStarted,
    "episode_started": EpisodeStarted,
    "action_received": ActionReceived,
    "action_rejected": ActionRejected,
    "tool_called": ToolCalled,
    "tool_returned": ToolReturned,
    "answer_submitted": AnswerSubmitted,
    "reward_assigned": RewardAssigned,
    "episode_ended": EpisodeEnded,
    "judge_verdict": JudgeVerdict,
    "episode_sealed": EpisodeSealed,
    "run_closed": RunClosed,
}
TYPE_NAMES: dict[type[Payload], str] = {cls: name for name, cls in EVENT_TYPES.items()}


def from_sources(cls: type[P], *sources: Any, **given: Any) -> P:
    """A ``cls`` payload: the ``given`` values, and every other field read by name from the
    first of ``sources`` that has that attribute (fields none has keep their default).

    This is how the env builds its episode-level events (`medenv.env_events`): a field
    added here to ``episode_started`` is filled from the `medenv.qa.QAItem` attribute of
    the same name, to ``episode_ended`` from `medenv.env_step.EpisodeState`, to
    ``reward_assigned`` from the rubric's score (a reward term's name) or the
    `medenv.reward.EpisodeOutcome`; the projection (`medenv.events.episodes`) reads it
    back by name. So adding such a field is a change to this file alone."""
    values = dict(given)
    for field in cls.__struct_fields__:
        if field in values or field == "v":
            continue
        for source in sources:
            value = getattr(source, field, _MISSING)
            if value is not _MISSING:
                values[field] = list(value) if isinstance(value, tuple) else value
                break
    return cls(**values)


_MISSING = object()

# Per-step measurements (issue 13): event type -> {field: function of the step's context}.
# The env computes, for each of its per-step events, every field declared here on the
# step's context (`medenv.env_step`) with `measures`: ``action_received`` on an
# `ActionContext` (step, the parsed text, the parsed action, the length cut off),
# ``tool_returned`` on a `CallContext` (step, the call and its checked arguments, the
# tool's `ToolResult`, its latency, the `EpisodeState` before the call counts, the world),
# ``action_rejected`` on a `RejectContext` (step, the parsed action, the fault, the
# observation); the values travel with the step (`medenv.events.logged_step`) into its
# events. So a new per-step measurement is a field on its payload plus its entry here:
# this file alone. The fold (`medenv.events.episodes`) reads it into ``StepRecord.extra``
# by name (per call for ``tool_returned``), and replay and verify compare it like any other
# field. A function must be deterministic in the context: verify re-runs the episode and
# compares every field but ``latency_ms``.
STEP_MEASURES: dict[type[Payload], dict[str, Callable[[Any], Any]]] = {
    ActionReceived: {},
    ToolReturned: {},
    ActionRejected: {},
}


def measures(cls: type[Payload], context: Callable[[], Any]) -> dict[str, Any]:
    """The `STEP_MEASURES` of ``cls`` computed on ``context()`` (called only when ``cls``
    declares any: ``{}`` costs no context)."""
    declared = STEP_MEASURES.get(cls)
    if not declared:
        return {}
    ctx = context()
    return {field: measure(ctx) for field, measure in declared.items()}


class Event(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    episode_id: str | None
    seq: int
    ts: datetime
    type: str
    payload: Payload


# names defined beside this module (see the docstring), readable here as before
_BESIDE = {
    **dict.fromkeys(("MAX_DEPTH", "clean", "decode_payload", "encode_payload", "utf8_safe"),
                    "medenv.events.codec"),
    **dict.fromkeys(("TOKEN_FIELDS", "count_tokens", "with_tokens"), "medenv.events.tokens"),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _BESIDE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

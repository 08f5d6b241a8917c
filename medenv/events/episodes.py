"""The one episode projection: the event log -> one `EpisodeRecord` per episode.

Two readings of the same events give the same struct:

- `fold(events)` / `load_episodes(db)`: every event folded in Python, steps included
  (`StepRecord`s): what export (SFT, RL, Minari, BrowseComp), rollout resume, the
  grounding checks, replay (`medenv.events.replay`) and `medenv.verify` read.
- `medenv.events.summaries.summaries(con, runs, group_by)`: one SQL query over the
  ``events`` table, no steps: what evaluation reads (fast over large logs). ``group`` is
  the run id or a tag's value.

The fold derives from `medenv.events.schema`, so adding an event field is a change to
schema.py alone: an episode-level event's field (``episode_started``, ``answer_submitted``,
``reward_assigned``, ``episode_ended``) sets the `EpisodeRecord` field of the same name
(`RECORD_NAMES` lists the few renamed ones) and a field the record does not declare lands in
``EpisodeRecord.extra``; a per-step event's field the `StepRecord` does not declare lands in
``StepRecord.extra`` (per call for ``tool_called``/``tool_returned``: a list).

Field meanings (both readings):

- ``n_tool_calls``: tool calls as the env counts them (the answer included:
  ``episode_ended.n_tool_calls``, else the number of ``tool_called`` events);
  `EpisodeRecord.research_calls` is the paper's unit (without the final answer).
- ``optimal_calls``: ``episode_started.optimal_calls`` (the gold hops plus the answer);
  ``n_hops``/``optimal_calls``/``rarity``/``evidence_recall`` are None in summaries of
  external items (no gold chain), 0 in the folded records.
- ``correct``/``reward``/``components``/``evidence_recall``: from ``reward_assigned``
  (``components``: every reward term's value, `medenv.reward`; logs written before named
  terms: the built-in three); None/empty without one.
- ``ended``: the log has the episode's ``episode_ended``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from medenv.actions import ACTION_MAX_CHARS
from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.schema import Event
from medenv.events.store import connect, resolve_files, spool_notes
from medenv.reward import research_calls


class StepRecord(msgspec.Struct, kw_only=True):
    """One env step as the log recorded it. ``name``/``arguments`` are the step's last
    call; ``calls``/``outputs`` every executed call and its result; ``observation`` what
    the env returned (the outputs joined by a blank line, or the rejection)."""

    step: int
    text: str = ""  # action_received.text (as logged: a cut action ends with a marker)
    think: str | None = None
    is_dict: bool = False
    family: str | None = None
    truncated_from: int | None = None
    name: str | None = None
    arguments: dict = {}
    calls: list[dict[str, Any]] = []  # {"name", "arguments"} executed this step
    outputs: list[str] = []  # one tool result per executed call
    observation: str | None = None
    doc_ids: tuple[str, ...] = ()  # every call's, in order
    error_kind: str | None = None  # action_rejected.kind
    error_message: str | None = None
    latency_ms: float = 0.0  # summed over the calls
    answer: str | None = None
    extra: dict[str, Any] = {}  # fields of newer event types' declarations (module docstring)

    @property
    def rejected(self) -> str | None:
        """``"kind: message"`` when the action was rejected."""
        return None if self.error_kind is None else f"{self.error_kind}: {self.error_message}"

    @property
    def action(self) -> str | dict | list:
        """Exactly what ``step()`` parsed (`logged_action`)."""
        return logged_action(self)


class EpisodeRecord(msgspec.Struct, kw_only=True):
    """One recorded episode: its labels, its steps (folded records only) and its outcome."""

    run_id: str
    episode_id: str
    question_id: str
    prompt: str = ""
    split: str = ""
    specialty: str = "general"
    n_hops: int | None = 0
    optimal_calls: int | None = 0
    rarity: float | None = None
    answer: str = ""  # the gold answer
    aliases: tuple[str, ...] = ()
    seed: int | None = None
    tags: dict = {}
    item: dict[str, Any] = {}  # the logged QAItem (``episode_started.item``)
    config: dict[str, Any] = {}  # the run's ``run_started.config``
    corpus_hash: str | None = None  # the run's ``run_started.corpus_hash``
    tool_names: list[str] = []  # the run's tools (``run_started.config.tools``)
    tools: list[dict] = []  # their schemas, when logged
    steps: list[StepRecord] = []
    correct: bool | None = None
    reward: float | None = None
    components: dict[str, float] = {}
    evidence_recall: float | None = None
    n_tool_calls: int = 0
    n_actions: int = 0
    n_format_errors: int = 0
    terminated: bool = False
    truncated: bool = False
    ended: bool = False
    prediction: str | None = None  # the submitted answer
    kg_source: str = ""
    world: Any = None  # the run's recorded world (`medenv.worldspec`): "default" or a spec
    group: str = ""  # summaries: the evaluation group (run id or tag value)
    judged_correct: bool | None = None  # summaries: the latest judge_verdict
    tokens: int | None = None  # summaries: prompt + actions + observations, in words
    action_tokens: int | None = None
    grounded: bool | None = None  # set by `annotate_grounding` / evaluation
    recovered: bool | None = None
    extra: dict[str, Any] = {}  # episode-level event fields the record does not declare

    @property
    def agent(self) -> str:
        return str(self.tags.get("agent", ""))

    @property
    def guided(self) -> bool:
        return bool(self.tags.get("guidance"))

    @property
    def research_calls(self) -> int:
        """Tool calls without the final answer (the env counts the answer as a call)."""
        return research_calls(self.n_tool_calls, self.prediction is not None)


EPISODE_EVENTS = ("episode_started", "answer_submitted", "reward_assigned", "episode_ended")
# (event type, payload field) -> the EpisodeRecord field it sets, where the names differ
RECORD_NAMES = {
    ("answer_submitted", "answer"): "prediction",
    ("reward_assigned", "total"): "reward",
    ("episode_ended", "steps"): "n_steps",  # (``steps`` is the record's list of steps)
}
# episode-level fields read as something else: the built-in terms repeat ``components``
_NOT_BY_NAME = {
    ("reward_assigned", "accuracy"), ("reward_assigned", "format"),
    ("reward_assigned", "efficiency"), ("reward_assigned", "components"),
}  # fmt: skip
_BOOKKEEPING = {"v", "tokens", "step", "call"}  # per-event counters, not episode facts
_FOLD_OWNED = {"run_id", "episode_id", "steps", "extra"}  # set by the fold itself
_RECORD_FIELDS = frozenset(EpisodeRecord.__struct_fields__)
_STEP_FIELDS = frozenset(StepRecord.__struct_fields__)
# fields of the per-step events the fold below reads itself
_STEP_READ = {
    "action_received": {"text", "think", "is_dict", "family", "truncated_from"},
    "action_rejected": {"kind", "message", "observation"},
    "tool_called": {"name", "arguments"},
    "tool_returned": {"name", "observation", "doc_ids", "latency_ms"},
}


def _fields(payload: ev.Payload) -> Iterable[tuple[str, Any]]:
    return ((f, getattr(payload, f)) for f in payload.__struct_fields__ if f not in _BOOKKEEPING)


def _episode_event(rec: EpisodeRecord, type_: str, p: ev.Payload) -> None:
    """An episode-level event's fields onto the record, by name (module docstring)."""
    for field, value in _fields(p):
        if (type_, field) in _NOT_BY_NAME:
            continue
        name = RECORD_NAMES.get((type_, field), field)
        if name in _RECORD_FIELDS and name not in _FOLD_OWNED:
            setattr(rec, name, value)
        else:
            rec.extra[name] = value
    if type_ == "episode_started":
        rec.aliases = tuple(rec.aliases)
        rec.specialty = rec.specialty or "general"
        rec.rarity = (rec.item or {}).get("rarity")
    elif type_ == "reward_assigned":
        rec.components = dict(p.components) or {  # older logs: the built-in three
            "accuracy": p.accuracy, "format": p.format, "efficiency": p.efficiency,
        }  # fmt: skip
    elif type_ == "episode_ended":
        rec.ended = True


def _step_event(rec: EpisodeRecord, by_step: dict, type_: str, p: ev.Payload) -> None:
    if type_ == "action_received":
        s = by_step[p.step] = StepRecord(step=p.step)
        rec.steps.append(s)
        rec.n_actions += 1
    elif p.step not in by_step:
        raise MedenvError(
            f"episode {rec.episode_id}: a {type(p).__name__} event of step {p.step} has "
            "no action_received event before it (events deleted or out of order?)"
        )
    s = by_step[p.step]
    if type_ == "action_received":
        s.text, s.think, s.is_dict = p.text, p.think, p.is_dict
        s.family, s.truncated_from = p.family, p.truncated_from
    elif type_ == "action_rejected":
        s.error_kind, s.error_message, s.observation = p.kind, p.message, p.observation
    elif type_ == "tool_called":
        s.name, s.arguments = p.name, dict(p.arguments)
        s.calls.append({"name": p.name, "arguments": p.arguments})
    elif type_ == "tool_returned":
        s.outputs.append(p.observation)
        s.observation = "\n\n".join(s.outputs)
        s.doc_ids = (*s.doc_ids, *p.doc_ids)
        s.latency_ms += p.latency_ms
    else:  # answer_submitted
        s.answer = p.answer
    read = _STEP_READ.get(type_, ())
    for field, value in _fields(p):
        if field in read or (type_ == "answer_submitted" and field == "answer"):
            continue
        if field in _STEP_FIELDS:
            setattr(s, field, value)
        elif type_ in ("tool_called", "tool_returned"):
            s.extra.setdefault(field, []).append(value)
        else:
            s.extra[field] = value


def fold(
    events: Iterable[Event], runs: dict[str, ev.RunStarted] | None = None
) -> list[EpisodeRecord]:
    """Events, each episode's in ``seq`` order, -> one `EpisodeRecord` per
    ``episode_started``, in the order they start. ``run_started`` events (among ``events``
    or in ``runs``, by run id) give each record its run's config, tools, KG source, world
    and corpus hash. Raises `MedenvError` for a step event with no ``action_received``
    before it."""
    runs = dict(runs or {})
    records: dict[tuple[str, str], EpisodeRecord] = {}
    steps: dict[tuple[str, str], dict[int, StepRecord]] = {}
    for e in events:
        p = e.payload
        if e.type == "run_started":
            runs.setdefault(e.run_id, p)
            continue
        if not e.episode_id or isinstance(p, ev.UnknownPayload):
            continue
        key = (e.run_id, e.episode_id)
        if e.type == "episode_started":
            records[key] = EpisodeRecord(run_id=e.run_id, episode_id=e.episode_id, question_id="")
            steps[key] = {}
        rec = records.get(key)
        if rec is None:
            continue
        if e.type in _STEP_READ or e.type == "answer_submitted":
            _step_event(rec, steps[key], e.type, p)
        if e.type in EPISODE_EVENTS:
            _episode_event(rec, e.type, p)
    for rec in records.values():
        run = runs.get(rec.run_id)
        if run is not None:
            rec.config = dict(run.config)
            rec.tool_names = list(rec.config.get("tools") or [])
            schemas = rec.config.get("tool_schemas")
            rec.tools = list(json.loads(schemas) if isinstance(schemas, str) else schemas or [])
            rec.kg_source, rec.corpus_hash = str(run.kg_source or ""), run.corpus_hash
            rec.world = rec.config.get("world")
    return list(records.values())


def logged_action(s: StepRecord | ev.ActionReceived) -> str | dict | list:
    """The action a step parsed, from its ``action_received`` fields: the text (for an
    action cut at ``ACTION_MAX_CHARS``: the part the env read, padded to the original
    length), or the dict its JSON holds. `MedenvError` for an edited record."""
    if s.truncated_from is not None:
        # the part the env read, padded back to the logged length, so the replayed step
        # cuts it the same way and logs the same marker
        n = s.truncated_from
        if not ACTION_MAX_CHARS < n <= 1 << 30 or len(s.text) < ACTION_MAX_CHARS:
            raise MedenvError(f"step {s.step}: action_received.truncated_from is {n} (edited?)")
        return s.text[:ACTION_MAX_CHARS] + " " * (n - ACTION_MAX_CHARS)
    if s.is_dict:
        try:
            return json.loads(s.text)
        except (ValueError, RecursionError):
            raise MedenvError(
                f"step {s.step}: action_received.text is not the JSON of a dict (edited?)"
            ) from None
    return s.text


def store_paths(db: str | Path | Sequence[str | Path]) -> list[Path]:
    """A store path -> that file plus its worker shards; a folder, glob or list as given
    (`medenv.events.store.resolve_files`)."""
    return resolve_files(db if isinstance(db, (str, Path)) else [str(p) for p in db])


def load_episodes(
    db: str | Path | Sequence[str | Path],
    *,
    ended_only: bool = True,
    notes: list[str] | None = None,
) -> list[EpisodeRecord]:
    """Every episode in the store(s) (`fold`), ordered by run and first event time.

    ``ended_only`` drops episodes without an ``episode_ended`` event (a crashed worker's
    partial episode); they are re-run on resume and never exported. ``tools`` holds the
    schemas the run logged (none in today's logs: `medenv.training.export.load_episodes` fills
    them from the tool registry by ``tool_names``). ``notes`` (a list) is extended with the
    store's `spool_notes` (lines of a spool the read could not take).
    """
    con = connect([str(p) for p in store_paths(db)])
    if notes is not None:
        notes.extend(spool_notes(con))
    try:
        rows = con.execute(
            "SELECT run_id, episode_id, seq, ts, type, CAST(payload AS VARCHAR) FROM events "
            "ORDER BY run_id, episode_id, seq"
        ).fetchall()
    finally:
        con.close()
    events = (
        Event(
            run_id=r[0],
            episode_id=r[1],
            seq=r[2],
            ts=r[3],
            type=r[4],
            payload=ev.decode_payload(r[4], r[5] or "{}"),
        )  # fmt: skip
        for r in rows
    )
    records = fold(events)  # in (run, episode id) order, as the rows are
    return [rec for rec in records if rec.ended or not ended_only]


_HEADLESS_SQL = """
SELECT run_id, episode_id FROM events WHERE episode_id IS NOT NULL {where}
GROUP BY run_id, episode_id HAVING count(*) FILTER (WHERE type = 'episode_started') = 0
ORDER BY run_id, episode_id
"""


def headless_episodes(con, runs: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """``(run_id, episode_id)`` of the episodes that have events but no ``episode_started``
    event (deleted, or a log cut or merged without it). No reader can use them -- there is
    no question to score, project or check groundedness against -- so every reader leaves
    them out; this lists them, so that leaving them out is said (``medenv eval``'s notes)
    rather than silent. ``runs``: only these runs."""
    where, params = "", []
    if runs is not None:
        where = f"AND run_id IN ({', '.join('?' for _ in runs)})"
        params = list(runs)
    rows = con.execute(_HEADLESS_SQL.format(where=where), params).fetchall()
    return [(str(r), str(e)) for r, e in rows]

"""A step as the env records it: `LoggedStep`, and `events_of`, the one definition of the
events a step stands for.

The env fills a `LoggedStep` as the step runs (`medenv.env_step`): the action's logged
text and how it was read, each tool call with its result, then the submitted answer or the
rejection, each with the time its event took place and the step's per-step measurements
(`medenv.events.schema.STEP_MEASURES`, computed on the step's context as it ran).
`events_of` gives the step's events in log order: ``action_received``; per call
``tool_called`` and ``tool_returned``; then ``answer_submitted`` (a successful ``answer``)
or ``action_rejected`` (which may follow a call whose tool refused its arguments).
`event_count` is their number, without building them.

`medenv.events.store.EventStore` spools a step as one line,
``[run_id, episode_id, seq, ts_us, "step", <the LoggedStep as a JSON array>]`` (``seq``
and ``ts_us``: its first event's), so the step path encodes one array instead of a payload
per event. Every reader of a spool expands such a line into the event rows it stands for
(`expand_row`, called by `medenv.events.spool.read_spool`), each payload encoded by
`encode_payload`: the rows sealed and stored are byte for byte those the events logged
one by one give. A step line never reaches the events table. A recorder that takes no
whole step gets `events_of` (`medenv.env.MedResearchEnv`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from medenv.events import schema as ev
from medenv.events.codec import decode_nested, encode_payload

STEP_KIND = "step"  # a spool line's ``type`` for a whole step (never an event type)


class LoggedCall(msgspec.Struct, array_like=True):
    """One tool call of a step: its ``tool_called`` (at ``called_us``) and ``tool_returned``
    (at ``returned_us``; ``measures``: that event's `STEP_MEASURES` values)."""

    name: str
    arguments: dict[str, Any]
    called_us: int
    returned_us: int
    observation: str
    latency_ms: float
    doc_ids: list[str]
    ok: bool
    error: str | None
    measures: dict[str, Any]


class LoggedRejection(msgspec.Struct, array_like=True):
    """A step's ``action_rejected`` (at ``ts_us``)."""

    ts_us: int
    kind: str
    message: str
    observation: str
    measures: dict[str, Any]


class LoggedStep(msgspec.Struct, array_like=True):
    """What one step did (module docstring); ``ts_us``, ``text`` ... ``measures`` are its
    ``action_received``."""

    ts_us: int
    step: int
    text: str
    think: str | None
    is_dict: bool
    family: str | None
    truncated_from: int | None
    measures: dict[str, Any]
    calls: list[LoggedCall] = []
    answer: str | None = None  # ``answer_submitted`` (at ``answered_us``)
    answered_us: int = 0
    rejection: LoggedRejection | None = None


def event_count(step: LoggedStep) -> int:
    """``len(events_of(step))``."""
    return 1 + 2 * len(step.calls) + (step.answer is not None) + (step.rejection is not None)


def events_of(step: LoggedStep) -> list[tuple[int, ev.Payload]]:
    """The step's events in log order, each with its time: ``[(ts_us, payload), ...]``. A
    measurement named like one of its event's own fields takes that field's place."""
    n = step.step
    received = {
        "step": n, "text": step.text, "think": step.think, "is_dict": step.is_dict,
        "family": step.family, "truncated_from": step.truncated_from,
    }  # fmt: skip
    out: list[tuple[int, ev.Payload]] = [
        (step.ts_us, ev.ActionReceived(**{**received, **step.measures}))
    ]
    for i, call in enumerate(step.calls):
        out.append(
            (call.called_us, ev.ToolCalled(step=n, name=call.name, arguments=call.arguments, call=i))
        )
        returned = {
            "step": n, "name": call.name, "observation": call.observation,
            "latency_ms": call.latency_ms, "doc_ids": call.doc_ids, "ok": call.ok,
            "error": call.error, "call": i,
        }  # fmt: skip
        out.append((call.returned_us, ev.ToolReturned(**{**returned, **call.measures})))
    if step.answer is not None:
        out.append((step.answered_us, ev.AnswerSubmitted(step=n, answer=step.answer)))
    r = step.rejection
    if r is not None:
        rejected = {"step": n, "kind": r.kind, "message": r.message, "observation": r.observation}
        out.append((r.ts_us, ev.ActionRejected(**{**rejected, **r.measures})))
    return out


_STEP = msgspec.json.Decoder(LoggedStep)


def event_rows(row: tuple) -> list[tuple]:
    """The event rows a staged spool row stands for: ``row`` itself for an event, the
    step's events (``seq`` on from the row's; payloads as Structs) for a `LoggedStep`."""
    run_id, episode_id, seq, _, kind, step = row
    if kind != STEP_KIND:
        return [row]
    return [
        (run_id, episode_id, seq + k, ts, ev.TYPE_NAMES[type(payload)], payload)
        for k, (ts, payload) in enumerate(events_of(step))
    ]


def expand_row(row: tuple) -> list[tuple]:
    """A decoded spool row ``(run_id, episode_id, seq, ts_us, type, msgspec.Raw payload)``
    as the event rows it stands for (same shape): ``[row]`` for an event line, the step's
    events for a step line. Raises `msgspec.DecodeError` for a step line whose array is
    not a `LoggedStep` (or names a measurement this schema lacks)."""
    if row[4] != STEP_KIND:
        return [row]
    try:
        step = decode_nested(_STEP, row[5])
        rows = event_rows((*row[:5], step))
    except TypeError as exc:  # a measurement field this schema does not declare
        raise msgspec.DecodeError(f"not a step this medenv logs: {exc}") from None
    return [(*r[:5], msgspec.Raw(encode_payload(r[5]))) for r in rows]

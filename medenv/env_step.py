"""The stages of one `medenv.env.MedResearchEnv.step`: parse -> check -> run or reject.

Each stage is a function over the episode's `EpisodeState` and the env's settings; the env
wires them together (`MedResearchEnv._step`) and advances the episode. When the env logs,
the stages fill the step's `medenv.events.logged_step.LoggedStep` as they run (the action
read, each call and its result, the answer or the rejection, each with its time), which the
env hands to its recorder whole; its events are `medenv.events.logged_step.events_of`.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from medenv.actions import (
    ACTION_MAX_CHARS,
    MAX_NESTING,
    canonical_action,
    fit_text,
    too_deep,
    truncation_marker,
)
from medenv.events import schema as ev
from medenv.events.logged_step import LoggedCall, LoggedRejection, LoggedStep
from medenv.tools.parsing import (
    ERROR_KINDS,
    ParsedAction,
    ParseError,
    ToolCall,
    error_suffix,
    format_hint,
    parse_action,
)
from medenv.tools.registry import run as run_tool
from medenv.tools.registry import validate
from medenv.tools.result import ToolResult


class ActionContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a per-step measurement of ``action_received`` sees
    (`medenv.events.schema.STEP_MEASURES`)."""

    step: int
    text: str  # the text parsed (the logged text without its truncation marker)
    parsed: ParsedAction
    truncated_from: int | None


class CallContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a per-step measurement of ``tool_returned`` sees: one call, after it ran
    (``state`` does not count it yet)."""

    step: int
    call: ToolCall
    args: Any  # the tool's checked msgspec arguments
    result: ToolResult
    latency_ms: float
    state: EpisodeState
    world: Any


class RejectContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a per-step measurement of ``action_rejected`` sees."""

    step: int
    parsed: ParsedAction
    error: ParseError
    observation: str


class EpisodeState(msgspec.Struct, kw_only=True):
    """What an open episode has done so far (reset at every `reset`). The counters' names
    are those of `medenv.events.schema.EpisodeEnded`'s fields."""

    steps: int = 0
    n_tool_calls: int = 0
    n_format_errors: int = 0
    retrieved: list[str] = []  # doc ids of every tool result, in order
    prediction: str | None = None  # the submitted answer
    evidence_recall: float = 0.0


class CallsRun(msgspec.Struct, kw_only=True):
    """What `run_calls` did: the calls' observations, the names of the calls that ran
    (comma-joined), whether an answer ended the episode, and the fault that stopped it."""

    outputs: list[str] = []
    tool: str = ""
    terminated: bool = False
    error: ParseError | None = None


def read_action(
    action: Any,
    step: int,
    *,
    parallel_calls: bool,
    schemas: list[dict],
    tool_format: str,
    log: bool,
) -> tuple[ParsedAction, LoggedStep | None]:
    """Parse the action's canonical text (cut to the action space); when ``log``, also
    begin the step's record with the ``action_received`` that logs exactly the text parsed
    (None when logging is off)."""
    action, text, is_dict = canonical_action(action)
    cut = None
    if len(text) > ACTION_MAX_CHARS:  # outside the action space: read its start only
        cut, text = len(text), text[:ACTION_MAX_CHARS]
        action, is_dict = text, False
    if too_deep(text):
        message = f"The action is nested deeper than {MAX_NESTING} levels. " + error_suffix(
            None, tool_format
        )
        parsed = ParsedAction(error=ParseError("bad_json", message))
    else:
        parsed = parse_action(
            action, parallel_calls=parallel_calls, schemas=schemas,
            tool_format=tool_format, check_arguments=False,
        )  # fmt: skip
    if not log:
        return parsed, None
    measured = ev.measures(
        ev.ActionReceived,
        lambda: ActionContext(step=step, text=text, parsed=parsed, truncated_from=cut),
    )
    record = LoggedStep(
        time.time_ns() // 1000, step, text + truncation_marker(cut),
        parsed.think, is_dict, parsed.family, cut, measured,
    )  # fmt: skip
    return parsed, record


def check_calls(parsed: ParsedAction) -> tuple[list, ParseError | None]:
    """Each call's arguments through its tool's msgspec ``Args`` (the one check):
    ``([(call, args), ...], None)`` or ``([], the first fault)``."""
    if parsed.error is not None:
        return [], parsed.error
    checked = []
    for call in parsed.calls:
        args = validate(call.name, call.arguments)
        if isinstance(args, ToolResult):
            return [], parse_error(args.error, args.text)
        checked.append((call, args))
    return checked, None


def run_calls(
    world, checked: list, step: int, state: EpisodeState, record: LoggedStep | None
) -> CallsRun:
    """Run the checked calls in order against ``world``, recording each in ``record`` (None:
    logging is off, nothing is recorded), and count them in ``state``; a tool's own
    argument fault (e.g. a blank query) stops the step, and a successful ``answer`` ends
    the episode."""
    out = CallsRun()
    for call, args in checked:
        called_us = time.time_ns() // 1000
        start = time.perf_counter()
        result = run_tool(world, call.name, args)
        latency = (time.perf_counter() - start) * 1000.0
        obs_i = fit_text(result.text)
        if record is not None:
            measured = ev.measures(
                ev.ToolReturned,
                lambda: CallContext(  # noqa: B023 - called by `measures` at once
                    step=step, call=call, args=args, result=result, latency_ms=latency,  # noqa: B023
                    state=state, world=world,
                ),
            )  # fmt: skip
            record.calls.append(
                LoggedCall(
                    call.name, call.arguments, called_us, time.time_ns() // 1000, obs_i,
                    round(latency, 3), list(result.doc_ids), result.ok, result.error, measured,
                )
            )  # fmt: skip
        if not result.ok and result.error in ERROR_KINDS:  # e.g. a blank query
            out.error = parse_error(result.error, result.text)
            return out
        out.tool = call.name if not out.tool else f"{out.tool},{call.name}"
        state.n_tool_calls += 1
        state.retrieved.extend(result.doc_ids)
        out.outputs.append(obs_i)
        if call.name == "answer" and result.ok:
            state.prediction = str(call.arguments["answer"])
            if record is not None:
                record.answer, record.answered_us = state.prediction, time.time_ns() // 1000
            out.terminated = True
            return out
    return out


def reject(
    parsed: ParsedAction,
    error: ParseError,
    step: int,
    tool_format: str,
    record: LoggedStep | None = None,
) -> str:
    """A rejected action's error observation (with the call-format hint), recorded as the
    step's rejection in ``record`` (None: logging is off)."""
    observation = f"Error ({error.kind}): {error.message}"
    hint = format_hint(parsed.family if parsed.family else tool_format)
    if hint not in observation:  # the registry's own argument checks carry no hint
        observation += "\n" + error_suffix(parsed.family, tool_format)
    observation = fit_text(observation)
    if record is not None:
        measured = ev.measures(
            ev.ActionRejected,
            lambda: RejectContext(step=step, parsed=parsed, error=error, observation=observation),
        )
        record.rejection = LoggedRejection(
            time.time_ns() // 1000, error.kind, error.message, observation, measured
        )
    return observation


def parse_error(kind: str, message: str) -> ParseError:
    """A tool's fault as the `ParseError` the env reports. ``kind`` is one of `ERROR_KINDS`:
    both callers pass only such kinds (`check_calls`: the registry's ``bad_arguments`` or
    ``unknown_tool``; `run_calls`: a tool's fault it has checked is one)."""
    return ParseError(kind, message.removeprefix("Error: "))

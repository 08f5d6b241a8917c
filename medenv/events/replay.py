"""Replay: an episode's events as a trajectory, as chat messages, as a transcript.

`medenv.verify.verify` (env level: it builds an env) checks an episode's hash chain and
re-executes every logged action in a fresh environment, comparing every event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from medenv.errors import MedenvError
from medenv.events.episodes import EpisodeRecord, StepRecord, fold, logged_action
from medenv.events.schema import Event

# An episode as replay reads it is the one projection's record (`medenv.events.episodes`).
Trajectory = EpisodeRecord
TrajectoryStep = StepRecord
__all__ = ["Trajectory", "TrajectoryStep", "logged_action", "to_messages", "trajectory"]


def trajectory(events: Sequence[Event]) -> EpisodeRecord:
    """Fold one episode's events (optionally preceded by its run_started) into its record
    (`medenv.events.episodes.fold`): the first episode the events start."""
    records = fold(events)
    if not records:
        raise MedenvError("the events hold no episode_started event")
    return records[0]


def to_messages(events: Sequence[Event] | Trajectory) -> list[dict[str, Any]]:
    """Chat messages (the SFT format of docs/CONTRACTS.md): the prompt as the user turn,
    assistant tool calls, tool results, rejected actions answered by a user error turn,
    and the final ``<answer>`` turn."""
    traj = events if isinstance(events, EpisodeRecord) else trajectory(events)
    messages: list[dict[str, Any]] = [{"role": "user", "content": traj.prompt}]
    for s in traj.steps:
        think = f"<think>{s.think}</think>" if s.think else ""
        if s.error_kind is not None:
            raw = s.action if isinstance(s.action, str) else json.dumps(s.action)
            messages.append({"role": "assistant", "content": raw})
            messages.append({"role": "user", "content": s.observation})
            continue
        answers = [c for c in s.calls if c["name"] == "answer"]
        tools = [c for c in s.calls if c["name"] != "answer"]
        if tools:
            messages.append(
                {
                    "role": "assistant",
                    "content": think,
                    "tool_calls": [{"type": "function", "function": c} for c in tools],
                }
            )
            for c, text in zip(tools, s.outputs, strict=False):
                messages.append({"role": "tool", "name": c["name"], "content": text})
        if answers:
            answer = answers[0]["arguments"].get("answer", "")
            content = (think + "\n" if think else "") + f"<answer>{answer}</answer>"
            messages.append({"role": "assistant", "content": content})
    return messages


def transcript(events: Sequence[Event]) -> str:
    """A readable, plain-text account of one episode."""
    t = trajectory(events)
    item = t.item or {}
    lines = [
        f"episode {t.episode_id}  (run {t.run_id})",
        f"question {t.question_id}  specialty={item.get('specialty', '?')}  "
        f"hops={item.get('n_hops', '?')}  optimal_calls={item.get('optimal_calls', '?')}  "
        f"seed={t.seed}" + (f"  tags={json.dumps(t.tags, sort_keys=True)}" if t.tags else ""),
        f"gold answer: {item.get('answer', '?')}",
        "",
        "=== prompt ===",
        t.prompt,
    ]
    for s in t.steps:
        lines.append("")
        head = f"=== step {s.step} ==="
        if s.error_kind:
            head += f"  REJECTED ({s.error_kind})"
        lines.append(head)
        if s.think:
            lines.append("think: " + _clip(s.think, 600))
        action = s.action if isinstance(s.action, str) else json.dumps(s.action)
        lines.append("action: " + _clip(action, 600))
        for c in s.calls:
            lines.append(f"-> {c['name']}({json.dumps(c['arguments'], ensure_ascii=False)})")
        lines.append("observation:" + (f"  ({s.latency_ms:.2f} ms)" if s.calls else ""))
        lines.extend("  " + line for line in _clip(s.observation, 2000).splitlines())
    lines.append("")
    if t.reward is not None:
        comps = ", ".join(f"{k} {v:g}" for k, v in t.components.items())
        lines.append(
            f"answer: {t.prediction!r}  correct={t.correct}  reward {t.reward:g} ({comps})  "
            f"evidence_recall {t.evidence_recall:g}"
        )
    how = "terminated" if t.terminated else "truncated" if t.truncated else "abandoned"
    lines.append(
        f"ended: {how} after {len(t.steps)} steps"
        if t.ended
        else "not ended (still running or killed)"
    )
    return "\n".join(lines)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + f" [... {len(text) - n} more chars]"

"""Replay: an episode's events as a trajectory, as chat messages, as a transcript, and
`verify` (`medenv.events.verify`, re-exported here): check its hash chain and re-execute
every logged action in a fresh environment, comparing every event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import msgspec

from medenv.errors import MedenvError
from medenv.events import schema as ev
from medenv.events.schema import Event


class TrajectoryStep(msgspec.Struct, kw_only=True):
    step: int
    action: str | dict | list  # exactly what step() received
    think: str | None = None
    calls: list[dict[str, Any]] = []  # {"name", "arguments"} executed this step
    observation: str = ""
    outputs: list[str] = []  # one tool result per executed call
    error_kind: str | None = None
    error_message: str | None = None
    latency_ms: float = 0.0


class Trajectory(msgspec.Struct, kw_only=True):
    run_id: str
    episode_id: str
    question_id: str
    seed: int | None
    prompt: str
    item: dict[str, Any]
    config: dict[str, Any]
    corpus_hash: str | None
    tags: dict[str, Any]
    steps: list[TrajectoryStep]
    answer: str | None = None
    reward: float | None = None
    components: dict[str, float] = {}
    correct: bool | None = None
    evidence_recall: float | None = None
    terminated: bool = False
    truncated: bool = False
    ended: bool = False


def trajectory(events: Sequence[Event]) -> Trajectory:
    """Fold one episode's events (optionally preceded by its run_started) into a Trajectory."""
    run = next((e for e in events if e.type == "run_started"), None)
    start = next((e for e in events if e.type == "episode_started"), None)
    if start is None:
        raise MedenvError("the events hold no episode_started event")
    p0: ev.EpisodeStarted = start.payload
    traj = Trajectory(
        run_id=start.run_id,
        episode_id=start.episode_id or "",
        question_id=p0.question_id,
        seed=p0.seed,
        prompt=p0.prompt,
        item=p0.item,
        config=run.payload.config if run else {},
        corpus_hash=run.payload.corpus_hash if run else None,
        tags=p0.tags,
        steps=[],
    )
    by_step: dict[int, TrajectoryStep] = {}

    def of(p) -> TrajectoryStep:
        if p.step not in by_step:
            raise MedenvError(
                f"episode {traj.episode_id}: a {type(p).__name__} event of step {p.step} has "
                "no action_received event before it (events deleted or out of order?)"
            )
        return by_step[p.step]

    for e in events:
        p = e.payload
        if e.episode_id != start.episode_id:
            continue
        if e.type == "action_received":
            by_step[p.step] = TrajectoryStep(step=p.step, action=logged_action(p), think=p.think)
            traj.steps.append(by_step[p.step])
        elif e.type == "action_rejected":
            s = of(p)
            s.error_kind, s.error_message, s.observation = p.kind, p.message, p.observation
        elif e.type == "tool_called":
            of(p).calls.append({"name": p.name, "arguments": p.arguments})
        elif e.type == "tool_returned":
            s = of(p)
            s.outputs.append(p.observation)
            s.observation = "\n\n".join(s.outputs)
            s.latency_ms += p.latency_ms
        elif e.type == "answer_submitted":
            traj.answer = p.answer
        elif e.type == "reward_assigned":
            traj.reward = p.total
            traj.components = dict(p.components) or {  # older logs: the built-in three
                "accuracy": p.accuracy,
                "format": p.format,
                "efficiency": p.efficiency,
            }
            traj.correct, traj.evidence_recall = p.correct, p.evidence_recall
        elif e.type == "episode_ended":
            traj.terminated, traj.truncated, traj.ended = p.terminated, p.truncated, True
    return traj


def logged_action(p: ev.ActionReceived) -> str | dict | list:
    """The action a step parsed, from its ``action_received`` event: the text (for an action
    cut at ``ACTION_MAX_CHARS``: the part the env read, padded to the original length), or
    the dict its JSON holds."""
    if p.truncated_from is not None:
        from medenv.env import ACTION_MAX_CHARS

        # the part the env read, padded back to the logged length, so the replayed step
        # cuts it the same way and logs the same marker
        n = p.truncated_from
        if not ACTION_MAX_CHARS < n <= 1 << 30 or len(p.text) < ACTION_MAX_CHARS:
            raise MedenvError(f"step {p.step}: action_received.truncated_from is {n} (edited?)")
        return p.text[:ACTION_MAX_CHARS] + " " * (n - ACTION_MAX_CHARS)
    if p.is_dict:
        try:
            return json.loads(p.text)
        except (ValueError, RecursionError):
            raise MedenvError(
                f"step {p.step}: action_received.text is not the JSON of a dict (edited?)"
            ) from None
    return p.text


def to_messages(events: Sequence[Event] | Trajectory) -> list[dict[str, Any]]:
    """Chat messages (the SFT format of docs/CONTRACTS.md): the prompt as the user turn,
    assistant tool calls, tool results, rejected actions answered by a user error turn,
    and the final ``<answer>`` turn."""
    traj = events if isinstance(events, Trajectory) else trajectory(events)
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
            f"answer: {t.answer!r}  correct={t.correct}  reward {t.reward:g} ({comps})  "
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


def __getattr__(name: str):
    """`verify`, `VerifyResult` and `make_replay_env` live in `medenv.events.verify`."""
    if name in ("verify", "VerifyResult", "make_replay_env"):
        from medenv.events import verify as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

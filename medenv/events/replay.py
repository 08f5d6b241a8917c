"""Replay: an episode's events as a trajectory, as chat messages, as a transcript, and
`verify`: re-execute every logged action in a fresh environment and compare.

The fresh environment is rebuilt from the logged configuration (``run_started.config``)
and the logged question (``episode_started.item``), with logging off. Verification fails on
the first observation, reward or end flag that differs from the log.
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
    for e in events:
        p = e.payload
        if e.episode_id != start.episode_id:
            continue
        if e.type == "action_received":
            action: str | dict | list = json.loads(p.text) if p.is_dict else p.text
            by_step[p.step] = TrajectoryStep(step=p.step, action=action, think=p.think)
            traj.steps.append(by_step[p.step])
        elif e.type == "action_rejected":
            s = by_step[p.step]
            s.error_kind, s.error_message, s.observation = p.kind, p.message, p.observation
        elif e.type == "tool_called":
            by_step[p.step].calls.append({"name": p.name, "arguments": p.arguments})
        elif e.type == "tool_returned":
            by_step[p.step].outputs.append(p.observation)
            by_step[p.step].observation = "\n\n".join(by_step[p.step].outputs)
            by_step[p.step].latency_ms += p.latency_ms
        elif e.type == "answer_submitted":
            traj.answer = p.answer
        elif e.type == "reward_assigned":
            traj.reward = p.total
            traj.components = {
                "accuracy": p.accuracy,
                "format": p.format,
                "efficiency": p.efficiency,
            }
            traj.correct, traj.evidence_recall = p.correct, p.evidence_recall
        elif e.type == "episode_ended":
            traj.terminated, traj.truncated, traj.ended = p.terminated, p.truncated, True
    return traj


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


class VerifyResult(msgspec.Struct, kw_only=True):
    ok: bool
    episode_id: str
    steps_checked: int
    step: int | None = None  # the first step that differs (-1: the reset prompt)
    field: str | None = (
        None  # "prompt", "observation", "reward", "terminated", "truncated", "world"
    )
    expected: Any = None
    got: Any = None

    @property
    def message(self) -> str:
        if self.ok:
            return f"episode {self.episode_id}: {self.steps_checked} steps reproduced exactly"
        where = "reset" if self.step == -1 else f"step {self.step}"
        return (
            f"episode {self.episode_id}: {where}: {self.field} differs: logged "
            f"{_clip(repr(self.expected), 300)}, re-executed {_clip(repr(self.got), 300)}"
        )


def make_replay_env(traj: Trajectory, world=None):
    """A fresh, unlogged env built from the logged configuration and question."""
    from medenv.env import MedResearchEnv
    from medenv.synth.qa import QAItem

    cfg = traj.config
    if not cfg:
        raise MedenvError(f"run {traj.run_id} has no run_started event: cannot rebuild its env")
    if world is None and cfg.get("world") == "custom":
        raise MedenvError(
            f"run {traj.run_id} used a custom world (World.for_kg ...): pass world= to verify"
        )
    item = msgspec.convert(traj.item, QAItem)
    return MedResearchEnv(
        qa=[item],
        tools=cfg.get("tools"),
        max_steps=cfg.get("max_steps", 12),
        reward_weights=cfg.get("reward_weights"),
        backend=cfg.get("backend", "tantivy"),
        source=cfg.get("source", "hpo"),
        world_seed=cfg.get("world_seed", 0),
        parallel_calls=cfg.get("parallel_calls", False),
        tool_format=cfg.get("tool_format", "auto"),
        db=None,
        world=world,
    )


def verify(paths_or_con, episode_id: str, world=None) -> VerifyResult:
    """Re-execute episode ``episode_id`` and compare with the log (see module docstring)."""
    from medenv.events.store import read_episode

    traj = trajectory(read_episode(paths_or_con, episode_id))
    env = make_replay_env(traj, world)
    try:
        return _verify(env, traj)
    finally:
        env.close()


def _verify(env, traj: Trajectory) -> VerifyResult:
    def fail(step, field, expected, got, checked):
        return VerifyResult(
            ok=False, episode_id=traj.episode_id, steps_checked=checked, step=step,
            field=field, expected=expected, got=got,
        )  # fmt: skip

    prompt, _ = env.reset(seed=traj.seed, options={"question_id": traj.question_id})
    if traj.corpus_hash is not None and env.world.fingerprint != traj.corpus_hash:
        return fail(-1, "world", traj.corpus_hash, env.world.fingerprint, 0)
    if prompt != traj.prompt:
        return fail(-1, "prompt", traj.prompt, prompt, 0)
    last = len(traj.steps) - 1
    for i, s in enumerate(traj.steps):
        obs, reward, terminated, truncated, _ = env.step(s.action)
        if obs != s.observation:
            return fail(s.step, "observation", s.observation, obs, i)
        if i == last and traj.ended and traj.truncated and not (terminated or truncated):
            reward, _ = env.unwrapped.finish()  # the episode was ended early by finish()
            truncated = True
        expected_reward = traj.reward if (i == last and traj.reward is not None) else 0.0
        if reward != expected_reward:
            return fail(s.step, "reward", expected_reward, reward, i)
        ends = i == last and traj.ended
        if terminated != (ends and traj.terminated):
            return fail(s.step, "terminated", ends and traj.terminated, terminated, i)
        if truncated != (ends and traj.truncated):
            return fail(s.step, "truncated", ends and traj.truncated, truncated, i)
    return VerifyResult(ok=True, episode_id=traj.episode_id, steps_checked=len(traj.steps))

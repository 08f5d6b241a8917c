"""Replay: an episode's events as a trajectory, as chat messages, as a transcript, and
`verify`: re-execute every logged action in a fresh environment and compare.

The fresh environment is rebuilt from the logged configuration (``run_started.config``)
and the logged question (``episode_started.item``), with its events captured in memory.
Verification checks the episode's hash chain and seal (`medenv.events.chain`), then
re-executes every logged action: it stops at the first observation, reward or end flag that
differs, and compares every event the fresh env emits with the logged one, field by field
(so derived fields — ``correct``, counts, the answer, evidence recall, reward components —
are recomputed, not trusted). Only ``ts``, ``latency_ms``, the hashes, ``tags`` and
``config_hash`` of the logged episode are not compared.
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
            traj.components = {
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


class VerifyResult(msgspec.Struct, kw_only=True):
    """``ok`` when the chain holds and the re-execution matches. ``step``/``field``/
    ``expected``/``got`` name the first difference of the re-execution (step -1: the reset);
    ``problems`` lists everything found (chain and re-execution), one line each."""

    ok: bool
    episode_id: str
    steps_checked: int
    step: int | None = None
    field: str | None = None  # "prompt", "observation", "reward", "terminated", ...
    expected: Any = None
    got: Any = None
    problems: list[str] = []
    legacy: bool = False  # written before the hash chain (schema v1): chain not checked

    @property
    def message(self) -> str:
        if self.ok:
            note = " (schema v1: no hash chain)" if self.legacy else ""
            return f"episode {self.episode_id}: {self.steps_checked} steps reproduced exactly{note}"
        return f"episode {self.episode_id}: " + "; ".join(self.problems)


def _difference(step, field, expected, got) -> str:
    where = "reset" if step == -1 else f"step {step}"
    return (
        f"{where}: {field} differs: logged {_clip(repr(expected), 300)}, "
        f"re-executed {_clip(repr(got), 300)}"
    )


class _Capture:
    """The replay env's event store: keeps the payloads it emits, in order."""

    shard = 0

    def __init__(self) -> None:
        self.events: list[ev.Payload] = []

    def emit(self, payload: ev.Payload, episode_id: str | None = None) -> int:
        if episode_id is not None:
            self.events.append(payload)
        return len(self.events)

    def commit(self) -> None:
        pass

    def end_episode(self, episode_id: str | None = None) -> None:
        pass

    def discard(self) -> None:
        pass

    def close(self) -> None:
        pass


def make_replay_env(traj: Trajectory, world=None):
    """A fresh env built from the logged configuration and question; its events are
    captured in memory (``env.store.events``), never written."""
    from medenv.env import MedResearchEnv
    from medenv.synth.qa import QAItem

    cfg = traj.config
    if not cfg:
        raise MedenvError(f"run {traj.run_id} has no run_started event: cannot rebuild its env")
    if world is None and cfg.get("world") == "custom":
        raise MedenvError(
            f"run {traj.run_id} used a custom world (World.for_kg ...): pass world= to verify"
        )
    try:
        item = msgspec.convert(traj.item, QAItem)
    except msgspec.ValidationError as exc:
        raise MedenvError(f"episode {traj.episode_id}: the logged question is bad: {exc}") from None
    env = MedResearchEnv(
        qa=[item],
        tools=cfg.get("tools"),
        max_steps=cfg.get("max_steps", 12),
        reward_weights=cfg.get("reward_weights"),
        backend=cfg.get("backend", "tantivy"),
        source=cfg.get("source", "hpo"),
        world_seed=cfg.get("world_seed", 0),
        parallel_calls=cfg.get("parallel_calls", False),
        db=None,
        world=world,
    )
    env.store = _Capture()
    return env


def verify(
    paths_or_con, episode_id: str, world=None, chain: bool = True, events: list | None = None
) -> VerifyResult:
    """Check episode ``episode_id``'s hash chain (unless ``chain=False``) and re-execute it
    (see the module docstring). Never raises for a damaged episode: its problems are in
    the result. Raises `MedenvError` when it cannot be replayed at all (no such episode, a
    custom world not passed)."""
    from medenv.events import chain as chains
    from medenv.events.store import _as_con, read_episode

    con, owned = _as_con(paths_or_con)
    try:
        problems = chains.check_episode(con, episode_id) if chain else []
        if events is None:  # (`iter_episodes` gives them for many episodes at once)
            events = read_episode(con, episode_id)
    finally:
        if owned:
            con.close()
    legacy = any(e.payload.v < 2 for e in events if e.episode_id == episode_id)
    try:
        traj = trajectory(events)
    except MedenvError as exc:
        return VerifyResult(
            ok=False, episode_id=episode_id, steps_checked=0, problems=[*problems, str(exc)]
        )
    env = make_replay_env(traj, world)
    capture = env.store
    try:
        result = _verify(env, traj)
        if result.ok:
            _compare_events(capture.events, events, episode_id, result)
    finally:
        env.close()
    result.problems = problems + result.problems
    result.ok = not result.problems
    result.legacy = legacy
    return result


def _verify(env, traj: Trajectory) -> VerifyResult:
    def fail(step, field, expected, got, checked):
        return VerifyResult(
            ok=False, episode_id=traj.episode_id, steps_checked=checked, step=step,
            field=field, expected=expected, got=got,
            problems=[_difference(step, field, expected, got)],
        )  # fmt: skip

    prompt, _ = env.reset(seed=traj.seed, options={"question_id": traj.question_id})
    if traj.corpus_hash is not None and env.world.fingerprint != traj.corpus_hash:
        return fail(-1, "world", traj.corpus_hash, env.world.fingerprint, 0)
    if prompt != traj.prompt:
        return fail(-1, "prompt", traj.prompt, prompt, 0)
    last = len(traj.steps) - 1
    for i, s in enumerate(traj.steps):
        if not env.unwrapped._open:
            return fail(s.step, "terminated", False, True, i)  # the log goes on after the end
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
    if traj.ended and not (traj.terminated or traj.truncated):
        env.unwrapped.close()  # abandoned (reset or close mid-episode): log it the same way
    return VerifyResult(ok=True, episode_id=traj.episode_id, steps_checked=len(traj.steps))


_VOLATILE = {
    "episode_started": ("tags", "config_hash"),
    "tool_returned": ("latency_ms",),
}


def _compare_events(replayed: list, logged: list[Event], episode_id: str, result) -> None:
    """Every logged event of the episode against the one the fresh env emitted."""
    mine = [e for e in logged if e.episode_id == episode_id and e.type in ev.EVENT_TYPES]
    for k in range(max(len(mine), len(replayed))):
        want = mine[k] if k < len(mine) else None
        got = replayed[k] if k < len(replayed) else None
        got_type = ev.TYPE_NAMES.get(type(got)) if got is not None else None
        if want is None or got is None or want.type != got_type:
            result.problems.append(
                f"event {k}: logged {want.type if want else 'nothing'}, re-executed "
                f"{got_type or 'nothing'} (events inserted or deleted?)"
            )
            return
        a, b = _fields(want.payload), _fields(got)
        for key in _VOLATILE.get(want.type, ()):
            a.pop(key, None), b.pop(key, None)
        if a != b:
            field = next(f for f in sorted(set(a) | set(b)) if a.get(f) != b.get(f))
            step = getattr(want.payload, "step", None)
            where = f"step {step}: " if step is not None else ""
            result.problems.append(
                f"{where}{want.type}.{field} differs: logged {_clip(repr(a.get(field)), 200)}, "
                f"re-executed {_clip(repr(b.get(field)), 200)}"
            )
            return


def _fields(payload: ev.Payload) -> dict:
    """A payload as the log holds it (encoded by the log's one rule, then decoded)."""
    data = msgspec.json.decode(ev.encode_payload(payload))
    data.pop("v", None)
    return data

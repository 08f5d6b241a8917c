"""`verify`: check an episode's hash chain and re-execute it in a fresh environment.

The fresh environment is rebuilt from the logged configuration (``run_started.config``,
its world from the recorded `medenv.worldspec.WorldSpec`) and the logged question
(``episode_started.item``), with its events captured in memory.
Verification checks the episode's hash chain and seal (`medenv.events.chain`), then
re-executes every logged action: it stops at the first observation, reward or end flag that
differs, and compares every event the fresh env emits with the logged one, field by field
(so derived fields — ``correct``, counts, the answer, evidence recall, reward components —
are recomputed, not trusted). Only ``ts``, ``latency_ms``, the hashes, ``tags`` and
``config_hash`` of the logged episode are not compared. It builds an env, so it lives
at the env level (not in `medenv.events`, which the env imports).
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

import msgspec

from medenv.env import MedResearchEnv
from medenv.errors import MedenvError
from medenv.events import chain as chains
from medenv.events import schema as ev
from medenv.events.recorder import MemoryRecorder
from medenv.events.replay import Trajectory, _clip, trajectory
from medenv.events.schema import Event
from medenv.events.store import _as_con, read_episode
from medenv.qa import QAItem
from medenv.reward import rubric_from_config
from medenv.worldspec import spec_of_config


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


def make_replay_env(traj: Trajectory, world=None):
    """A fresh env built from the logged configuration and question; its events are
    captured in memory (``env.store.events``, a `MemoryRecorder`), never written."""
    cfg = traj.config
    if not cfg:
        raise MedenvError(f"run {traj.run_id} has no run_started event: cannot rebuild its env")
    if world is None:
        world = spec_of_config(cfg)  # the recorded recipe (source, paths, options, seed)
        if world is None:
            raise MedenvError(
                f"run {traj.run_id} used a custom world (World.for_kg ...): pass world= to "
                "verify (CLI: the KG flags --source/--path)"
            )
    try:
        item = msgspec.convert(traj.item, QAItem)
    except msgspec.ValidationError as exc:
        raise MedenvError(f"episode {traj.episode_id}: the logged question is bad: {exc}") from None
    env = MedResearchEnv(
        qa=[item],
        tools=cfg.get("tools"),
        max_steps=cfg.get("max_steps", 12),  # pragma: no mutate (always logged: default unused)
        reward_terms=(
            rubric_from_config(cfg["reward_weights"], cfg.get("reward_terms"))
            if cfg.get("reward_weights")  # pragma: no mutate (always logged, never empty)
            else None
        ),
        # the world is passed: these three are only recorded in the replay env's config,
        # which verify does not compare (run_started, config_hash)
        backend=cfg.get("backend", "tantivy"),  # pragma: no mutate (recorded only, above)
        source=cfg.get("source", "hpo"),  # pragma: no mutate (recorded only, above)
        world_seed=cfg.get("world_seed", 0),  # pragma: no mutate (recorded only, above)
        parallel_calls=cfg.get("parallel_calls", False),  # pragma: no mutate (always logged: default unused)
        tool_format=cfg.get("tool_format", "auto"),  # pragma: no mutate (always logged: default unused)
        db=MemoryRecorder(),
        world=world,
    )
    return env


def verify(
    paths_or_con, episode_id: str, world=None, chain: bool = True, events: list | None = None
) -> VerifyResult:
    """Check episode ``episode_id``'s hash chain (unless ``chain=False``) and re-execute it
    (see the module docstring). Never raises for a damaged episode: its problems are in
    the result. Raises `MedenvError` when it cannot be replayed at all (no such episode, a
    custom world not passed)."""
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
            ok=False,  # pragma: no mutate (`verify` sets ok from the problems)
            episode_id=traj.episode_id, steps_checked=checked, step=step,
            field=field, expected=expected, got=got,
            problems=[_difference(step, field, expected, got)],
        )  # fmt: skip

    # (the replay env holds the one logged question: naming it changes nothing, but says so)
    prompt, _ = env.reset(seed=traj.seed, options={"question_id": traj.question_id})  # pragma: no mutate
    if traj.corpus_hash is not None and env.world.fingerprint != traj.corpus_hash:
        return fail(-1, "world", traj.corpus_hash, env.world.fingerprint, 0)
    if prompt != traj.prompt:
        return fail(-1, "prompt", traj.prompt, prompt, 0)
    last = len(traj.steps) - 1
    for i, s in enumerate(traj.steps):
        if not env.unwrapped._open:  # the log goes on after the end: defensive only, as a
            # step that ends the env fails the end-flag checks below unless it is the last
            return fail(s.step, "terminated", False, True, i)  # pragma: no mutate (unreachable)
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
    if traj.ended:  # abandoned (reset or close mid-episode): log it the same way; an env
        env.unwrapped.close()  # that ended by itself logs nothing more when closed
    return VerifyResult(ok=True, episode_id=traj.episode_id, steps_checked=len(traj.steps))


_NOTHING = "nothing"  # an event missing on one side
_VOLATILE = {
    "episode_started": ("tags", "config_hash"),
    "tool_returned": ("latency_ms",),
}


def _compare_events(replayed: list, logged: list[Event], episode_id: str, result) -> None:
    """Every logged event of the episode against the one the fresh env emitted."""
    mine = [e for e in logged if e.episode_id == episode_id and e.type in ev.EVENT_TYPES]
    for k, (want, got) in enumerate(zip_longest(mine, replayed)):
        got_type = ev.TYPE_NAMES.get(type(got))  # None: the replay has no event k
        # None: the log has no event k (defensive: every logged event of an episode feeds
        # its trajectory, so once `_verify` passed the log is never the shorter one)
        want_type = getattr(want, "type", None)  # pragma: no mutate (unreachable default)
        if want_type != got_type:
            result.problems.append(
                f"event {k}: logged {want_type or _NOTHING}, re-executed "
                f"{got_type or _NOTHING} (events inserted or deleted?)"
            )
            return
        a, b = _fields(want.payload), _fields(got)
        for key in _VOLATILE.get(want.type, ()):
            del a[key], b[key]  # required fields: both sides have them
        if want.type == "reward_assigned" and not a.get("components"):
            del a["components"], b["components"]  # logged before named terms (a field both have)
        if a != b:
            field = next(f for f in sorted(a) if a[f] != b[f])  # one type: the same keys
            step = getattr(want.payload, "step", None)
            where = f"step {step}: " if step is not None else ""
            result.problems.append(
                f"{where}{want.type}.{field} differs: logged {_clip(repr(a[field]), 200)}, "
                f"re-executed {_clip(repr(b[field]), 200)}"
            )
            return


def _fields(payload: ev.Payload) -> dict:
    """A payload as the log holds it (encoded by the log's one rule, then decoded)."""
    data = msgspec.json.decode(ev.encode_payload(payload))
    del data["v"]  # every payload has it
    return data

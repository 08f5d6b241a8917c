"""The env's configuration struct (`EnvConfig`: the gym.make kwargs, logged and hashed)
and its recorder protocol (any object with emit/commit/end_episode/discard/close)."""

from __future__ import annotations

import hashlib
import json

import gymnasium as gym
import pytest

import medenv  # noqa: F401  (registers MedResearch-v0)
from medenv.env_config import EnvConfig
from medenv.events import schema as ev
from medenv.events.recorder import Recorder
from medenv.events.store import connect
from tests.test_env import make_items, scripted_actions


class ListRecorder:
    """A recorder written here, from the protocol alone: it keeps (episode id, type)."""

    shard = 7

    def __init__(self) -> None:
        self.rows: list[tuple[str | None, str]] = []
        self.pending: list[tuple[str | None, str]] = []
        self.closed = False

    def emit(self, payload, episode_id=None) -> int:
        self.pending.append((episode_id, ev.TYPE_NAMES[type(payload)]))
        return len(self.pending)

    def commit(self) -> None:
        self.rows += self.pending
        self.pending = []

    def end_episode(self, episode_id=None) -> None:
        self.commit()

    def discard(self) -> None:
        self.pending = []

    def close(self) -> None:
        self.commit()
        self.closed = True


@pytest.fixture(scope="module")
def world():
    from medenv.world import load_world

    return load_world(progress=False)


def test_make_kwargs_map_onto_the_config_which_is_logged_and_hashed(world, tmp_path):
    items = make_items(world.kg, n=2)
    db = tmp_path / "c.duckdb"
    env = gym.make(
        "MedResearch-v0", qa=items, world=world, db=db, max_steps=5, split="train",
        tools=["browse"], parallel_calls=True, reward_weights={"format": 0.5},
    )  # fmt: skip
    base = env.unwrapped
    assert base.env_config == EnvConfig(
        qa="inline", split="train", tools=("browse", "answer"), max_steps=5,
        reward_weights={"accuracy": 1.0, "format": 0.5, "efficiency": 0.2, "evidence_recall": 0.0},
        world="default", parallel_calls=True,  # load_world's default world: its recipe
    )  # fmt: skip
    env.reset(seed=0, options={"question_id": items[1].id})
    env.close()
    con = connect(db)
    logged = json.loads(con.execute("SELECT config FROM runs").fetchone()[0])
    (episode_hash,) = con.execute("SELECT DISTINCT config_hash FROM episodes").fetchone()
    con.close()
    assert logged == base.env_config.to_dict() and "reward_terms" not in logged
    # the hash again, from its definition: SHA-256 of the sorted-key JSON, 16 hex digits
    text = json.dumps(logged, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert episode_hash == hashlib.sha256(text.encode()).hexdigest()[:16]
    other = gym.make("MedResearch-v0", qa=items, world=world, db=None, max_steps=6)
    assert other.unwrapped.config_hash != base.config_hash
    other.close()


def test_any_object_implementing_the_recorder_protocol_records_the_env(world):
    items = make_items(world.kg, n=1)
    recorder = ListRecorder()
    assert isinstance(recorder, Recorder)
    env = gym.make("MedResearch-v0", qa=items, world=world, db=recorder)
    env.reset(seed=0)
    for action in scripted_actions(world, items[0]):
        env.step(action)
    assert env.unwrapped.episode_id.startswith(f"{env.unwrapped.run_id}-s7-")
    env.close()
    types = [t for _, t in recorder.rows]
    assert types[:2] == ["run_started", "episode_started"]
    assert types.count("action_received") == 3 and types[-2:] == [
        "reward_assigned",
        "episode_ended",
    ]
    assert recorder.closed and recorder.pending == []

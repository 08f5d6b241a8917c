"""Adding an event field is a change to `medenv/events/schema.py` alone (issue 13).

The test copies the package, edits ONLY the copy's schema.py as the README's developer
section says (a field on ``episode_started`` named after a `QAItem` attribute, one on
``episode_ended`` named after an `EpisodeState` attribute), runs a real episode with the
copy against the default world and a real DuckDB store, and reads the fields back from
the one projection (`load_episodes`), the replay trajectory and `verify`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import gymnasium as gym
    import msgspec
    import medenv
    from medenv.events import schema
    from medenv.events.episodes import load_episodes
    from medenv.events.replay import trajectory
    from medenv.events.store import read_episode
    from medenv.kg.cache import load_kg
    from medenv.verify import verify
    from tests.test_env import make_items, scripted_actions
    from medenv.world import load_world

    assert medenv.__file__.startswith(sys.argv[2]), medenv.__file__  # the edited copy
    world = load_world(progress=False)
    item = msgspec.structs.replace(make_items(world.kg, n=1)[0], difficulty=0.625)
    env = gym.make("MedResearch-v0", qa=[item], db=sys.argv[1], world=world, max_steps=5)
    env.reset(seed=0)
    for action in scripted_actions(world, item):
        env.step(action)
    episode = env.unwrapped.episode_id
    env.close()
    [rec] = load_episodes(sys.argv[1])
    traj = trajectory(read_episode(sys.argv[1], episode))
    steps_docs = [d for s in rec.steps for d in s.doc_ids]
    print(json.dumps({
        "fields": list(schema.EpisodeStarted.__struct_fields__),
        "difficulty": rec.extra.get("difficulty"), "item_difficulty": item.difficulty,
        "retrieved": rec.extra.get("retrieved"), "step_docs": steps_docs,
        "replayed": traj.extra.get("difficulty"),
        "verified": verify(sys.argv[1], episode).ok,
    }))
    """
)


def _add_field(text: str, cls: str, after: str, line: str) -> str:
    head, sep, body = text.partition(f"class {cls}(Payload")
    assert sep and after in body, (cls, after)
    return head + sep + body.replace(after, after + line, 1)


def test_a_field_added_to_schema_py_alone_reaches_the_projection(tmp_path):
    copy = tmp_path / "pkg"
    shutil.copytree(ROOT / "medenv", copy / "medenv", ignore=shutil.ignore_patterns("__pycache__"))
    schema = copy / "medenv" / "events" / "schema.py"
    text = schema.read_text()
    text = _add_field(
        text, "EpisodeStarted", "    optimal_calls: int\n", "    difficulty: float = -1.0\n"
    )
    text = _add_field(
        text, "EpisodeEnded", "    n_format_errors: int\n", "    retrieved: list[str] = []\n"
    )
    schema.write_text(text)
    env = {**os.environ, "PYTHONPATH": f"{copy}{os.pathsep}{ROOT}"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "events.duckdb"), str(copy)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert "difficulty" in got["fields"]
    # episode_started.difficulty is the item's (by name), not the declared default -1.0
    assert got["difficulty"] == got["item_difficulty"] == got["replayed"] == 0.625
    # episode_ended.retrieved is EpisodeState.retrieved: every page the tool calls showed
    assert got["retrieved"] == got["step_docs"] and got["retrieved"]
    assert got["verified"]  # the replayed env emits the new fields identically

"""Recorded episodes as a Minari dataset that Minari can load and recover the env from.

`write_minari(records, out, db=...)` writes ``out/minari/<dataset_id>/`` with Minari's own
storage API (no ``MINARI_DATASETS_PATH`` change: the process environment is untouched;
load it with ``MINARI_DATASETS_PATH=out/minari`` and ``minari.load_dataset(dataset_id)``):

- spaces: the env's own, `ModelText` observations (``OBSERVATION_MAX_CHARS``) and actions
  (``ACTION_MAX_CHARS``) over `CHARSET`; every observation and action is inside them
  (actions are mapped in with `fit_text`, as the env maps observations: characters outside
  the charset become U+FFFD, overlong text is cut with a note);
- ``env_spec``: ``MedResearch-v0`` with the run's env options (tools, max_steps, backend,
  source, world_seed, parallel_calls, and the recorded world spec of a graph read from
  files and the QA-set path when the runs had one) read from the store's ``run_started``
  events, so
  ``dataset.recover_environment()`` makes the env the episodes came from;
- the dataset id names the agent and the run: ``medresearch-<agent>-<run>-v0`` (several
  runs: ``<n>runs-<hash of their ids>``), unless ``dataset_id`` is given;
- per step: reward 0 until the last step, which carries the episode's reward; the last
  step is terminated (answered) or truncated, as logged.

``minari`` (with ``h5py``) is the ``medenv[minari]`` extra. Minari's `DataCollector` (a
wrapper that records live envs) additionally needs ``jax`` (``minari[create]``, a large
download): install the ``medenv[minari-collect]`` extra for that; this export does not
use it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym

import medenv
from medenv.env import ACTION_MAX_CHARS, OBSERVATION_MAX_CHARS, ModelText, fit_text
from medenv.errors import MedenvError
from medenv.events.store import connect
from medenv.paths import writing

MINARI_MISSING = "Minari export needs the optional extra: pip install 'medenv[minari]'"
_ENV_OPTIONS = ("tools", "max_steps", "backend", "source", "world_seed", "parallel_calls")


def minari_available() -> bool:
    try:
        import h5py  # noqa: F401  (minari's storage backend)
        import minari  # noqa: F401
    except ImportError:
        return False
    return True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-") or "x"


def dataset_id_for(records: list) -> str:
    """``medresearch-<agent>-<run>-v0`` for the records' agent(s) and run(s)."""
    agents = sorted({ep.agent or "agent" for ep in records}) or ["agent"]
    runs = sorted({ep.run_id for ep in records})
    if len(runs) == 1:
        run = runs[0]
    else:
        run = f"{len(runs)}runs-" + hashlib.sha256("|".join(runs).encode()).hexdigest()[:8]
    return f"medresearch-{_slug('+'.join(agents))}-{_slug(run)}-v0"


def run_configs(db: Any) -> dict[str, dict]:
    """``run_id -> config`` from the ``run_started`` events of the store(s) at ``db``."""
    from medenv.training.export import store_paths

    con = connect([str(p) for p in store_paths(db)])
    try:
        rows = con.execute(
            "SELECT run_id, CAST(payload AS VARCHAR) FROM events WHERE type = 'run_started'"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, dict] = {}
    for run_id, payload in rows:
        out.setdefault(run_id, (json.loads(payload) or {}).get("config") or {})
    return out


def env_spec_for(configs: list[dict]):
    """``MedResearch-v0``'s registered spec with the runs' shared env options as kwargs."""

    kwargs: dict[str, Any] = {}
    for key in _ENV_OPTIONS:
        values = {json.dumps(c.get(key), sort_keys=True) for c in configs if key in c}
        if len(values) == 1:
            kwargs[key] = json.loads(values.pop())
    worlds = {json.dumps(c.get("world"), sort_keys=True) for c in configs}
    world = json.loads(worlds.pop()) if len(worlds) == 1 else None
    if isinstance(world, dict):  # a recorded `medenv.worldspec.WorldSpec`: the env rebuilds it
        kwargs["world"] = world
    sets = {str(c.get("qa")) for c in configs}
    qa = sets.pop() if len(sets) == 1 else "default"
    if qa not in ("default", "inline", "None"):  # a QA-set path (the runs' own questions)
        kwargs["qa"] = qa
    return dataclasses.replace(gym.spec(medenv.ENV_ID), kwargs=kwargs)


def write_minari(records: list, out: str | Path, dataset_id: str | None = None, *, db: Any = None):
    """Write ``records`` as the Minari dataset ``out/minari/<dataset_id>`` (replacing one
    of the same id) and return it as a `minari.MinariDataset`. ``db``: the store the
    records came from (for the env spec's options). Raises `MedenvError` without minari."""
    if not minari_available():
        raise MedenvError(MINARI_MISSING)
    from minari import MinariDataset
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage
    from minari.utils import _generate_dataset_metadata

    records = [ep for ep in records if ep.steps]
    dataset_id = dataset_id or dataset_id_for(records)
    configs = run_configs(db) if db is not None else {}
    spec = env_spec_for([configs[r] for r in sorted({ep.run_id for ep in records}) if r in configs])
    root = (Path(out) / "minari" / dataset_id).resolve()
    root.parent.mkdir(parents=True, exist_ok=True)
    buffers = []
    for i, ep in enumerate(records):
        observations = [fit_text(ep.prompt, OBSERVATION_MAX_CHARS)] + [
            fit_text(s.observation or s.rejected or "", OBSERVATION_MAX_CHARS) for s in ep.steps
        ]
        actions = [fit_text(s.text, ACTION_MAX_CHARS) for s in ep.steps]
        n = len(actions)
        rewards = [0.0] * n
        rewards[-1] = float(ep.reward or 0.0)
        buffers.append(
            EpisodeBuffer(
                id=i,
                observations=observations,
                actions=actions,
                rewards=rewards,
                terminations=[False] * (n - 1) + [ep.terminated],
                truncations=[False] * (n - 1) + [ep.truncated and not ep.terminated],
            )
        )
    with warnings.catch_warnings():  # Minari asks for a code permalink and an author email
        warnings.simplefilter("ignore", UserWarning)
        metadata = _generate_dataset_metadata(
            dataset_id, spec, spec, "medenv-" + "+".join(sorted({ep.agent for ep in records})),
            "medenv", None, None, None, None, None, 100,
            "medenv MedResearch-v0 episodes exported from the event store", ["medenv"],
        )  # fmt: skip
    # re-exporting replaces the dataset, as the other formats do: whole or not at all
    with writing(root) as tmp:
        (tmp / "data").mkdir(parents=True)
        storage = MinariStorage.new(
            tmp / "data",
            observation_space=ModelText(OBSERVATION_MAX_CHARS),
            action_space=ModelText(ACTION_MAX_CHARS),
            env_spec=spec,
        )
        storage.update_metadata(metadata)
        storage.update_episodes(buffers)
    return MinariDataset(MinariStorage.read(root / "data"))

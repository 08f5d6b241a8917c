"""Groundedness of every episode in an event log (`ground_log`): each run's episodes are
read back from the ``events`` table (prompt, actions, the observations after them) and
checked (`medenv.grounding.check.check_episode`) against the KG the run recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

from medenv.grounding.check import GroundingReport, check_episode
from medenv.grounding.labels import index_for_source
from medenv.worldspec import recorded_spec

_RUNS_SQL = """
SELECT run_id, any_value(payload->>'$.kg_source'), any_value(payload->'$.config'->>'$.world')
FROM events WHERE type = 'run_started' GROUP BY run_id
"""

_LOG_SQL = """
SELECT e.run_id, e.episode_id, e.seq, e.type,
    CASE e.type WHEN 'episode_started' THEN e.payload->>'$.prompt'
        WHEN 'action_received' THEN e.payload->>'$.text'
        ELSE e.payload->>'$.observation' END AS text,
    TRY_CAST(e.payload->>'$.step' AS INTEGER) AS step
FROM events e
WHERE e.type IN ('episode_started', 'action_received', 'tool_returned', 'action_rejected')
    {where}
ORDER BY e.run_id, e.episode_id, e.seq
"""


def ground_log(
    con, runs: Sequence[str] | None = None, world=None
) -> dict[tuple[str, str], GroundingReport]:
    """`check_episode` for every episode in an event log (a DuckDB connection with the
    ``events`` table), keyed by ``(run_id, episode_id)``. Each run is checked against the
    KG its ``run_started`` event names (the recorded world spec of a graph read from
    files; ``world``, a `WorldSpec`, overrides it); runs whose KG cannot be loaded are
    left out, and so are episodes with no question to check against: an empty prompt, or
    no ``episode_started`` event at all (deleted, or a cut log: never a traceback;
    `medenv.events.episodes.headless_episodes` lists them, ``medenv eval`` says so)."""
    sources, specs = {}, {}
    for run_id, source, recorded in con.execute(_RUNS_SQL).fetchall():
        sources[run_id] = source
        specs[run_id] = world if world is not None else recorded_spec(recorded)
    # only runs whose KG loads are checked: read the text of those runs alone
    indexes = {r: index_for_source(sources[r], specs[r]) for r in sources}  # once per run
    checked = sorted(r for r in sources if indexes[r] is not None)
    if runs is not None:
        checked = [r for r in checked if r in set(runs)]
    if not checked:
        return {}
    where = f"AND e.run_id IN ({', '.join('?' for _ in checked)})"
    params = checked
    episodes: dict[tuple[str, str], dict] = {}
    for run_id, episode_id, _seq, kind, text, step in con.execute(
        _LOG_SQL.format(where=where), params
    ).fetchall():
        if not episode_id:
            continue
        ep = episodes.setdefault((run_id, episode_id), {"prompt": "", "steps": {}})
        if kind == "episode_started":
            ep["prompt"] = text or ""
        elif kind == "action_received":
            ep["steps"][step] = [text or "", None]
        elif step in ep["steps"]:
            prev = ep["steps"][step][1]
            ep["steps"][step][1] = (text or "") if prev is None else f"{prev}\n{text or ''}"
    out: dict[tuple[str, str], GroundingReport] = {}
    for key, ep in episodes.items():
        index = indexes.get(key[0])
        if index is None or not ep["prompt"]:
            continue
        steps = [tuple(ep["steps"][s]) for s in sorted(ep["steps"])]
        out[key] = check_episode(ep["prompt"], steps, index)
    return out

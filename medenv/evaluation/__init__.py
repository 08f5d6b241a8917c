"""Evaluation: metrics and reports as queries over the event log.

Everything here reads only the DuckDB ``events`` table (``run_id, episode_id, seq, ts, type,
payload JSON``) through ``json_extract``, so it depends on the event contract and nothing
else. One SQL query turns the log into one :class:`EpisodeRecord` per started episode; the
metrics are pure functions over those records.

Definitions (per group; a group is a run, or the value of a tag such as ``agent``):

- ``accuracy``: share of episodes whose reward says ``correct`` (answer or alias matched);
  an episode that never ended counts as wrong. ``accuracy_ci``: percentile bootstrap
  interval over episodes (seeded, ``n_bootstrap`` resamples, 95 % by default).
- ``judged_accuracy``: as ``accuracy``, but an episode also counts as correct when the
  latest ``judge_verdict`` event for it says so (see `medenv.judge`); ``None`` when no
  episode of the group was judged.
- ``pass_at_k``: the unbiased estimator ``1 - C(n-c, k) / C(n, k)`` averaged over
  questions, for k = 1, 2, 4, ... up to the fewest samples any question of the group has.
- ``mean_tool_calls`` / ``median_tool_calls``: research calls, the paper's unit: tool calls
  *without the final answer* (``episode_ended.n_tool_calls``, falling back to the number of
  ``tool_called`` events, minus one for an answered episode, since the env counts the
  answer as a call).
- ``tool_call_efficiency``: mean over *correct* episodes of
  ``min(1, (optimal_calls - 1) / max(1, research calls))`` (``optimal_calls`` counts the
  answer too, so ``optimal_calls - 1 = n_hops``; 1.0 = no more calls than the gold chain
  needs; fewer, e.g. a lucky guess, also counts as 1.0).
- ``grounded``: share of episodes whose every entity mention and claimed fact appears in
  the question or an earlier observation (`medenv.grounding`; checked against the KG the
  run names, ``None`` when it cannot be loaded); ``recovered``: share of episodes that
  checked and rejected a candidate they had tried.
- ``format_error_rate``: rejected actions / actions received (``action_rejected`` over
  steps); ``format_error_episodes``: share of episodes with at least one rejected action.
- ``mean_tokens``: episode length in whitespace-separated tokens of the prompt, every
  action and every observation (tool results and format-error messages) (what the model reads and writes; an approximation of
  model tokens, which the log does not record); ``mean_action_tokens``: the model-written
  part only. ``None`` when the log has no ``action_received`` events.
- ``evidence_recall``: mean of ``reward_assigned.evidence_recall`` (share of gold hops
  whose evidence pages the agent retrieved or browsed).
- Items of external QA sets (``item.kg_source == "external"``: no gold chain) have no hops,
  rarity, optimal calls or evidence: they count for accuracy, pass@k, calls, format errors
  and tokens, and are left out of efficiency and evidence recall.
- Breakdowns by specialty, hops and rarity bucket on the item's rarity in [0, 1]
  (`medenv.synth.rarity`: ``common`` < 0.5 <= ``uncommon`` < 0.8 <= ``rare``; read from
  ``episode_started.item.rarity``, else from a QA set given to look it up, else
  ``unknown``).
- ``judged_accuracy`` reads ``judge_verdict`` events from every run in the log (a judge
  pass is its own run), matched to episodes by the payload's ``run_id``/``episode_id``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from medenv.errors import MedenvError
from medenv.evaluation.metrics import (
    RARITY_BUCKETS,
    Breakdown,
    EvalResult,
    GroupMetrics,
    bootstrap_ci,
    group_metrics,
    pass_at_k,
    rarity_bucket,
)
from medenv.evaluation.report import (
    format_table,
    plot_file_name,
    summary_rows,
    to_json,
    write_report,
)
from medenv.events.episodes import EpisodeRecord
from medenv.events.store import connect, resolve_files
from medenv.events.summaries import paused_gc, summaries
from medenv.grounding.log import ground_log
from medenv.qa_world import kg_mismatch
from medenv.synth.io import read_qa_set

__all__ = [
    "RARITY_BUCKETS", "Breakdown", "EvalResult", "GroupMetrics", "bootstrap_ci", "evaluate",
    "format_table", "group_metrics", "load_episodes", "pass_at_k", "plot_file_name",
    "rarity_bucket", "resolve_db_paths", "connect_stores", "summary_rows", "to_json", "write_report",
]  # fmt: skip

# --------------------------------------------------------------------------- loading


def resolve_db_paths(db: str | Path | Sequence[str | Path]) -> list[str]:
    """The store files named by ``--db`` values (paths with their shards, folders, globs)."""
    return [str(f) for f in resolve_files(db)]


def connect_stores(db):
    """One connection over every store file ``db`` names (`resolve_db_paths`: shards read
    once), or ``db`` itself when it is already a connection."""
    if hasattr(db, "execute"):
        return db
    return connect(resolve_db_paths(db))


def load_episodes(
    db,
    runs: Sequence[str] | None = None,
    group_by: str = "run",
    qa=None,
    grounding: bool = True,
    world=None,
    *,
    from_seals: bool = True,
) -> list[EpisodeRecord]:
    """One record per started episode (sorted by group, run, episode id).

    ``db`` is a DuckDB connection with the ``events`` table, or store path(s)/globs.
    ``runs`` keeps only those run ids. ``qa`` (items or a QA-set path) fills rarity,
    hops and specialty for episodes whose log lacks them, by question id; a set built from
    another graph than the runs' is refused (`medenv.qa_world.kg_mismatch`). ``world`` (a
    `medenv.worldspec.WorldSpec`) overrides the graph groundedness is checked against.
    ``from_seals=False`` projects every episode from its events instead of reading the
    summaries in the seals (`medenv.events.summaries`; the same records, slower).
    """
    con = connect_stores(db)
    episodes = summaries(con, runs, group_by, from_seals=from_seals)
    lookup = _qa_lookup(qa)
    if lookup and episodes:
        _check_qa_graph(con, lookup.values(), qa, runs)
    reports = ground_log(con, runs, world) if grounding and episodes else {}
    if lookup and episodes and not any(e.question_id in lookup for e in episodes):
        name = f" {qa}" if isinstance(qa, str | Path) else ""
        raise MedenvError(
            f"none of the {len(lookup)} questions of the QA set{name} occurs in the event log "
            "(no question id matches): pass the set the episodes were run on"
        )
    for ep in episodes:
        report = reports.get((ep.run_id, ep.episode_id))
        if report is not None:
            ep.grounded, ep.recovered = report.grounded, report.recovered
        item = lookup.get(ep.question_id)
        if item is None or item.kg_source == "external":
            continue  # no chain: nothing to add
        if ep.rarity is None:
            ep.rarity = item.rarity
        if ep.n_hops is None:
            ep.n_hops = item.n_hops
        if ep.specialty == "general":
            ep.specialty = item.specialty
    return episodes


def _check_qa_graph(con, items, qa, runs: Sequence[str] | None) -> None:
    """Refuse a QA set built from another graph than the one a run's world had."""
    where, params = "", []
    if runs:
        where = f"AND run_id IN ({', '.join('?' for _ in runs)})"
        params = list(runs)
    graphs = con.execute(
        "SELECT DISTINCT payload->>'$.kg_source', payload->>'$.kg_version' FROM events "
        f"WHERE type = 'run_started' {where}",
        params,
    ).fetchall()
    items = list(items)
    for source, version in graphs:
        problem = kg_mismatch(items, str(source or ""), str(version or ""))
        if problem is not None:
            name = f" {qa}" if isinstance(qa, str | Path) else ""
            raise MedenvError(
                f"the QA set{name} is not the runs': {problem} "
                "(pass the set the episodes were run on)"
            )


def _qa_lookup(qa) -> dict:
    if qa is None:
        return {}
    if isinstance(qa, str | Path):
        qa = read_qa_set(qa)
    return {item.id: item for item in qa}


def evaluate(
    db,
    runs: Sequence[str] | None = None,
    group_by: str = "run",
    seed: int = 0,
    n_bootstrap: int = 1000,
    qa=None,
    world=None,
    *,
    from_seals: bool = True,
) -> EvalResult:
    """Metrics for every group (run, or tag value) in the event log, side by side
    (``world``, ``from_seals``: see `load_episodes`)."""
    episodes = load_episodes(
        db, runs=runs, group_by=group_by, qa=qa, world=world, from_seals=from_seals
    )
    if not episodes:
        raise MedenvError(
            "the event log has no episodes" + (f" for runs {list(runs)}" if runs else "")
        )
    if group_by != "run" and all(ep.group == f"(no {group_by})" for ep in episodes):
        raise MedenvError(
            f"no episode has the tag {group_by!r} to group by (--group-by run, or a tag such "
            "as 'agent')"
        )
    groups: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for ep in episodes:
        groups[ep.group].append(ep)
    sources = () if hasattr(db, "execute") else tuple(resolve_db_paths(db))
    with paused_gc():
        metrics = tuple(
            group_metrics(name, groups[name], seed=seed, n_bootstrap=n_bootstrap)
            for name in sorted(groups)
        )
    return EvalResult(
        sources=sources, group_by=group_by, seed=seed, n_bootstrap=n_bootstrap, groups=metrics
    )

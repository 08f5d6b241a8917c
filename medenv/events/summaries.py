"""The SQL reading of the episode projection: one step-less `EpisodeRecord` per started
episode, read from the ``events`` table (what evaluation reads; fast over large logs).
Field meanings are those of `medenv.events.episodes`, whose fold is the other reading;
tests check both against a recount of the raw events.

Two paths give the same records: an episode whose ``episode_sealed`` carries its
`EpisodeSummary` (written by the store when the episode ends) is read from that one event
(`SEALS_SQL`: one type-filtered scan, no joins); every other started episode (never
ended, or written before seals carried summaries) is projected from its own events by
`SUMMARY_SQL`. Tests compare both paths on the same store.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from medenv.errors import MedenvError
from medenv.events.episodes import EpisodeRecord
from medenv.events.schema import EpisodeSealed

# Every part reads ``events`` on its own with its type filter first, so no part decodes
# the payloads of the text events (actions, observations): the token figures come from
# each episode's ``episode_sealed`` (`TEXT_TOKENS_SQL` counts them for the episodes whose
# seal lacks them: never ended, or written before seals carried them).
SUMMARY_SQL = r"""
WITH starts AS (
    SELECT run_id, episode_id, external,
        j.question_id, coalesce(j.specialty, 'general') AS specialty,
        CASE WHEN NOT external THEN j.n_hops END AS n_hops,
        CASE WHEN NOT external THEN j.optimal_calls END AS optimal_calls,
        CASE WHEN NOT external THEN coalesce(j.rarity, j.item.rarity) END AS rarity,
        {group_expr} AS grp
    FROM (SELECT run_id, episode_id, j, coalesce(j.item.kg_source, '') = 'external' AS external
          FROM (SELECT run_id, episode_id, json_transform(payload, '{{"question_id": "VARCHAR",
                  "specialty": "VARCHAR", "n_hops": "INTEGER", "optimal_calls": "INTEGER",
                  "rarity": "DOUBLE", "item": {{"rarity": "DOUBLE", "kg_source": "VARCHAR"}},
                  "tags": "JSON"}}') AS j
                FROM events {legacy} WHERE type = 'episode_started' {and_runs}))),
ends AS (
    SELECT run_id, episode_id, arg_max(j.n_tool_calls, seq) AS n_tool_calls,
        arg_max(j.n_format_errors, seq) AS n_format_errors, arg_max(j.steps, seq) AS steps
    FROM (SELECT run_id, episode_id, seq, json_transform(payload, '{{"n_tool_calls": "INTEGER",
            "n_format_errors": "INTEGER", "steps": "INTEGER"}}') AS j
          FROM events WHERE type = 'episode_ended' {and_runs})
    GROUP BY ALL),
rewards AS (
    SELECT run_id, episode_id, arg_max(j.correct, seq) AS correct,
        arg_max(j.evidence_recall, seq) AS evidence_recall, arg_max(j.total, seq) AS total,
        arg_max(CAST(j.components AS VARCHAR), seq) AS components
    FROM (SELECT run_id, episode_id, seq, json_transform(payload, '{{"correct": "BOOLEAN",
            "evidence_recall": "DOUBLE", "total": "DOUBLE", "components": "JSON"}}') AS j
          FROM events WHERE type = 'reward_assigned' {and_runs})
    GROUP BY ALL),
answers AS (
    SELECT run_id, episode_id, arg_max(payload->>'$.answer', seq) AS prediction
    FROM events WHERE type = 'answer_submitted' {and_runs} GROUP BY ALL),
counts AS (
    SELECT run_id, episode_id,
        nullif(count(*) FILTER (WHERE type = 'action_received'), 0) AS n_actions,
        nullif(count(*) FILTER (WHERE type = 'tool_called'), 0) AS n_called,
        nullif(count(*) FILTER (WHERE type = 'action_rejected'), 0) AS n_rejected
    FROM events WHERE type IN ('action_received', 'tool_called', 'action_rejected') {and_runs}
    GROUP BY ALL),
seals AS (
    SELECT run_id, j.episode_id, arg_max(j.tokens, seq) AS tokens,
        arg_max(j.action_tokens, seq) AS action_tokens
    FROM (SELECT run_id, seq, json_transform(payload, '{{"episode_id": "VARCHAR",
            "tokens": "BIGINT", "action_tokens": "BIGINT"}}') AS j
          FROM events WHERE type = 'episode_sealed' {and_runs})
    GROUP BY ALL),
verdicts AS ({verdicts})
SELECT s.run_id, s.episode_id, s.grp, s.question_id, s.specialty, s.n_hops, s.optimal_calls,
    s.rarity, e.episode_id IS NOT NULL AS ended, coalesce(r.correct, false) AS correct,
    v.judged, coalesce(e.n_tool_calls, c.n_called, 0) AS n_tool_calls,
    coalesce(c.n_actions, e.steps, 0) AS n_actions,
    coalesce(e.n_format_errors, c.n_rejected, 0) AS n_format_errors,
    CASE WHEN NOT s.external THEN r.evidence_recall END AS evidence_recall, r.total,
    CASE WHEN c.n_actions IS NOT NULL THEN coalesce(k.action_tokens, -1) END AS action_tokens,
    CASE WHEN c.n_actions IS NOT NULL THEN coalesce(k.tokens, -1) END AS tokens,
    ans.prediction, r.components
FROM starts s
LEFT JOIN ends e USING (run_id, episode_id)
LEFT JOIN rewards r USING (run_id, episode_id)
LEFT JOIN answers ans USING (run_id, episode_id)
LEFT JOIN counts c USING (run_id, episode_id)
LEFT JOIN seals k USING (run_id, episode_id)
LEFT JOIN verdicts v USING (run_id, episode_id)
ORDER BY s.grp, s.run_id, s.episode_id
"""

# The latest judge verdict per judged episode (both paths).
VERDICTS_SQL = """SELECT payload->>'$.run_id' AS run_id, payload->>'$.episode_id' AS episode_id,
        arg_max(TRY_CAST(payload->>'$.correct' AS BOOLEAN), ts) AS judged
    FROM events WHERE type = 'judge_verdict' GROUP BY ALL"""

# The seals (their payloads are decoded in Python: cheaper than json_transform here) and
# the started episodes (no payload read), for the summary path.
SEALS_SQL = (
    "SELECT run_id, seq, CAST(payload AS VARCHAR) FROM events "
    "WHERE type = 'episode_sealed' {and_runs}"
)
STARTED_SQL = "SELECT run_id, episode_id FROM events WHERE type = 'episode_started' {and_runs}"

# The token figures counted from the text events of the episodes in ``_unsealed``
# (``tokens`` of each event, else its words counted as DuckDB's RE2 counts them).
TEXT_TOKENS_SQL = r"""
SELECT run_id, episode_id,
    sum(n) AS tokens, coalesce(sum(n) FILTER (WHERE type = 'action_received'), 0)
FROM (
    SELECT ev.run_id, ev.episode_id, ev.type, coalesce(TRY_CAST(ev.payload->>'$.tokens' AS INTEGER),
        len(regexp_extract_all(coalesce(ev.payload->>'$.prompt', ev.payload->>'$.text',
            ev.payload->>'$.observation', ''), '\S+'))) AS n
    FROM events ev SEMI JOIN _unsealed u USING (run_id, episode_id)
    WHERE ev.type IN ('episode_started', 'action_received', 'tool_returned', 'action_rejected'))
GROUP BY ALL
"""


def _group_expr(group_by: str) -> str:
    if group_by == "run":
        return "run_id"
    if not group_by.replace("_", "").isalnum():
        raise MedenvError(
            f"--group-by must be 'run' or a tag name (letters, digits, _), got {group_by!r}"
        )
    return f"coalesce(j.tags->>'$.{group_by}', '(no {group_by})')"


def summaries(
    con, runs: Sequence[str] | None = None, group_by: str = "run", *, from_seals: bool = True
) -> list[EpisodeRecord]:
    """One step-less record per started episode of the ``events`` table on ``con``, sorted
    by group, run and episode id; ``runs`` keeps only those runs (an unknown one is a
    `MedenvError`); ``group`` is the run id, or the value of the tag ``group_by``
    (``"(no TAG)"`` without it). Episodes whose seal carries a summary are read from it,
    the others through `SUMMARY_SQL` (module docstring); ``from_seals=False`` projects
    every episode through `SUMMARY_SQL` (the same records, slower)."""
    group_expr = _group_expr(group_by)
    and_runs = "AND list_contains($runs, run_id)" if runs else ""
    params = {"runs": list(runs)} if runs else {}
    with paused_gc():
        out = _read(con, and_runs, params, group_by, group_expr, from_seals)
        if runs:
            missing = sorted(set(runs) - {r.run_id for r in out})
            if missing:
                raise MedenvError(f"run(s) {missing} not found in the event log")
        out.sort(key=lambda r: (r.group, r.run_id, r.episode_id))
    return out


def _read(
    con, and_runs: str, params: dict, group_by: str, group_expr: str, from_seals: bool
) -> list:
    """Every started episode's record, unsorted (`summaries`)."""
    try:
        started = con.execute(STARTED_SQL.format(and_runs=and_runs), params).fetchall()
        sealed = _sealed(con, and_runs, params) if from_seals else {}
        keys = set(started)
        out = [
            _from_summary(run_id, episode_id, seal, group_by)
            for (run_id, episode_id), seal in sealed.items()
            if (run_id, episode_id) in keys
        ]
        legacy = keys - sealed.keys()
        out += _projected(con, and_runs, params, group_expr, legacy, all_=len(legacy) == len(keys))
        if out:
            _judge(con, out)
    except duckdb.Error as exc:  # missing table, bad JSON
        raise MedenvError(f"cannot read the event log: {exc}") from exc
    return out


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic GC off for the block (restored after): reading a large log allocates
    hundreds of thousands of acyclic objects, and every collection they trigger rescans
    all of them (about 40% of evaluation's CPU at a million events); refcounting still
    frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_SEALS = msgspec.json.Decoder(list[EpisodeSealed])
_TAG_TEXT = msgspec.json.Encoder()


def _sealed(con, and_runs: str, params: dict) -> dict[tuple[str, str], EpisodeSealed]:
    """The latest seal carrying a summary and token sums of each episode, by
    ``(run_id, episode_id)``."""
    rows = con.execute(SEALS_SQL.format(and_runs=and_runs), params).fetchall()
    if not rows:
        return {}
    seals = _SEALS.decode("[" + ",".join(r[2] for r in rows) + "]")
    out: dict[tuple[str, str], EpisodeSealed] = {}
    latest: dict[tuple[str, str], int] = {}
    for (run_id, seq, _), seal in zip(rows, seals, strict=True):
        if seal.summary is None or seal.tokens is None or seal.action_tokens is None:
            continue  # written before seals carried these: the projection path
        key = (run_id, seal.episode_id)
        if latest.get(key, -1) < seq:
            latest[key], out[key] = seq, seal
    return out


def _group(run_id: str, tags: dict, group_by: str) -> str:
    """The group as ``_group_expr`` computes it in SQL (a tag's JSON text, unquoted)."""
    if group_by == "run":
        return run_id
    value = tags.get(group_by)
    if value is None:
        return f"(no {group_by})"
    return value if isinstance(value, str) else _TAG_TEXT.encode(value).decode()


def _from_summary(
    run_id: str, episode_id: str, seal: EpisodeSealed, group_by: str
) -> EpisodeRecord:
    s = seal.summary
    counted = s.has_actions  # the token figures are None for an episode without actions
    return EpisodeRecord(
        run_id=run_id, episode_id=episode_id, group=_group(run_id, s.tags, group_by),
        question_id=s.question_id or episode_id, specialty=s.specialty, n_hops=s.n_hops,
        optimal_calls=s.optimal_calls, rarity=s.rarity, ended=s.ended, correct=s.correct,
        n_tool_calls=s.n_tool_calls, n_actions=s.n_actions, n_format_errors=s.n_format_errors,
        evidence_recall=s.evidence_recall, reward=s.reward,
        action_tokens=seal.action_tokens if counted else None,
        tokens=seal.tokens if counted else None, prediction=s.prediction,
        components=dict(s.components),
    )  # fmt: skip


def _judge(con, records: list[EpisodeRecord]) -> None:
    """``judged_correct`` from the latest ``judge_verdict`` of each record's episode."""
    verdicts = {(r[0], r[1]): r[2] for r in con.execute(VERDICTS_SQL).fetchall()}
    if verdicts:
        for rec in records:
            rec.judged_correct = verdicts.get((rec.run_id, rec.episode_id))


def _projected(
    con, and_runs: str, params: dict, group_expr: str, keys: set, all_: bool
) -> list[EpisodeRecord]:
    """`SUMMARY_SQL` over the started episodes ``keys`` (``all_``: they are every started
    episode, so no filter is needed)."""
    if not keys:
        return []
    legacy = "" if all_ else "SEMI JOIN _legacy USING (run_id, episode_id)"
    sql = SUMMARY_SQL.format(
        and_runs=and_runs, group_expr=group_expr, legacy=legacy, verdicts=VERDICTS_SQL
    )
    if not all_:
        con.register("_legacy", pa.table({"run_id": [k[0] for k in keys],
                                          "episode_id": [k[1] for k in keys]}))  # fmt: skip
    try:
        rows = con.execute(sql, params).fetchall()
    finally:
        if not all_:
            con.unregister("_legacy")
    counted = _text_tokens(con, [(r[0], r[1]) for r in rows if r[17] == -1])
    out = []
    for r in rows:
        tokens, action_tokens = r[17], r[16]
        if tokens == -1:
            tokens, action_tokens = counted.get((r[0], r[1]), (0, 0))
        out.append(
            EpisodeRecord(
                run_id=r[0], episode_id=r[1], group=str(r[2]), question_id=r[3] or r[1],
                specialty=r[4], n_hops=r[5], optimal_calls=r[6], rarity=r[7], ended=r[8],
                correct=r[9], judged_correct=r[10], n_tool_calls=r[11], n_actions=r[12],
                n_format_errors=r[13], evidence_recall=r[14], reward=r[15],
                action_tokens=action_tokens, tokens=tokens, prediction=r[18],
                components=_COMPONENTS.decode(r[19]) if r[19] and r[19] != "{}" else {},
            )
        )  # fmt: skip
    return out


_COMPONENTS = msgspec.json.Decoder(dict[str, Any])


def _text_tokens(con, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """``(tokens, action tokens)`` of the episodes ``keys`` counted from their text events
    (`TEXT_TOKENS_SQL`): for episodes whose seal does not carry them."""
    if not keys:
        return {}
    con.register("_unsealed", pa.table({"run_id": [k[0] for k in keys],
                                        "episode_id": [k[1] for k in keys]}))  # fmt: skip
    try:
        rows = con.execute(TEXT_TOKENS_SQL).fetchall()
    finally:
        con.unregister("_unsealed")
    return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}

"""The SQL reading of the episode projection: one step-less `EpisodeRecord` per started
episode, from one query over the ``events`` table (what evaluation reads; fast over large
logs). Field meanings are those of `medenv.events.episodes`, whose fold is the other
reading; tests check both against a recount of the raw events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from medenv.errors import MedenvError
from medenv.events.episodes import EpisodeRecord

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
                FROM events WHERE type = 'episode_started' {and_runs}))),
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
verdicts AS (
    SELECT payload->>'$.run_id' AS run_id, payload->>'$.episode_id' AS episode_id,
        arg_max(TRY_CAST(payload->>'$.correct' AS BOOLEAN), ts) AS judged
    FROM events WHERE type = 'judge_verdict' GROUP BY ALL)
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


def summaries(con, runs: Sequence[str] | None = None, group_by: str = "run") -> list[EpisodeRecord]:
    """One step-less record per started episode of the ``events`` table on ``con``
    (`SUMMARY_SQL`), sorted by group, run and episode id; ``runs`` keeps only those runs
    (an unknown one is a `MedenvError`); ``group`` is the run id, or the value of the tag
    ``group_by`` (``"(no TAG)"`` without it)."""
    and_runs = "AND list_contains($runs, run_id)" if runs else ""
    params = {"runs": list(runs)} if runs else {}
    sql = SUMMARY_SQL.format(and_runs=and_runs, group_expr=_group_expr(group_by))
    try:
        rows = con.execute(sql, params).fetchall()
        counted = _text_tokens(con, [(r[0], r[1]) for r in rows if r[17] == -1])
    except duckdb.Error as exc:  # missing table, bad JSON
        raise MedenvError(f"cannot read the event log: {exc}") from exc
    if runs:
        missing = sorted(set(runs) - {r[0] for r in rows})
        if missing:
            raise MedenvError(f"run(s) {missing} not found in the event log")
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

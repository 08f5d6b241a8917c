"""Reading event stores: `connect` (every store file, shard and spool leftover as one
``events`` table plus the views ``runs``, ``episodes``, ``steps``, ``tool_calls``; columns
documented in README.md, "Event log (DuckDB)") and typed reads of episodes and runs.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from medenv.errors import MedenvError
from medenv.events.files import (
    lock_owner,
    read_spools,
    resolve_files,
    settle,
    sql_str,
    unreadable_note,
)
from medenv.events.parquet import parquet_relation
from medenv.events.schema import Event, decode_payload
from medenv.events.sealer import StoredChains, seal_rows
from medenv.events.table import check_events_table, spool_rows_table, stored_in

VIEWS_SQL = """
CREATE OR REPLACE VIEW runs AS
SELECT run_id, min(ts) AS started_at,
  any_value(payload->>'$.kg_source') AS kg_source,
  any_value(payload->>'$.kg_version') AS kg_version,
  any_value(payload->>'$.corpus_hash') AS corpus_hash,
  any_value(payload->>'$.parser_version') AS parser_version,
  any_value(TRY_CAST(payload->>'$.seed' AS BIGINT)) AS seed,
  any_value(payload->'$.reward_weights') AS reward_weights,
  any_value(payload->'$.config') AS config,
  count(*) AS n_writers,
  any_value(payload->>'$.index_hash') AS index_hash
FROM events WHERE type = 'run_started' GROUP BY run_id;

CREATE OR REPLACE VIEW episodes AS
WITH s AS (SELECT run_id, episode_id, ts, payload FROM events WHERE type = 'episode_started'),
r AS (SELECT episode_id, payload FROM events WHERE type = 'reward_assigned'),
e AS (SELECT episode_id, ts, payload FROM events WHERE type = 'episode_ended'),
a AS (SELECT episode_id, arg_max(payload->>'$.answer', seq) AS prediction
      FROM events WHERE type = 'answer_submitted' GROUP BY episode_id)
SELECT s.run_id, s.episode_id,
  s.payload->>'$.question_id' AS question_id,
  TRY_CAST(s.payload->>'$.seed' AS BIGINT) AS seed,
  s.payload->>'$.split' AS split,
  s.payload->>'$.specialty' AS specialty,
  CAST(s.payload->>'$.n_hops' AS INTEGER) AS n_hops,
  CAST(s.payload->>'$.optimal_calls' AS INTEGER) AS optimal_calls,
  s.payload->>'$.answer' AS answer,
  a.prediction,
  CAST(r.payload->>'$.correct' AS BOOLEAN) AS correct,
  CAST(r.payload->>'$.total' AS DOUBLE) AS reward,
  CAST(r.payload->>'$.accuracy' AS DOUBLE) AS accuracy,
  CAST(r.payload->>'$.format' AS DOUBLE) AS format,
  CAST(r.payload->>'$.efficiency' AS DOUBLE) AS efficiency,
  CAST(r.payload->>'$.evidence_recall' AS DOUBLE) AS evidence_recall,
  r.payload->'$.components' AS components,
  CAST(e.payload->>'$.n_tool_calls' AS INTEGER) AS n_tool_calls,
  CAST(e.payload->>'$.n_format_errors' AS INTEGER) AS n_format_errors,
  CAST(e.payload->>'$.steps' AS INTEGER) AS steps,
  CAST(e.payload->>'$.terminated' AS BOOLEAN) AS terminated,
  CAST(e.payload->>'$.truncated' AS BOOLEAN) AS truncated,
  e.episode_id IS NOT NULL AS finished,
  s.payload->>'$.tags.agent' AS agent,
  TRY_CAST(s.payload->>'$.tags.training_step' AS BIGINT) AS training_step,
  s.payload->'$.tags' AS tags,
  s.payload->>'$.config_hash' AS config_hash,
  s.ts AS started_at, e.ts AS ended_at
FROM s LEFT JOIN r USING (episode_id) LEFT JOIN e USING (episode_id)
LEFT JOIN a USING (episode_id);

CREATE OR REPLACE VIEW tool_calls AS
WITH c AS (SELECT run_id, episode_id, seq, ts, payload FROM events WHERE type = 'tool_called'),
t AS (SELECT episode_id, payload FROM events WHERE type = 'tool_returned')
SELECT c.run_id, c.episode_id,
  CAST(c.payload->>'$.step' AS INTEGER) AS step,
  CAST(c.payload->>'$.call' AS INTEGER) AS call,
  c.payload->>'$.name' AS name,
  c.payload->'$.arguments' AS arguments,
  t.payload->>'$.observation' AS observation,
  CAST(t.payload->>'$.ok' AS BOOLEAN) AS ok,
  t.payload->>'$.error' AS error,
  CAST(t.payload->>'$.latency_ms' AS DOUBLE) AS latency_ms,
  t.payload->'$.doc_ids' AS doc_ids,
  CAST(json_array_length(t.payload->'$.doc_ids') AS INTEGER) AS n_docs,
  c.ts
FROM c LEFT JOIN t ON t.episode_id = c.episode_id
  AND t.payload->>'$.step' = c.payload->>'$.step' AND t.payload->>'$.call' = c.payload->>'$.call';

CREATE OR REPLACE VIEW steps AS
WITH a AS (SELECT run_id, episode_id, ts, payload FROM events WHERE type = 'action_received'),
j AS (SELECT episode_id, CAST(payload->>'$.step' AS INTEGER) AS step,
        payload->>'$.kind' AS error_kind, payload->>'$.message' AS error_message,
        payload->>'$.observation' AS observation
      FROM events WHERE type = 'action_rejected'),
t AS (SELECT episode_id, CAST(payload->>'$.step' AS INTEGER) AS step,
        string_agg(payload->>'$.name', ',' ORDER BY seq) AS tool,
        string_agg(payload->>'$.observation', chr(10) || chr(10) ORDER BY seq) AS observation,
        count(*) AS n_calls, sum(CAST(payload->>'$.latency_ms' AS DOUBLE)) AS latency_ms
      FROM events WHERE type = 'tool_returned' GROUP BY ALL)
SELECT a.run_id, a.episode_id,
  CAST(a.payload->>'$.step' AS INTEGER) AS step,
  a.payload->>'$.text' AS action,
  a.payload->>'$.think' AS think,
  CASE WHEN j.error_kind IS NOT NULL THEN 'rejected'
       WHEN t.tool = 'answer' THEN 'answer' ELSE 'tool' END AS outcome,
  t.tool, COALESCE(t.n_calls, 0) AS n_calls,
  COALESCE(j.observation, t.observation) AS observation,
  j.error_kind, j.error_message, t.latency_ms, a.ts
FROM a LEFT JOIN j ON j.episode_id = a.episode_id AND j.step = CAST(a.payload->>'$.step' AS INTEGER)
LEFT JOIN t ON t.episode_id = a.episode_id AND t.step = CAST(a.payload->>'$.step' AS INTEGER);
"""


def is_duckdb_file(path: Path) -> bool:
    """Whether ``path`` begins like a DuckDB database file (the magic ``DUCK`` after the
    8-byte header checksum); False for a file that cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(12)[8:] == b"DUCK"
    except OSError:
        return False


def connect(paths_or_glob: str | Path | Sequence[str | Path]) -> duckdb.DuckDBPyConnection:
    """A read-only view of one or more store files: table ``events`` and the views.

    Leftovers in a killed writer's spool are included (not yet ingested: the next writer
    ingests them); problems found in a spool (a torn tail, a skipped line) are listed by
    `spool_notes`. ``events_by_file`` is ``events`` with a leading ``file`` column (the
    index into `connected_files`). A file still open by a writer raises MedenvError (close
    the writer first).
    """
    files = resolve_files(paths_or_glob)
    con = duckdb.connect()
    parts, notes = [], []
    for i, file in enumerate(files):
        if isinstance(file, str):  # Parquet shards (`medenv.events.parquet`)
            try:
                # one ``file`` per exported shard: each has its own run-level chain
                parts.append(
                    f"SELECT {i} + {len(files)} * shard AS file, * EXCLUDE (shard) "
                    f"FROM ({parquet_relation(con, file)})"
                )
            except MedenvError:
                con.close()
                raise
            continue
        try:
            try:
                con.execute(f"ATTACH '{sql_str(file)}' AS s{i} (READ_ONLY)")
            except duckdb.Error:
                if not settle(file):  # a killed writer's ingest process still ending?
                    raise
                con.execute(f"ATTACH '{sql_str(file)}' AS s{i} (READ_ONLY)")
        except duckdb.Error as exc:
            con.close()
            owner = lock_owner(file)
            if owner:
                raise MedenvError(
                    f"cannot read event store {file}: process {owner} is writing it; wait "
                    f"for it to finish (or stop it) first ({str(exc).splitlines()[0]})"
                ) from None
            if not is_duckdb_file(file):
                raise MedenvError(
                    f"cannot read event store {file}: not a DuckDB file (an event store is "
                    "the .duckdb file a run writes, e.g. `medenv rollout --db`)"
                ) from None
            raise MedenvError(
                f"cannot read event store {file}: {str(exc).splitlines()[0]}"
            ) from None
        try:
            stored = check_events_table(con, f"s{i}", file)
            if stored:
                parts.append(f"SELECT {i} AS file, * FROM s{i}.events")
        except MedenvError:
            con.close()
            raise
        spooled, spool_problems = read_spools(file)
        if spooled:  # raw lines: sealed as the next writer will seal them
            spooled = seal_rows(spooled, StoredChains(con, f"s{i}.events") if stored else None)
        notes.extend(spool_problems)
        if (kept := unreadable_note(file)) is not None:
            notes.append(kept)
        if spooled:
            con.register(f"_spool{i}", spool_rows_table(spooled))
            con.execute(
                f"CREATE TEMP TABLE spool{i} AS SELECT DISTINCT ON (run_id, episode_id, seq, "
                f"type) b.* FROM _spool{i} b WHERE NOT {stored_in(f's{i}.events', 'b')}"
            )
            con.unregister(f"_spool{i}")
            parts.append(f"SELECT {i} AS file, * FROM spool{i}")
    if not parts:  # only empty files: an empty table of the right shape
        con.execute("CREATE TEMP TABLE _empty AS SELECT 0 AS file, * FROM (" + _EMPTY + ")")
        parts.append("SELECT * FROM _empty")
    con.execute("CREATE OR REPLACE TEMP VIEW events_by_file AS " + " UNION ALL ".join(parts))
    con.execute(
        "CREATE OR REPLACE TEMP VIEW events AS SELECT run_id, episode_id, seq, ts, type, "
        "payload FROM events_by_file"
    )
    con.execute(VIEWS_SQL.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW"))
    _CONNECTED[con] = (files, notes)
    return con


_EMPTY = (
    "SELECT NULL::VARCHAR AS run_id, NULL::VARCHAR AS episode_id, NULL::INTEGER AS seq, "
    "NULL::TIMESTAMP AS ts, NULL::VARCHAR AS type, NULL::JSON AS payload LIMIT 0"
)

# What `connect` opened, per connection: the files and the notes on their spools.
_CONNECTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def connected_files(con: duckdb.DuckDBPyConnection) -> list[Path]:
    """The store files a `connect` result reads (``events_by_file.file`` indexes it)."""
    return _CONNECTED.get(con, ([], []))[0]


def spool_notes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per problem `connect` found in a spool (torn tail, skipped line), and per
    ``<file>.unreadable`` an earlier recovery kept lines in."""
    return _CONNECTED.get(con, ([], []))[1]


def _as_con(source) -> tuple[duckdb.DuckDBPyConnection, bool]:
    if isinstance(source, duckdb.DuckDBPyConnection):
        return source, False
    return connect(source), True


def _events(rows) -> list[Event]:
    return [
        Event(
            run_id=r[0],
            episode_id=r[1],
            seq=r[2],
            ts=r[3] if isinstance(r[3], datetime) else datetime.fromtimestamp(0, UTC),
            type=r[4],
            payload=decode_payload(r[4], r[5]),
        )
        for r in rows
    ]


def read_episode(source, episode_id: str) -> list[Event]:
    """The events of one episode in order, from paths/a glob or an open `connect` result."""
    con, owned = _as_con(source)
    try:
        rows = con.execute(
            "SELECT run_id, episode_id, seq, ts, type, payload FROM events "
            "WHERE episode_id = ? ORDER BY seq",
            [episode_id],
        ).fetchall()
        if not rows:
            raise MedenvError(f"no episode {episode_id!r} in the event store")
        run_started = read_run_started(con, rows[0][0])
    finally:
        if owned:
            con.close()
    return ([run_started] if run_started else []) + _events(rows)


def iter_episodes(con: duckdb.DuckDBPyConnection, batch: int = 20_000):
    """``(episode_id, events)`` for every episode of a `connect` result, in episode id
    order, each as `read_episode` gives it (run_started first), from one scan of the store
    (reading episodes one by one scans it once per episode). Run no other query on ``con``
    while iterating: DuckDB would end the scan's result."""
    runs = con.execute("SELECT DISTINCT run_id FROM events WHERE episode_id IS NOT NULL")
    runs = {r[0]: read_run_started(con, r[0]) for r in runs.fetchall()}  # before the scan:
    cur = con.execute(  # another query on ``con`` would end this one's result
        "SELECT run_id, episode_id, seq, ts, type, payload FROM events "
        "WHERE episode_id IS NOT NULL ORDER BY episode_id, seq"
    )
    current, rows = None, []
    while chunk := cur.fetchmany(batch):
        for row in chunk:
            if row[1] != current:
                if rows:
                    yield current, _with_run(runs.get(rows[0][0]), rows)
                current, rows = row[1], []
            rows.append(row)
    if rows:
        yield current, _with_run(runs.get(rows[0][0]), rows)


def _with_run(run_started: Event | None, rows) -> list[Event]:
    return ([run_started] if run_started else []) + _events(rows)


# A run's run_started is written before any of its episodes and never changes, so what a
# connection found for a run (or that it has none) is remembered per open connection:
# reading many episodes of a run scans for it once (a scan is ~2 ms per 100k events).
_RUN_STARTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def read_run_started(source, run_id: str) -> Event | None:
    """The first ``run_started`` event of ``run_id`` (None when the store has none)."""
    con, owned = _as_con(source)
    cache = {} if owned else _RUN_STARTED.setdefault(con, {})
    if run_id in cache:
        return cache[run_id]
    try:
        rows = con.execute(
            "SELECT run_id, episode_id, seq, ts, type, payload FROM events "
            "WHERE run_id = ? AND type = 'run_started' ORDER BY ts LIMIT 1",
            [run_id],
        ).fetchall()
    finally:
        if owned:
            con.close()
    cache[run_id] = event = _events(rows)[0] if rows else None
    return event

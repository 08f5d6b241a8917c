"""The writer's pending events (`medenv.events.ingest.Pending`): the Arrow batch built from
its shared buffers holds exactly the events appended, in order, as DuckDB reads them back;
a batch put back in front of newer events (a failed ingest) keeps both, in order."""

from __future__ import annotations

import json
import random

import duckdb

from medenv.events.ingest import Pending, insert
from medenv.events.table import TABLE_SQL


def _events(rng: random.Random, n: int, start: int = 0) -> list[tuple]:
    alphabet = 'ab é日"\\\n{}\x00\u2028'
    out = []
    for i in range(start, start + n):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 300)))
        body = json.dumps({"text": text}, ensure_ascii=False)
        episode = None if i % 7 == 0 else f"ep-{i % 5}"
        out.append((episode, i, 1_700_000_000_000_000 + i * 1001, f"type_{i % 3}", body))
    return out


def _read_back(pending: Pending, tmp_path) -> list[tuple]:
    con = duckdb.connect(str(tmp_path / "p.duckdb"))
    con.execute(TABLE_SQL)
    insert(con, tmp_path / "p.duckdb", tmp_path / "p.duckdb.spool", pending)
    rows = con.execute(
        "SELECT run_id, episode_id, seq, epoch_us(ts), type, CAST(payload AS VARCHAR) "
        "FROM events ORDER BY seq"
    ).fetchall()
    con.close()
    return rows


def test_pending_batch_holds_exactly_the_appended_events(tmp_path):
    events = _events(random.Random(4), 500)
    pending = Pending("run-1")
    for e in events:
        pending.append(e[0], e[1], e[2], e[3], e[4].encode())
    assert len(pending) == 500
    assert _read_back(pending, tmp_path) == [("run-1", *e) for e in events]


def test_pending_extend_keeps_order_across_batches(tmp_path):
    rng = random.Random(9)
    older, newer = _events(rng, 40), _events(rng, 60, start=40)
    a, b = Pending("r"), Pending("r")
    for batch, events in ((a, older), (b, newer)):
        for e in events:
            batch.append(e[0], e[1], e[2], e[3], e[4].encode())
    merged = Pending("r")
    merged.extend(a)
    merged.extend(b)
    assert _read_back(merged, tmp_path) == [("r", *e) for e in older + newer]

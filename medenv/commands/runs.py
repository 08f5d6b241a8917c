"""``medenv runs [--db PATH]``: list the runs in an event store (all its shards).

One line per run: id, start time, episodes (finished), accuracy, mean reward, mean tool
calls, format errors, agent tags, KG and corpus hash. ``--json`` prints JSON lines.
"""

from __future__ import annotations

import json
import sys

from medenv.env import default_db_path
from medenv.events.store import connect, spool_notes

RUNS_SQL = """
SELECT r.run_id, strftime(r.started_at, '%Y-%m-%d %H:%M:%S') AS started,
  count(e.episode_id) AS episodes, count(e.reward) AS finished,
  avg(CAST(e.correct AS DOUBLE)) AS accuracy, avg(e.reward) AS mean_reward,
  avg(e.n_tool_calls) AS mean_tool_calls, sum(e.n_format_errors) AS format_errors,
  string_agg(DISTINCT e.agent, ',') AS agents,
  r.kg_source || '-' || r.kg_version AS kg, left(r.corpus_hash, 8) AS corpus, r.n_writers AS shards
FROM runs r LEFT JOIN episodes e USING (run_id)
GROUP BY ALL ORDER BY started, r.run_id
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "runs",
        help="list the runs in an event store",
        description="List the runs of an event store (the main file and all its shards).",
    )
    p.add_argument("--db", default=None, help="event store path or glob (default: the env's)")
    p.add_argument("--json", action="store_true", help="print one JSON object per run")
    p.set_defaults(func=run)


def run(args) -> int:
    con = connect(args.db or default_db_path())
    try:
        cur = con.execute(RUNS_SQL)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        notes = spool_notes(con)
    finally:
        con.close()
    for note in notes:  # lines of a spool the read could not take: said, not skipped silently
        print(f"note {note}", file=sys.stderr)
    if args.json:
        for row in rows:
            print(json.dumps(row, default=str))
        return 0
    if not rows:
        print("no runs")
        return 0
    header = f"{'run_id':<26} {'started':<19} {'episodes':>8} {'acc':>6} {'reward':>7} {'calls':>6} {'fmt_err':>7}  agents  kg  corpus"
    print(header)
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
        rew = "-" if r["mean_reward"] is None else f"{r['mean_reward']:.3f}"
        calls = "-" if r["mean_tool_calls"] is None else f"{r['mean_tool_calls']:.2f}"
        print(
            f"{r['run_id']:<26} {r['started']:<19} {r['finished']:>4}/{r['episodes']:<3} "
            f"{acc:>6} {rew:>7} {calls:>6} {r['format_errors'] or 0:>7}  "
            f"{r['agents'] or '-'}  {r['kg']}  {r['corpus']}"
        )
    return 0

"""The events table read with plain SQL (not the store's views): an independent reading."""

from __future__ import annotations

from medenv.events.store import connect


def raw_event_rows(db) -> list[tuple]:
    """``(run_id, episode_id, seq, type, payload JSON text)`` of every event, by episode, seq."""
    con = connect(db)
    try:
        return con.execute(
            "SELECT run_id, episode_id, seq, type, CAST(payload AS VARCHAR) FROM events "
            "ORDER BY episode_id, seq"
        ).fetchall()
    finally:
        con.close()

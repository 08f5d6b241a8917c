"""The events table read with plain SQL (not the store's views): an independent reading."""

from __future__ import annotations

import shutil

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


def private_copy(written: tuple, tmp_path) -> tuple:
    """``(path, ids)`` of a copy, under ``tmp_path``, of a module's written store
    ``written = (path, ids)`` (a test may edit it); the original must be closed, i.e. one
    file with no write-ahead log beside it."""
    source, ids = written
    assert not source.with_name(source.name + ".wal").exists()
    path = tmp_path / source.name
    shutil.copyfile(source, path)
    return path, ids

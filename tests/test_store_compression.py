"""A new store's payloads are compressed with zstd where DuckDB stores them so; elsewhere (an
older file format, where zstd strings stay uncompressed, or a table created before) and in
the other columns DuckDB keeps its own choice."""

from __future__ import annotations

import duckdb
import pytest

from medenv.events.schema import ActionReceived, EpisodeStarted
from medenv.events.store import EventStore
from medenv.events.table import TABLE_SQL, _version, zstd_strings

NEW_ENOUGH = _version(duckdb.__version__) >= (1, 5)


def _write(path, ingest: str, episodes: int = 40) -> None:
    with EventStore(path, run_id="zstd", ingest=ingest) as store:
        for k in range(episodes):
            episode = f"e{k}"
            store.emit(
                EpisodeStarted(
                    question_id=f"q{k}", seed=k, split="test", specialty="genetics", n_hops=2,
                    optimal_calls=3, answer=f"answer {k}", aliases=[],
                    prompt="Which rare disease has these features? " * 20, config_hash="c",
                    tags={}, item={},
                ),
                episode,
            )  # fmt: skip
            for step in range(5):
                text = f"<think>step {step} of {k}</think> " + "search the reference " * 30
                store.emit(ActionReceived(step=step, text=text), episode)
                store.commit()
            store.end_episode(episode)


def _compression(path, column: str = "payload") -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('events') "
            "WHERE column_name = ? AND segment_type <> 'VALIDITY'",
            [column],
        ).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


def test_version_strings_read_as_numbers():
    assert _version("v1.5.0+") == (1, 5, 0)
    assert _version("2.0.1") == (2, 0, 1)
    assert _version("v1.2.0+") >= (1, 2) > _version("v1.0.0+")
    assert _version("1.5.0-dev123") == (1, 5)  # a development build: its release numbers
    assert _version("unknown") == ()


@pytest.mark.skipif(not NEW_ENOUGH, reason="zstd strings need DuckDB >= 1.5")
@pytest.mark.parametrize("ingest", ["process", "thread"])
def test_new_store_payloads_are_zstd(tmp_path, ingest):
    path = tmp_path / "events.duckdb"
    _write(path, ingest)
    assert _compression(path) == {"ZSTD"}
    for column in ("run_id", "episode_id", "type"):  # DuckDB's own choice
        assert "ZSTD" not in _compression(path, column)
    con = duckdb.connect(str(path), read_only=True)
    assert (
        con.execute("SELECT count(*) FROM events WHERE type = 'action_received'").fetchone()[0]
        == 200
    )
    con.close()


def test_old_file_format_keeps_duckdbs_choice(tmp_path):
    """A store file in the storage format of DuckDB 1.0 (what a DuckDB before 2.0 writes by
    default): zstd is not forced, so its strings stay compressed as DuckDB chooses."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path), config={"storage_compatibility_version": "v1.0.0"})
    assert not zstd_strings(con)
    con.close()
    _write(path, "thread")
    found = _compression(path)
    assert found and "Uncompressed" not in found and "ZSTD" not in found


def test_table_created_before_keeps_duckdbs_choice(tmp_path):
    """A store whose table an earlier medenv created (no zstd in its definition) is written
    to as it is."""
    path = tmp_path / "earlier.duckdb"
    con = duckdb.connect(str(path))
    con.execute(TABLE_SQL)
    con.close()
    _write(path, "process")
    found = _compression(path)
    assert found and "ZSTD" not in found

"""Event shards as Parquet: `medenv events export` to a folder and to S3 (a real local
S3-compatible server, moto in server mode), and `runs`/`replay`/`export`/`eval` reading
Parquet folders, globs and s3:// URLs exactly like the DuckDB store."""

from __future__ import annotations

import json
import os
import shlex
import socket
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from medenv.agents.rollout import rollout

from medenv.cli import main
from tests.cli import cli_error


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Two runs (oracle over two workers: two shard files; heuristic) in one store."""
    db = tmp_path_factory.mktemp("pq") / "events.duckdb"
    rollout("oracle", episodes=6, workers=2, db=db, seed=1, progress=False)
    rollout("heuristic", episodes=4, db=db, seed=1, progress=False)
    return db


def _raw_events(db: Path) -> list[tuple]:
    """Every event of the store's files, read with DuckDB directly (no medenv reader)."""
    rows = []
    for file in [db, *sorted(db.parent.glob(db.stem + ".shard-*.duckdb"))]:
        con = duckdb.connect(str(file), read_only=True)
        rows += con.execute(
            "SELECT run_id, episode_id, seq, type, CAST(payload AS VARCHAR) FROM events"
        ).fetchall()
        con.close()
    return sorted(rows, key=lambda r: (r[0], r[1] or "", r[2], r[3]))


def _parquet_events(root: Path) -> list[tuple]:
    """Every event of an exported folder, read with pyarrow (run id from the folder name)."""
    rows = []
    for file in sorted(root.rglob("*.parquet")):
        run_dir = file.parent.name
        assert run_dir.startswith("run_id=")
        meta = pq.ParquetFile(file).metadata
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                assert meta.row_group(g).column(c).compression == "ZSTD"
        table = pq.read_table(file, partitioning=None)
        assert "run_id" not in table.column_names  # the partition carries it
        for r in table.to_pylist():
            rows.append((run_dir[len("run_id=") :], r["episode_id"], r["seq"], r["type"],
                         r["payload"]))  # fmt: skip
    return sorted(rows, key=lambda r: (r[0], r[1] or "", r[2], r[3]))


def _canon(rows):
    """Rows with parsed payloads, in one total order (two workers of a run each log a
    ``run_started`` with seq 0: ties are broken by the payload)."""
    out = [(*r[:4], json.loads(r[4])) for r in rows]
    return sorted(
        out, key=lambda r: (r[0], r[1] or "", r[2], r[3], json.dumps(r[4], sort_keys=True))
    )


@pytest.fixture(scope="module")
def exported(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pq-out") / "shards"
    assert main(["events", "export", "--db", str(store), "--out", str(out)]) == 0
    return out


def test_export_writes_every_event_as_zstd_parquet_by_run(store, exported):
    raw = _raw_events(store)
    assert len({r[0] for r in raw}) == 2 and len(raw) > 100
    assert _canon(_parquet_events(exported)) == _canon(raw)
    assert sorted(p.name for p in exported.iterdir()) == sorted(
        f"run_id={run}" for run in {r[0] for r in raw}
    )


def test_reexport_overwrites_its_runs(store, exported, capsys):
    assert main(["events", "export", "--db", str(store), "--out", str(exported)]) == 0
    assert len(_parquet_events(exported)) == len(_raw_events(store))
    assert "events of 2 run(s)" in capsys.readouterr().out


def _out(argv, capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 0, argv
    return capsys.readouterr().out


def _rounded(value):
    """JSON output with floats to 9 significant digits (sums over another row order)."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _json_out(argv, capsys):
    text = _out(argv, capsys)
    try:
        return _rounded(json.loads(text))
    except json.JSONDecodeError:
        return [_rounded(json.loads(line)) for line in text.splitlines()]


@pytest.mark.parametrize("kind", ["folder", "glob"])
def test_readers_accept_parquet_like_duckdb(store, exported, kind, capsys, tmp_path):
    source = str(exported) if kind == "folder" else str(exported / "*" / "*.parquet")
    for argv in (["runs", "--json"], ["eval", "--json"]):
        got, want = (_json_out([*argv, "--db", db], capsys) for db in (source, str(store)))
        if isinstance(got, dict):  # eval names its sources: the folder/glob vs the files
            assert got.pop("sources") == [source]
            want.pop("sources")
        assert got == want
    assert _out(["replay", "--db", source], capsys) == _out(["replay", "--db", str(store)], capsys)
    assert "verified 10 episode(s)" in _out(["replay", "--verify", "--db", source], capsys)
    for name, db in (("duck", store), ("pq", source)):
        _out(["export", "--db", str(db), "--out", str(tmp_path / name), "--no-hf"], capsys)
    duck, pq_rows = ((tmp_path / n / "sft.jsonl").read_text() for n in ("duck", "pq"))
    assert duck == pq_rows and duck.count("\n") >= 5


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ("foo://bucket/x", "unknown URL scheme 'foo'"),
        ("{tmp}/none.parquet", "no Parquet event shards"),
        ("{tmp}/not-events.parquet", "not medenv event shards"),
    ],
)
def test_bad_parquet_sources_are_one_line(tmp_path, capsys, db, message):
    duckdb.sql(f"COPY (SELECT 1 AS x) TO '{tmp_path}/not-events.parquet' (FORMAT parquet)")
    _, err = cli_error(["runs", "--db", db.format(tmp=tmp_path)], capsys)
    assert message in err


def test_judge_refuses_parquet_in_one_line(exported, capsys):
    _, err = cli_error(["eval", "--db", str(exported), "--judge", "lexical"], capsys)
    assert "--judge writes judge_verdict events into a DuckDB store" in err


@pytest.mark.parametrize("argv", [["rollout"], ["serve", "--port", "1"]])
def test_writers_refuse_a_url_store(tmp_path, capsys, argv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, err = cli_error([*argv, "--db", "s3://bucket/events.duckdb"], capsys)
    assert "written to a local DuckDB file" in err
    assert list(tmp_path.iterdir()) == []  # no "s3:" folder left behind


def test_missing_fsspec_driver_names_the_extra(capsys):
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401

        pytest.skip("gcsfs is installed")
    except ImportError:
        pass
    _, err = cli_error(["runs", "--db", "gs://bucket/events"], capsys)
    assert "pip install 'medenv[gcs]'" in err


# ------------------------------------------------------------- object storage (S3) ----------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on the loopback, and the AWS variables that point s3fs at it."""
    pytest.importorskip("s3fs", reason="needs the s3 extra (pip install 'medenv[s3]')")
    server_mod = pytest.importorskip("moto.server", reason="needs moto[server] (dev extra)")
    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        import s3fs

        s3fs.S3FileSystem(skip_instance_cache=True).mkdir("medenv-events")
        yield env["AWS_ENDPOINT_URL"]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


def test_export_to_s3_and_read_back(store, s3, capsys, tmp_path):
    import s3fs

    url = "s3://medenv-events/runs/a"
    _out(["events", "export", "--db", str(store), "--out", url], capsys)
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    keys = sorted(fs.find("medenv-events/runs/a"))
    assert len(keys) == 2 and all(k.endswith(".parquet") and "/run_id=" in k for k in keys)
    local = tmp_path / "down"
    fs.get("medenv-events/runs/a/", str(local), recursive=True)
    assert _canon(_parquet_events(local)) == _canon(_raw_events(store))
    assert _json_out(["runs", "--json", "--db", url], capsys) == _json_out(
        ["runs", "--json", "--db", str(store)], capsys
    )
    assert _out(["replay", "--db", url], capsys) == _out(["replay", "--db", str(store)], capsys)


def test_s3_errors_are_one_line(store, s3, capsys, monkeypatch):
    _, err = cli_error(["runs", "--db", "s3://medenv-events/nothing-here"], capsys)
    assert "no Parquet event shards" in err
    _, err = cli_error(["events", "export", "--db", str(store), "--out", "s3://no-bucket/x",
                        "--no-progress"], capsys)  # fmt: skip
    assert "cannot write Parquet shards to s3://no-bucket/x" in err
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    _, err = cli_error(["runs", "--db", "s3://medenv-events/runs"], capsys)
    assert "cannot read Parquet event shards" in err


def test_a_url_export_failed_midway_is_marked_and_refused_until_one_finishes(store, capsys):
    """The upload to a URL (here fsspec's in-memory filesystem, through the same upload as
    S3) fails after the first run's partition: a file stands where the second one goes. The
    target stays marked incomplete and readers refuse it until an export finishes."""
    import fsspec

    from medenv.events.parquet import INCOMPLETE

    fs, root = fsspec.filesystem("memory"), "/medenv-test-midway/shards"
    url, runs = "memory:/" + root, sorted({r[0] for r in _raw_events(store)})
    try:
        fs.pipe_file(f"{root}/run_id={runs[-1]}", b"in the way")
        argv = ["events", "export", "--db", str(store), "--out", url, "--no-progress"]
        _, err = cli_error(argv, capsys)
        assert "cannot write Parquet shards" in err and INCOMPLETE in err
        assert fs.exists(f"{root}/run_id={runs[0]}/data_0.parquet")  # it failed midway
        _, err = cli_error(["runs", "--db", url], capsys)
        assert f"{url}: an `events export` to it is under way or failed midway" in err
        fs.rm_file(f"{root}/run_id={runs[-1]}")
        _out(argv, capsys)
        assert not fs.glob(f"{root}/{INCOMPLETE}*")
        assert _json_out(["runs", "--json", "--db", url], capsys) == _json_out(
            ["runs", "--json", "--db", str(store)], capsys
        )
    finally:
        fs.rm("/medenv-test-midway", recursive=True)


def test_an_export_that_finishes_keeps_the_marker_of_one_still_under_way(store, capsys):
    """Each upload to a URL has its own marker: one that finishes removes its own and those
    of uploads that have ended (a gone process's; round 15's shared marker), never that of
    an upload still under way (here a live process's, of this host), so the target stays
    refused while another writer may be half-way through it."""
    import subprocess
    import sys

    import fsspec

    from medenv.events.parquet import INCOMPLETE
    from medenv.paths import writer_id

    fs, root = fsspec.filesystem("memory"), "/medenv-test-two-uploads/shards"
    url = "memory:/" + root
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    try:
        live = f"{INCOMPLETE}.{other.pid}-{writer_id().split('-')[1]}-0badf00d"
        fs.pipe_file(f"{root}/{live}", b"an upload under way")
        fs.pipe_file(f"{root}/{INCOMPLETE}", b"round 15's marker of a failed upload")
        argv = ["events", "export", "--db", str(store), "--out", url, "--no-progress"]
        _out(argv, capsys)
        names = [p.rsplit("/", 1)[-1] for p in fs.glob(f"{root}/{INCOMPLETE}*")]
        assert names == [live]  # its own and the ended one's are gone, the live one's stays
        _, err = cli_error(["runs", "--db", url], capsys)
        assert live in err and "under way or failed midway" in err
        other.communicate(b"")  # that upload's process ends (it failed, or was killed)
        _out(argv, capsys)
        assert not fs.glob(f"{root}/{INCOMPLETE}*")
        assert _json_out(["runs", "--json", "--db", url], capsys) == _json_out(
            ["runs", "--json", "--db", str(store)], capsys
        )
    finally:
        if other.poll() is None:
            other.kill()
        fs.rm("/medenv-test-two-uploads", recursive=True)


def test_another_hosts_marker_stays_until_untouched_for_a_day(store, capsys):
    """A marker of another host's upload says nothing of its process: kept while recent,
    removed by a finishing upload once untouched for `MARKER_AGE`."""
    import datetime

    import fsspec

    from medenv.events.parquet import INCOMPLETE, MARKER_AGE

    fs, root = fsspec.filesystem("memory"), "/medenv-test-other-host/shards"
    url = "memory:/" + root
    try:
        recent, old = (f"{INCOMPLETE}.{pid}-00000000-0badf00d" for pid in (1, 2))
        for name in (recent, old):
            fs.pipe_file(f"{root}/{name}", b"another host's upload")
        fs.store[f"{root}/{old}"].modified = datetime.datetime.now(
            tz=datetime.UTC
        ) - datetime.timedelta(seconds=MARKER_AGE + 60)
        capsys.readouterr()
        assert main(["events", "export", "--db", str(store), "--out", url, "--no-progress"]) == 0
        assert [p.rsplit("/", 1)[-1] for p in fs.glob(f"{root}/{INCOMPLETE}*")] == [recent]
        # the export says the target stays refused; the refusal says whose marker it is
        # and how to remove it by hand (it said "export again", which cannot help for a day)
        assert f"note: {url} stays marked incomplete by another export: {recent}" in \
            capsys.readouterr().err
        _, err = cli_error(["runs", "--db", url], capsys)
        assert f"{recent} (process 1 of another host, which cannot be checked from here, " \
            "written 0.0 h ago; honoured until untouched for 24 h)" in err, err
        assert "If you know no export to it is running, remove the marker(s) by hand: " in err
        command = shlex.split(err.split("by hand: ", 1)[1])
        assert command[:2] == ["python", "-c"]
        exec(command[2], {})  # what the user would run
        assert not fs.glob(f"{root}/{INCOMPLETE}*")
        assert _json_out(["runs", "--json", "--db", url], capsys)  # readable again
    finally:
        fs.rm("/medenv-test-other-host", recursive=True)

"""`--ray`: rollouts and synthesis on a local Ray with 2 CPUs give the same episodes and
items as local runs; every worker writes its own shard; one-line errors (a missing extra,
an unreachable address)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from medenv.agents.rollout import rollout
from medenv.training.export import load_episodes

from medenv.cli import main
from medenv.events.store import connect
from tests.cli import cli_error

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_local():
    pytest.importorskip("ray", reason="needs the ray extra (pip install 'medenv[ray]')")
    from medenv.distributed import init_ray

    ray = init_ray("", num_cpus=2)
    yield ray
    ray.shutdown()


def _episodes(db):
    return {
        (e.question_id, e.seed): ([s.text for s in e.steps], e.correct, e.reward)
        for e in load_episodes(db)
    }


def test_rollout_on_ray_equals_local(ray_local, tmp_path):
    local = rollout("oracle", episodes=10, db=tmp_path / "local.duckdb", seed=3, progress=False)
    remote = rollout("oracle", episodes=10, db=tmp_path / "ray.duckdb", seed=3, progress=False,
                     ray="")  # fmt: skip
    assert (remote.ran, remote.correct) == (local.ran, local.correct) == (10, local.correct)
    assert len(remote.db) == 2  # a worker per CPU, a shard each
    assert _episodes(tmp_path / "ray.duckdb") == _episodes(tmp_path / "local.duckdb")
    con = connect(tmp_path / "ray.duckdb")
    try:
        assert con.execute("SELECT count(*), sum(n_writers) FROM runs").fetchone() == (1, 2)
    finally:
        con.close()
    again = rollout("oracle", episodes=10, db=tmp_path / "ray.duckdb", seed=3, progress=False,
                    ray="")  # fmt: skip
    assert (again.ran, again.skipped) == (0, 10)  # resumable like a local run


def test_synth_on_ray_equals_local(ray_local, compact_kg, tmp_path, capsys):
    from medenv.synth import SynthConfig, synthesize, write_qa_set

    local_set = synthesize(compact_kg, SynthConfig(n=4, seed=1), progress=False)
    write_qa_set(tmp_path / "local", local_set.items, local_set.manifest)
    argv = ["synth", "--n", "4", "--no-corpus", "--no-progress", "--seeds", "0,1"]
    assert main([*argv, "--out", str(tmp_path / "ray"), "--ray"]) == 0
    local = (tmp_path / "local" / "qa.jsonl").read_text()
    ray_sets = [(tmp_path / "ray" / f"seed-{s}" / "qa.jsonl").read_text() for s in (0, 1)]
    assert ray_sets[1] == local and len(local.splitlines()) == 4
    ids = [{json.loads(line)["id"] for line in text.splitlines()} for text in ray_sets]
    assert ids[0] != ids[1]  # each task ran its own seed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_ray_address_is_one_line(tmp_path, capsys):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{_free_port()}"
    _, err = cli_error(["rollout", "--episodes", "2", "--db", str(tmp_path / "x.duckdb"),
                        "--no-progress", "--ray", address], capsys)  # fmt: skip
    assert f"cannot reach the Ray cluster at {address}" in err


@pytest.mark.parametrize(
    ("blocked", "argv", "message"),
    [
        (["ray"], ["rollout", "--ray"], "--ray needs the ray extra: pip install 'medenv[ray]'"),
        (["ray"], ["synth", "--n", "2", "--ray"], "pip install 'medenv[ray]'"),
        (["fastapi", "uvicorn"], ["serve"], "pip install 'medenv[serve]'"),
    ],
)
def test_missing_extra_is_one_line(tmp_path, blocked, argv, message):
    """In a fresh interpreter where the extra's modules cannot be imported."""
    code = (
        "import sys\n"
        + "".join(f"sys.modules[{m!r}] = None\n" for m in blocked)
        + "from medenv.cli import main\n"
        + f"sys.exit(main({[*argv, '--out', str(tmp_path / 'o')] if argv[0] == 'synth' else [*argv, '--db', str(tmp_path / 'x.duckdb')]!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert proc.stdout == ""  # refused before any work or message

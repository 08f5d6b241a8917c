"""The CLI under bad input and hard failures: one line, exit code 2, nothing half-written;
rollout workers die with their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from medenv.cli import main
from medenv.events import schema as ev
from medenv.events.store import EventStore, connect
from tests.cli import cli_error
from tests.test_env import items, world  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]


def _qa_file(path: Path, items) -> Path:  # noqa: F811
    path.write_bytes(b"".join(msgspec.json.encode(it) + b"\n" for it in items))
    return path


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie is dead, waiting for its reaper


def _locked(path: Path) -> bool:
    import fcntl

    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_rollout_takes_its_workers_down(tmp_path, items):  # noqa: F811
    qa = _qa_file(tmp_path / "qa.jsonl", items[:6])
    db = tmp_path / "ro.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "medenv.cli", "rollout", "--agent", "heuristic", "--qa", str(qa),
         "--episodes", "100000", "--workers", "2", "--db", str(db), "--no-progress"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    locks = [tmp_path / "ro.duckdb.lock", tmp_path / "ro.shard-1.duckdb.lock"]
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(workers) < 2:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.2)
        texts = [p.read_text().strip() if p.exists() else "" for p in locks]
        workers = [int(t) for t in texts if t.isdigit()]
    assert len(workers) == 2 and proc.pid not in workers and all(map(_alive, workers))
    time.sleep(1.0)  # let them step
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(map(_alive, workers)):
        time.sleep(0.1)
    alive = [pid for pid in workers if _alive(pid)]
    for pid in alive:  # do not leave them running if the test fails
        os.kill(pid, signal.SIGKILL)
    assert alive == []
    # the store is free again (once the kernel has released the dead workers' locks) and
    # every spooled step is readable
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(p.exists() and _locked(p) for p in locks):
        time.sleep(0.1)
    EventStore(db, run_id="after", shard=None).close()
    assert connect(db).execute("SELECT count(*) FROM steps").fetchone()[0] > 0


def test_qa_items_not_in_the_kg_fail_before_any_event(tmp_path, items, capsys):  # noqa: F811
    bad = msgspec.structs.replace(items[1], chain=(items[1].chain[0], "HP:9999999"))
    qa = _qa_file(tmp_path / "qa.jsonl", [items[0], bad])
    db = tmp_path / "kg.duckdb"
    _, err = cli_error(["rollout", "--agent", "heuristic", "--qa", str(qa), "--db", str(db),
                        "--no-progress"], capsys)  # fmt: skip
    assert "question 'inh-001' names entity 'HP:9999999', which is not in the hpo" in err
    assert not db.exists() or connect(db).execute("SELECT count(*) FROM events").fetchone() == (0,)
    _, err = cli_error(["rollout", "--agent", "heuristic", "--qa", str(qa), "--db", str(db),
                        "--workers", "2", "--no-progress"], capsys)  # fmt: skip
    assert "worker" in err and "HP:9999999" in err


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: os.mkfifo(p), "is a named pipe (FIFO), not a regular file"),
        (lambda p: p.symlink_to("/dev/zero"), "is a character device (like /dev/zero)"),
        (lambda p: p.symlink_to(p), "is a symbolic link loop"),
        (lambda p: p.symlink_to(p.parent / "nowhere"), "is a broken symbolic link"),
        (lambda p: p.write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n"), "nested too deeply"),
        (
            lambda p: p.write_bytes(b"\xef\xbb\xbf" + b'{"question": "Q?", "answer": ""}\n'),
            ":1: empty answer",
        ),
    ],
    ids=["fifo", "dev-zero", "symlink-loop", "broken-link", "deep-json", "bom"],
)
def test_special_and_odd_qa_files_are_named(tmp_path, capsys, make, message):
    qa = tmp_path / "qa.jsonl"
    make(qa)
    _, err = cli_error(["rollout", "--agent", "heuristic", "--qa", str(qa), "--db",
                        str(tmp_path / "x.duckdb"), "--no-progress"], capsys)  # fmt: skip
    assert str(qa) in err and message in err, err
    assert "file not found" not in err or "broken" in message


def test_a_bom_is_skipped(tmp_path):
    from medenv.synth.io import read_qa_set

    qa = tmp_path / "qa.jsonl"
    qa.write_bytes(b"\xef\xbb\xbf" + b'{"question": "Q?", "answer": "A"}\n')
    assert [it.answer for it in read_qa_set(qa)] == ["A"]


def test_db_paths_with_glob_characters_are_literal(tmp_path, capsys, items, world):  # noqa: F811
    import gymnasium as gym

    odd = tmp_path / "runs[1].duckdb"
    other = tmp_path / "runs1.duckdb"  # what the glob [1] would match instead
    for path, n in ((odd, 1), (other, 2)):
        env = gym.make("MedResearch-v0", qa=items, db=path, run_id=f"g{n}")
        for seed in range(n):
            env.reset(seed=seed)
            env.step("<answer>x</answer>")
        env.close()
    assert main(["runs", "--db", str(odd), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["run_id"] for r in rows] == ["g1"]


def test_a_held_store_and_a_corrupt_store_are_one_line(tmp_path, capsys):
    path = tmp_path / "held.duckdb"
    with EventStore(path, run_id="r"):
        _, err = cli_error(["runs", "--db", str(path)], capsys)
        assert f"process {os.getpid()} is writing it; wait for it to finish" in err
        assert "shard=" not in err
    corrupt = tmp_path / "corrupt.duckdb"
    with EventStore(corrupt, run_id="r") as store:
        for k in range(40):
            store.emit(ev.ActionReceived(step=0, text=os.urandom(6000).hex()), f"e{k}")
            store.commit()
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = os.urandom(4096)
    corrupt.write_bytes(bytes(data))
    for argv in (["runs"], ["replay", "--verify"]):
        code = main([*argv, "--db", str(corrupt)])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "corrupt.duckdb" in err and "damaged" in err


def test_oserror_and_recursion_error_lines():
    from medenv.cli import error_line

    exc = OSError(28, "No space left on device", "/data/ev.duckdb.spool")
    assert error_line(exc) == "/data/ev.duckdb.spool: No space left on device (disk full?)"
    assert "nested too deeply" in error_line(RecursionError("maximum recursion depth"))
    assert error_line(ValueError("a bug")) is None  # bugs keep their traceback


def _limited(limit: int):
    def apply() -> None:  # in the child: files may not grow past ``limit`` bytes
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return apply


@pytest.mark.parametrize("workers", [2])
def test_a_full_disk_during_rollout_is_one_line_and_resume_completes(
    tmp_path,
    items,  # noqa: F811
    workers,
):
    qa = _qa_file(tmp_path / "qa.jsonl", items[:6])
    db = tmp_path / "full.duckdb"
    argv = [sys.executable, "-m", "medenv.cli", "rollout", "--agent", "heuristic", "--qa",
            str(qa), "--episodes", "30", "--db", str(db), "--workers", str(workers),
            "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, preexec_fn=_limited(40_000)
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("medenv rollout: error: ") and "disk full?" in lines[0]
    assert "full" in lines[0] and ".duckdb" in lines[0], lines[0]
    argv[argv.index("--workers") + 1] = "1"  # resume in one process (no spawn: faster)
    again = subprocess.run(  # resume while the disk is still full: one line again
        argv, cwd=ROOT, env=env, capture_output=True, text=True, preexec_fn=_limited(40_000)
    )
    lines = again.stderr.strip().splitlines()
    assert again.returncode == 2 and len(lines) == 1, again.stderr
    assert "disk full?" in lines[0]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    con = connect(db)
    assert con.execute("SELECT count(*) FROM episodes WHERE finished").fetchone()[0] >= 30
    con.close()
    assert main(["replay", "--db", str(db), "--verify"]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "--n", "2", "--out", ""],  # wrote the QA set into the current folder
        ["export", "--db", "x.duckdb", "--out="],  # so did the export
        ["events", "export", "--db", "x.duckdb", "--out", ""],
        ["eval", "--db", "x.duckdb", "--qa", ""],  # read as "the built-in set"
        ["eval", "--db", "x.duckdb", "--report", ""],  # read as "no report"
        ["rollout", "--db", "x.duckdb", "--qa", ""],
        ["kg", "stats", "--source", "edgelist", "--path", ""],  # --path appends
        ["train", "sft", "--data", "rows.jsonl", "--out", ""],
    ],
    ids=["synth-out", "export-out", "events-out", "eval-qa", "eval-report", "rollout-qa",
         "kg-path", "sft-out"],  # fmt: skip
)
def test_an_option_given_an_empty_value_is_one_line_naming_it(argv, tmp_path, monkeypatch,
                                                             capsys):  # fmt: skip
    """``--out "$UNSET"``: an empty value was the current folder to some commands and the
    default to others, silently; now it is refused before the command runs."""
    monkeypatch.chdir(tmp_path)
    flag = next(a.split("=")[0] for a, b in zip(argv, [*argv[1:], None], strict=True)
                if b == "" or a.endswith("="))  # fmt: skip
    _, err = cli_error(argv, capsys)
    assert err.startswith(f"medenv {argv[0]}: error: {flag} is empty"), err
    assert os.listdir(tmp_path) == []


def test_flags_without_a_value_and_optional_values_are_not_taken_for_empty():
    from medenv.cli import build_parser, empty_option

    parser = build_parser("synth")
    assert empty_option(parser, parser.parse_args(["synth", "--out", "o", "--ray"])) is None
    parser = build_parser("corpus")
    assert empty_option(parser, parser.parse_args(["corpus", "search", ""])) is None

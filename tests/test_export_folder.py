"""`medenv export --out DIR` leaves DIR holding exactly that export's files (never a mix of
two exports), never overwrites a file medenv did not write, and a failed export (a real
file-size limit, a row that cannot be encoded) leaves the earlier export as it was
(`medenv.training.export_folder`, `medenv.paths.writing`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from medenv.training.export import export

from medenv.errors import MedenvError
from tests.cli import cli_error
from tests.test_hostile_args import _limited

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from medenv.agents.rollout import rollout

    db = tmp_path_factory.mktemp("export-folder") / "oracle.duckdb"
    rollout("oracle", qa=None, episodes=6, db=db, seed=0, progress=False)
    return db


def _names(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_a_second_export_replaces_the_first_and_leaves_other_files(store, tmp_path, capsys):
    out = tmp_path / "out"
    export(store, out, ["sft", "rl", "browsecomp"])
    runs = sorted(p.name for p in (out / "browsecomp").glob("run_*.json"))
    assert len(runs) == 6 and (out / "sft_dataset").is_dir()
    (out / "notes.txt").write_text("mine")
    from medenv.cli import main

    assert main(["export", "--db", str(store), "--out", str(out), "--format", "rl"]) == 0
    printed = capsys.readouterr().out
    # nothing of the SFT/BrowseComp export is left beside the RL prompts; notes.txt stays
    assert _names(out) == ["notes.txt", "rl_prompts.jsonl", "stats.json"]
    assert (out / "notes.txt").read_text() == "mine"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["written"] == ["rl_prompts.jsonl", "stats.json"]
    assert stats["removed"] == ["browsecomp", "sft.jsonl", "sft_dataset"]
    assert stats["left_as_is"] == ["notes.txt"]
    assert stats["files"] == {"rl": str(out / "rl_prompts.jsonl")}
    assert "removed from" in printed and "sft_dataset" in printed
    assert "(left as is): notes.txt" in printed
    # the same format with other filters: run files of questions no longer chosen go too
    export(store, out, ["browsecomp"], agent="oracle", max_tool_calls=1)
    kept = sorted(p.name for p in (out / "browsecomp").glob("run_*.json"))
    assert len(kept) < len(runs)
    assert _names(out) == ["browsecomp", "notes.txt", "stats.json"]


def test_an_export_of_an_older_version_is_replaced(store, tmp_path):
    # stats.json of an export from before the "written" list claims the export's names
    out = tmp_path / "out"
    export(store, out, ["sft", "rl"], hf=False)
    stats = json.loads((out / "stats.json").read_text())
    del stats["written"], stats["removed"], stats["left_as_is"]
    (out / "stats.json").write_text(json.dumps(stats))
    export(store, out, ["rl"])
    assert _names(out) == ["rl_prompts.jsonl", "stats.json"]


def test_a_file_no_export_wrote_is_refused_not_overwritten(store, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sft.jsonl").write_text("my own rows\n")
    _, err = cli_error(["export", "--db", str(store), "--out", str(out)], capsys)
    assert err.startswith(f"medenv export: error: --out {out} holds sft.jsonl, which no medenv")
    assert (out / "sft.jsonl").read_text() == "my own rows\n"
    assert _names(out) == ["sft.jsonl"]
    # a stats.json that is not an export's does not claim it either
    (out / "stats.json").write_text('{"mine": 1}')
    with pytest.raises(MedenvError, match="holds sft.jsonl, stats.json, which no medenv"):
        export(store, out, ["sft"], hf=False)


def test_a_failed_export_leaves_the_earlier_one(store, tmp_path):
    # a real failure mid-write: a file-size limit (what a full disk does to ``write``)
    out = tmp_path / "out"
    export(store, out, ["sft", "rl"], hf=False)
    before = {n: (out / n).read_bytes() for n in _names(out)}
    limit = len(before["sft.jsonl"]) // 2
    argv = [sys.executable, "-m", "medenv.cli", "export", "--db", str(store), "--out", str(out),
            "--all", "--no-hf", "--format", "sft"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, preexec_fn=_limited(limit)
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"medenv export: error: {out / 'sft.jsonl'}: File too large")
    assert {n: (out / n).read_bytes() for n in _names(out)} == before  # nothing half-written
    fresh = tmp_path / "fresh"  # the same failure into a folder the export creates
    argv[argv.index(str(out))] = str(fresh)
    proc = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, preexec_fn=_limited(limit)
    )
    assert proc.returncode == 2 and "File too large" in proc.stderr
    assert not fresh.exists()  # no empty folder is left behind


def test_a_tokenizer_that_does_not_load_is_one_line_before_any_work(store, tmp_path, capsys):
    """``--tokenizer`` naming a folder with no tokenizer in it (or a file, or nothing) is
    refused before the store is read, naming the flag; no --out folder is created."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "a file").write_text("not a tokenizer")
    out = tmp_path / "out"
    for bad in ("empty", "a file", "nowhere"):
        _, err = cli_error(["export", "--db", str(store), "--out", str(out), "--no-hf",
                            "--tokenizer", str(tmp_path / bad)], capsys)  # fmt: skip
        assert f"--tokenizer {tmp_path / bad}: cannot load a tokenizer" in err, err
        assert not out.exists()


def test_a_row_that_cannot_be_written_leaves_the_old_file(tmp_path):
    from medenv.training.export import _write_jsonl

    path = tmp_path / "rl_prompts.jsonl"
    path.write_text('{"id": "old"}\n')
    rows = [{"id": "a"}, {"id": "b", "bad": {1, 2}}]  # a set is not JSON: raised mid-file
    with pytest.raises(TypeError):
        _write_jsonl(path, rows)
    assert path.read_text() == '{"id": "old"}\n' and _names(tmp_path) == ["rl_prompts.jsonl"]

    def interrupted():
        yield {"id": "a"}
        raise KeyboardInterrupt  # Ctrl-C mid-write

    with pytest.raises(KeyboardInterrupt):
        _write_jsonl(path, interrupted())
    assert path.read_text() == '{"id": "old"}\n' and _names(tmp_path) == ["rl_prompts.jsonl"]


def test_unfinished_episodes_and_unreadable_spool_lines_are_counted_not_silent(
    store, tmp_path, capsys
):
    # a killed writer's spool: an episode without its end, and a line damaged on disk; the
    # export read both through the spool and left them out without a word
    import shutil

    from medenv.events import schema as ev
    from medenv.events.store import EventStore

    db = tmp_path / "copy.duckdb"
    shutil.copy(store, db)
    writer = EventStore(db, run_id="killed")
    writer.emit(ev.EpisodeStarted(question_id="q", seed=1, split="s", specialty="x", n_hops=1,
                                  optimal_calls=1, answer="A", aliases=[], prompt="p",
                                  config_hash="h", tags={}), "cut-off")  # fmt: skip
    writer.commit()
    writer._spool.close()  # abandoned, as a kill leaves it
    writer._lock.release()
    writer.con.close()
    with writer._spool_path.open("ab") as f:
        f.write(b"damaged\n")
    from medenv.cli import main

    assert main(["export", "--db", str(db), "--out", str(tmp_path / "out"), "--no-hf"]) == 0
    err = capsys.readouterr().err
    assert f"note {writer._spool_path}:" in err and "not an event line; skipped" in err
    assert "not exported: 1 unfinished episode(s)" in err
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["unfinished"] == 1 and len(stats["notes"]) == 1
    assert stats["recorded"]["trajectories"] == 6


def test_a_kg_that_cannot_be_loaded_is_named_not_a_silent_null(store, tmp_path):
    # every row's grounded went null without a word when the run's KG could not be loaded
    from medenv.worldspec import WorldSpec

    gone = WorldSpec.of("edgelist", tmp_path / "gone.tsv")
    stats = export(store, tmp_path / "out", ["sft"], hf=False, world=gone)
    (note,) = stats["notes"]
    assert note.startswith(f"groundedness unknown for 6 episode(s): KG {tmp_path / 'gone.tsv'} ")
    assert stats["recorded"]["grounded"] is None


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names open files via /proc")
def test_every_exported_file_is_on_disk_before_the_export_is_moved_in(
    store, tmp_path, monkeypatch
):
    """A power loss during or after the move cannot leave a cut file: each file is flushed
    (fsync) in the staging folder, before the moves, and the folder after them."""
    out, synced, real_fsync = tmp_path / "out", [], os.fsync

    def fsync(fd):
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    export(store, out, ["sft", "browsecomp"], hf=False)
    staged = {p.relative_to(out).parts[1:] for p in synced if p.parent != tmp_path and p != out}
    files = {p.relative_to(out).parts for p in out.rglob("*") if p.is_file()}
    assert len(files) > 6 and files <= staged
    assert synced[-1] == out

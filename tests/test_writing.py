"""Outputs written whole or not at all (`medenv.paths`): a file (`writing`, `save_figure`) and
a set of files in a model folder (`writing_into`), under real failures raised mid-write."""

from __future__ import annotations

import json
import os

import pytest

from medenv.paths import save_figure, write_file, writing, writing_into


def test_a_file_is_replaced_only_when_written_whole(tmp_path):
    path = tmp_path / "summary.json"
    write_file(path, "old\n")
    with pytest.raises(TypeError), writing(path) as tmp, tmp.open("w") as f:
        f.write('{"a": 1,')
        json.dump({"b": {1, 2}}, f)  # a set is not JSON: fails halfway through the file
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["summary.json"]
    with writing(path) as tmp:
        tmp.write_text("new\n")
    assert path.read_text() == "new\n" and os.listdir(tmp_path) == ["summary.json"]
    with pytest.raises(FileNotFoundError, match="the writer wrote nothing"), writing(path):
        pass  # a writer that wrote the final name itself is caught, not silently lost
    assert path.read_text() == "new\n"


def test_a_figure_keeps_its_format_and_a_failed_one_leaves_the_old(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png, svg = tmp_path / "a.png", tmp_path / "a.svg"
    save_figure(fig, png)
    save_figure(fig, svg)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg.read_bytes()[:400]
    before = svg.read_bytes()
    ax.set_title(r"$\undefinedcommand$")  # SVG is written as drawn: this fails mid-file
    with pytest.raises(ValueError, match="Unknown symbol"):
        save_figure(fig, svg)
    plt.close(fig)
    assert svg.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["a.png", "a.svg"]


def test_a_model_folder_is_replaced_as_a_set_and_other_files_stay(tmp_path):
    folder = tmp_path / "model"
    with writing_into(folder, last=("medenv_sft.json",)) as stage:
        (stage / "model.safetensors").write_bytes(b"weights-1")
        (stage / "tokenizer").mkdir()
        (stage / "tokenizer" / "vocab.json").write_text("{}")
        write_file(stage / "medenv_sft.json", "{}")
    (folder / "events.duckdb").write_bytes(b"a store beside the model")
    with pytest.raises(TypeError), writing_into(folder) as stage:
        (stage / "model.safetensors").write_bytes(b"weights-2")
        write_file(stage / "medenv_sft.json", json.dumps({"config": {1}}))  # fails
    assert (folder / "model.safetensors").read_bytes() == b"weights-1"
    assert sorted(os.listdir(folder)) == [
        "events.duckdb", "medenv_saved.json", "medenv_sft.json", "model.safetensors",
        "tokenizer",
    ]  # fmt: skip
    with writing_into(folder) as stage:
        (stage / "model.safetensors").write_bytes(b"weights-3")
        (stage / "tokenizer").mkdir()
        (stage / "tokenizer" / "merges.txt").write_text("")
    assert (folder / "model.safetensors").read_bytes() == b"weights-3"
    assert os.listdir(folder / "tokenizer") == ["merges.txt"]  # the folder was replaced
    assert (folder / "events.duckdb").read_bytes() == b"a store beside the model"
    # the first save's medenv_sft.json is not this save's: gone with the record's other names
    assert sorted(os.listdir(folder)) == [
        "events.duckdb", "medenv_saved.json", "model.safetensors", "tokenizer",
    ]  # fmt: skip


def test_a_model_saved_again_in_shards_loads_the_second_save_not_stale_weights(tmp_path):
    torch = pytest.importorskip("torch")
    from medenv.agents.tiny import tiny_model_path
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "model"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path())
    with writing_into(folder) as stage:
        model.save_pretrained(stage)  # one model.safetensors
    (folder / "NOTES.md").write_text("a file of the user's, which no save wrote")
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.5)
    second = {k: v.clone() for k, v in model.state_dict().items()}
    with writing_into(folder) as stage:  # the same model in 100 KB shards plus their index
        model.save_pretrained(stage, max_shard_size="100KB")
    names = set(os.listdir(folder))
    assert "model.safetensors.index.json" in names and "model.safetensors" not in names
    assert (folder / "NOTES.md").read_text().startswith("a file of the user's")
    loaded = AutoModelForCausalLM.from_pretrained(folder).state_dict()
    assert loaded.keys() == second.keys()
    assert all(torch.equal(loaded[k], v) for k, v in second.items())  # not the first save's
    with writing_into(folder) as stage:  # back to one file: no shard or index is left
        model.save_pretrained(stage)
    assert sorted(os.listdir(folder)) == [
        "NOTES.md", "config.json", "generation_config.json", "medenv_saved.json",
        "model.safetensors",
    ]  # fmt: skip


def test_a_folder_saved_before_the_record_loses_its_stale_weights_not_your_files(tmp_path):
    """A model folder with no `SAVED` record (saved by an older medenv, or downloaded): the
    first recorded save removes the model files it did not write (here the single
    ``model.safetensors`` beside a sharded save, which transformers would load instead) and
    keeps every other file."""
    torch = pytest.importorskip("torch")
    from medenv.agents.tiny import tiny_model_path
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "model"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path())
    model.save_pretrained(folder)  # as a save before `medenv_saved.json`: no record
    ours = {"NOTES.md": "mine", "events.duckdb": "a GRPO run's store", "README.md": "card"}
    for name, text in ours.items():
        (folder / name).write_text(text)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.5)
    second = {k: v.clone() for k, v in model.state_dict().items()}
    with writing_into(folder) as stage:
        model.save_pretrained(stage, max_shard_size="100KB")
    names = set(os.listdir(folder))
    assert "model.safetensors" not in names and "model.safetensors.index.json" in names
    assert all((folder / n).read_text() == text for n, text in ours.items())
    loaded = AutoModelForCausalLM.from_pretrained(folder).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in second.items())


def test_old_style_temporaries_go_once_untouched_for_a_day(tmp_path):
    """Temporaries named before they carried their writer (``.NAME.<hex>.partial``/``.old``)
    are removed by the next write once nothing in them changed for `OLD_STYLE_AGE`; a
    recent one (a writer of an older medenv may still be at it) and other files stay."""
    from medenv.paths import OLD_STYLE_AGE

    out = tmp_path / "summary.json"
    old = os.path.getmtime(tmp_path) - OLD_STYLE_AGE - 60
    stale_file, stale_dir = tmp_path / ".summary.json.0badf00d.partial", tmp_path / (
        ".summary.json.abcdef01.old"
    )  # fmt: skip
    busy, fresh = tmp_path / ".summary.json.deadbeef.partial", tmp_path / (
        ".summary.json.12345678.partial"
    )  # fmt: skip
    mine = tmp_path / ".summary.json.notes"
    stale_file.write_text("cut")
    (stale_dir / "sub").mkdir(parents=True)
    (stale_dir / "sub" / "a").write_text("old")
    (busy / "sub").mkdir(parents=True)
    (busy / "sub" / "a").write_text("being written now")  # its folders are old, this not
    fresh.write_text("just now")
    mine.write_text("a file of yours")
    for path in [stale_file, stale_dir, stale_dir / "sub", stale_dir / "sub" / "a", busy,
                 busy / "sub", mine]:  # fmt: skip
        os.utime(path, (old, old))
    write_file(out, "x")
    assert sorted(os.listdir(tmp_path)) == sorted([out.name, busy.name, fresh.name, mine.name])


def test_a_folder_is_never_replaced_by_a_file_nor_a_file_by_a_folder(tmp_path, capsys):
    """``eval --report R`` with a folder of yours named ``R/report.md``: the rename deleted
    the folder whole for the report file. Now the write fails naming it, and both stay."""
    from medenv.cli import error_line

    folder, file = tmp_path / "report.md", tmp_path / "data"
    (folder / "notes").mkdir(parents=True)
    (folder / "notes" / "a.txt").write_text("mine")
    file.write_text("mine too")
    with pytest.raises(IsADirectoryError) as caught:
        write_file(folder, "# report\n")
    assert error_line(caught.value).startswith(f"{folder}: is a folder, and medenv writes a file")
    with pytest.raises(NotADirectoryError, match="is a file, and medenv writes a folder"):
        with writing(file) as tmp:
            (tmp / "part").mkdir(parents=True)
    assert (folder / "notes" / "a.txt").read_text() == "mine" and file.read_text() == "mine too"
    assert sorted(os.listdir(tmp_path)) == ["data", "report.md"]  # no temporary is left


def test_an_error_names_the_output_not_the_temporary(tmp_path):
    from medenv.cli import error_line

    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "a.json"  # a real failure: its folder is a file
    with pytest.raises(NotADirectoryError) as caught, writing(out) as tmp:
        tmp.write_text("{}")
    assert error_line(caught.value) == f"{out}: Not a directory"


def test_a_failed_model_save_names_the_file_in_the_model_folder(tmp_path):
    from medenv.cli import error_line

    with pytest.raises(NotADirectoryError) as caught, writing_into(tmp_path / "m") as stage:
        (stage / "tokenizer").write_text("a file where the save wants a folder")
        (stage / "tokenizer" / "vocab.json").write_text("{}")
    assert (
        error_line(caught.value)
        == f"{tmp_path / 'm' / 'tokenizer' / 'vocab.json'}: Not a directory"
    )
    assert os.listdir(tmp_path / "m") == []


# A writer in its own process: enters `writing` and `writing_into`, writes half, says so on
# stdout, and finishes only when its stdin closes (or is killed before).
_WRITER = """
import sys
from medenv.paths import writing, writing_into
out, folder = sys.argv[1], sys.argv[2]
with writing(out) as tmp, writing_into(folder) as stage:
    tmp.write_text("half")
    (stage / "model.safetensors").write_text("half")
    print("writing", flush=True)
    sys.stdin.read()
    tmp.write_text(sys.argv[3])
    (stage / "model.safetensors").write_text(sys.argv[3])
"""


def _writer(out, folder, text):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(out), str(folder), text],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout.readline() == "writing\n"
    return proc


def _hidden(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith("."))


def test_a_killed_writers_temporaries_go_with_the_next_write_a_live_ones_stay(tmp_path):
    import signal

    out, folder = tmp_path / "summary.json", tmp_path / "model"
    killed = _writer(out, folder, "killed")
    killed_tmps = _hidden(tmp_path) + _hidden(folder)  # its .partial file, its staging folder
    killed.send_signal(signal.SIGKILL)  # mid-write
    killed.wait()
    live = _writer(out, folder, "live")  # a concurrent writer of the same outputs
    try:
        live_tmps = [n for n in _hidden(tmp_path) + _hidden(folder) if n not in killed_tmps]
        assert len(killed_tmps) == 2 and len(live_tmps) == 2
        write_file(out, "next")
        with writing_into(folder) as stage:
            (stage / "model.safetensors").write_text("next")
        assert out.read_text() == "next"
        assert _hidden(tmp_path) + _hidden(folder) == live_tmps  # the killed one's are gone
    finally:
        live.communicate("")
    assert live.returncode == 0 and out.read_text() == "live"  # its temporaries were whole
    assert (folder / "model.safetensors").read_text() == "live"
    assert _hidden(tmp_path) == [] and _hidden(folder) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names open files via /proc")
def test_an_output_is_on_disk_before_its_rename_and_the_rename_after(tmp_path, monkeypatch):
    """Whole or not at all across a power loss: every file and folder of the temporary is
    flushed (fsync) before it is renamed over the output, and the output's folder after."""
    synced, real_fsync = [], os.fsync

    def fsync(fd):  # the real fsync, noting what it flushed and whether the output exists
        path = os.readlink(f"/proc/self/fd/{fd}")
        synced.append((os.path.relpath(path, tmp_path), (tmp_path / "out").exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with writing(tmp_path / "out") as tmp:
        (tmp / "sub").mkdir(parents=True)
        (tmp / "a.json").write_text("{}")
        (tmp / "sub" / "b.arrow").write_bytes(b"rows")
    before = {p.split("/", 1)[1] if "/" in p else "." for p, done in synced if not done}
    assert before == {".", "a.json", "sub", "sub/b.arrow"}  # all of it, before the rename
    assert synced[-1] == (".", True)  # then the folder holding the renamed output
    synced.clear()
    write_file(tmp_path / "one.txt", "x")
    assert [p.endswith(".partial") for p, _ in synced] == [True, False]
    assert synced[-1][0] == "."
    synced.clear()
    with writing_into(tmp_path / "model") as stage:
        (stage / "model.safetensors").write_bytes(b"weights")
    staged = [p for p, _ in synced if ".save." in p]
    assert any(p.endswith("/model.safetensors") for p in staged)  # flushed before the move
    assert synced[-1][0] == "model"  # the moves (the record's rename, last) flushed after

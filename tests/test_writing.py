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
        "events.duckdb", "medenv_sft.json", "model.safetensors", "tokenizer",
    ]  # fmt: skip
    with writing_into(folder) as stage:
        (stage / "model.safetensors").write_bytes(b"weights-3")
        (stage / "tokenizer").mkdir()
        (stage / "tokenizer" / "merges.txt").write_text("")
    assert (folder / "model.safetensors").read_bytes() == b"weights-3"
    assert os.listdir(folder / "tokenizer") == ["merges.txt"]  # the folder was replaced
    assert (folder / "events.duckdb").read_bytes() == b"a store beside the model"


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

"""``medenv kg stats`` through `medenv.cli.main` and the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from medenv.cli import main


def test_kg_stats_text(kg, capsys):
    assert main(["kg", "stats"]) == 0
    out = capsys.readouterr().out
    assert "source:   hpo" in out
    assert f"version:  {kg.version}" in out
    assert "Human Phenotype Ontology" in out and kg.version in out.split("credit:")[1]
    assert f"nodes:    {kg.num_nodes:,}" in out
    assert f"edges:    {kg.num_edges:,}" in out
    assert "has_phenotype" in out and "loaded from cache" in out


def test_kg_stats_json_hetionet(shared_data, capsys):
    path = shared_data / "hetionet-slice"
    assert main(["kg", "stats", "--source", "hetionet", "--path", str(path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["source"] == "hetionet" and stats["version"] == "v1.0"
    assert "side_effect" not in stats["node_types"]
    assert stats["relations"]["treats"] == 755
    assert stats["load_seconds"] >= 0 and "Hetionet" in stats["credits"][0]


def test_kg_stats_edgelist_build_then_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDENV_HOME", str(tmp_path / "home"))
    f = tmp_path / "e.csv"
    f.write_text("source,relation,target\na,r,b\nb,r,c\n")
    assert main(["kg", "stats", "--source", "edgelist", "--path", str(f)]) == 0
    assert "built and cached" in capsys.readouterr().out
    assert main(["kg", "stats", "--source", "edgelist", "--path", str(f), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["from_cache"] is True and stats["edges"] == 2 and stats["nodes"] == 3


def test_kg_stats_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("source,relation,target\na,r,b\na,r\n")
    assert main(["kg", "stats", "--source", "edgelist", "--path", str(bad), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"medenv kg: error: {bad}:3: expected 3 fields, got 2"
    assert main(["kg", "stats", "--source", "edgelist"]) == 2
    assert "needs a path" in capsys.readouterr().err
    assert main(["kg", "stats", "--source", "umls"]) == 2
    assert "unknown KG source" in capsys.readouterr().err
    # a folder where a file is expected, and the other way round
    assert main(["kg", "stats", "--source", "edgelist", "--path", str(tmp_path)]) == 2
    assert f"{tmp_path}: is a folder; the edgelist source takes one" in capsys.readouterr().err
    assert main(["kg", "stats", "--source", "hpo", "--path", str(bad)]) == 2
    assert f"{bad}: is a file; the hpo source takes a folder" in capsys.readouterr().err
    # KG flags that do not apply to the sources given were ignored: refused now
    assert main(["kg", "stats", "--align", "names"]) == 2
    assert "--align names needs a merged --source" in capsys.readouterr().err
    assert main(["kg", "stats", "--source", "hpo", "--keep-side-effects"]) == 2
    assert "--keep-side-effects applies to Hetionet" in capsys.readouterr().err


def test_console_script_kg_stats(kg):
    script = Path(sys.executable).with_name("medenv")
    assert script.is_file(), "install the package: pip install -e . --no-deps"
    proc = subprocess.run(
        [str(script), "kg", "stats", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert (stats["nodes"], stats["edges"], stats["version"]) == (
        kg.num_nodes,
        kg.num_edges,
        kg.version,
    )


def test_kg_stats_merged_sources(kg, shared_data, capsys):
    path = shared_data / "hetionet-slice"
    args = ["kg", "stats", "--source", "hpo+hetionet", "--json"]
    assert main([*args, "--path", f"hetionet={path}"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["source"] == "hpo+hetionet" and len(stats["credits"]) == 2
    assert stats["node_types"]["compound"] == 1552
    assert stats["node_types"]["phenotype"] == kg.stats()["node_types"]["phenotype"]
    assert main([*args, "--path", str(path)]) == 0  # a plain path goes to hetionet
    assert json.loads(capsys.readouterr().out)["edges"] == stats["edges"]
    assert main([*args, "--path", f"edgelist={path}"]) == 2
    assert "not in --source" in capsys.readouterr().err

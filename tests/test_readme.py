"""The README's Python quickstart runs as written (against the built-in question set)."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def python_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def test_quickstart_runs_as_written(capsys):
    (code,) = python_blocks("Quickstart")
    exec(compile(code, "README.md#quickstart", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith(
        "What gene is implicated in a disorder that has among its features the clinical "
        'feature "Reduced muscle 6-phosphofructokinase activity"?'
    )
    assert (
        "1. Reduced muscle 6-phosphofructokinase activity | "
        "https://medref.medenv.org/entity/HP:6000359" in out
    )
    assert "is a clinical feature of: Glycogen storage disease VII." in out
    assert "Glycogen storage disease VII is associated with the gene: PFKM." in out
    # two hops answered with 4 research calls (the answer is not counted; optimal: 2):
    # accuracy 1, format 1, efficiency max(0, 1 - 2/2)
    assert out.splitlines()[-1] == "1.2 1.0 1.0 0.0"

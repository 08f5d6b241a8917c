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
        'Which gene is linked to a disease that presents with the clinical feature "Hypolysinemia"?'
    )
    assert (
        "1. Hypolysinemia | https://medref.medenv.org/entity/HP:0500142" in out
    )
    assert "Hypolysinemia is a clinical feature of: Lysinuric protein intolerance." in out
    assert "Lysinuric protein intolerance is associated with the gene: SLC7A7." in out
    # two hops answered with 4 research calls (the answer is not counted; optimal: 2):
    # accuracy 1, format 1, efficiency max(0, 1 - 2/2)
    assert out.splitlines()[-1] == "1.2 1.0 1.0 0.0"

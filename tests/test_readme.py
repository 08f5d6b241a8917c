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
        "Identify the gene that is linked to a condition which has among its features the "
        'clinical feature "Retinitis pigmentosa inversa".'
    )
    assert "1. Retinitis pigmentosa inversa | https://medref.medenv.org/entity/HP:0008035" in out
    assert "is a clinical feature of: Stargardt disease 1." in out
    assert "Stargardt disease 1 is associated with the gene: ABCA4." in out
    # two hops answered with 4 research calls (the answer is not counted; optimal: 2):
    # accuracy 1, format 1, efficiency max(0, 1 - 2/2)
    assert out.splitlines()[-1] == "1.2 1.0 1.0 0.0"

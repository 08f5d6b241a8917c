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
        'Name the clinical finding that is a manifestation of the disease "Bartter'
    )
    assert "1. Bartter syndrome, type 2 | https://medref.medenv.org/entity/OMIM:241200" in out
    assert "presents with: Hypokalemia;" in out and "Low-to-normal blood pressure." in out
    assert out.splitlines()[-1] == "1.4 1.0 1.0 1.0"  # as the comment in the README says

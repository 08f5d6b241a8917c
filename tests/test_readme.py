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
    reward, accuracy, fmt, efficiency = map(float, capsys.readouterr().out.split())
    assert 0.0 <= accuracy <= 1.0 and fmt == 1.0 and 0.0 <= efficiency <= 1.0
    assert reward > 0  # a well-formed episode earns the format component

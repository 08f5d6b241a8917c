"""The one way to get a question set: `load_questions(qa, source, split)`.

``qa`` is None (the built-in default set of ``source``, `medenv.synth.default_qa_set`, built
on first use), a QA-set folder or JSONL file (`medenv.synth.io.read_qa_set`), a `QAItem`,
or a list/tuple of `QAItem`. ``split`` keeps the items of that split. Anything else, a list
holding something other than `QAItem`s, or an empty result, is one `MedenvError` line.
The env, rollouts, the HTTP server and GRPO all load their questions here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medenv.errors import MedenvError
from medenv.synth import default_qa_set
from medenv.synth.io import read_qa_set
from medenv.synth.qa import QAItem


def load_questions(qa: Any = None, source: str = "hpo", split: str | None = None) -> list[QAItem]:
    """The items of ``qa`` (see the module docstring), in their order."""
    if isinstance(qa, QAItem):
        items = [qa]
    elif isinstance(qa, list | tuple):
        items = list(qa)
        bad = [type(x).__name__ for x in items if not isinstance(x, QAItem)]
        if bad:
            raise MedenvError(f"qa must be a path or a list of QAItem, got a list with {bad[0]}")
    elif qa is None or isinstance(qa, str | Path):
        items = read_qa_set(default_qa_set(source=source) if qa is None else qa)
    else:
        raise MedenvError(f"qa must be a path or a list of QAItem, got {type(qa).__name__}")
    if split is not None:
        items = [it for it in items if it.split == split]
    if not items:
        where = "the default QA set" if qa is None else f"{qa!r}"
        raise MedenvError(f"no questions in {where}" + (f" for split {split!r}" if split else ""))
    return items

"""Optional LLM rewrite of template questions, through any agent backend.

`LLMRewriter(backend, model)` is a ``question -> text`` callable for
`medenv.synth.synthesize(rewrite=...)`: it asks the backend (`medenv.agents.backends`:
OpenAI-compatible endpoint, transformers, vLLM - anything with ``generate(messages,
tools)``) to reword the question, and caches every reply in a JSONL file keyed by the
model, `PROMPT_VERSION` and the question, so a rerun asks nothing twice and the same
rewrites come back. Every cached record keeps the original, the reply and, once
synthesis has judged it, whether it was accepted and why not.

Synthesis accepts a rewrite only when `accept_rewrite` passes: non-empty, one question,
no leak of a chain entity (`LeakCheck`, variants and near-leaks included), every entity
the template names verbatim still named verbatim (entity preservation), no other quoted
name added, and, with a world, no search shortcut (`medenv.synth.shortcut`). A rejected
rewrite keeps the template text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

from medenv.errors import DataError
from medenv.synth.shortcut import answer_rank

PROMPT_VERSION = 1
SYSTEM = (
    "You rewrite quiz questions so they read naturally. Keep every fact and every quoted "
    "name exactly as written, in double quotes. Do not add facts, names or hints. Reply "
    "with the rewritten question only."
)
_QUOTED = re.compile(r'"([^"]+)"')


def quoted_names(text: str) -> list[str]:
    return _QUOTED.findall(text)


def accept_rewrite(
    original: str, new: str | None, leak_check, world: Any = None, answer_id: str | None = None
) -> str | None:
    """None when ``new`` may replace ``original``, else the reason it may not."""
    if not new or not new.strip():
        return "empty"
    text = new.strip()
    if len(text) > 3 * len(original) + 200 or "\n\n" in text:
        return "too_long"
    if leak_check(text):
        return "leak"
    before, after = quoted_names(original), quoted_names(text)
    if sorted(n.casefold() for n in before) != sorted(n.casefold() for n in after):
        return "entities"
    if world is not None and answer_id is not None:
        if answer_rank(world, text, answer_id) is not None:
            return "search_shortcut"
    return None


class LLMRewriter:
    """Reword questions with ``backend`` (see module docstring); ``cache``: a JSONL file."""

    def __init__(self, backend: Any, model: str, cache: str | Path | None = None) -> None:
        self.backend = backend
        self.model = model
        self.cache_path = Path(cache) if cache is not None else None
        self._cache: dict[str, dict] = {}
        self.asked = 0
        if self.cache_path is not None and self.cache_path.is_file():
            self._load(self.cache_path)

    def _load(self, path: Path) -> None:
        """Read the cache. A torn last line (an append cut short by a kill: every record is
        written with its newline in one write) is warned about and cut off, so the next
        append starts a line of its own; its question is asked again. Any other line that
        is not a record is a `DataError` naming the file and line (never a traceback, never
        skipped in silence)."""
        data = path.read_bytes()
        *complete, tail = data.split(b"\n")
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise DataError(path, f"not a rewrite record: {exc}", number) from None
            if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
                raise DataError(path, "not a rewrite record (a JSON object with a key)", number)
            self._cache[rec["key"]] = rec
        if tail.strip():
            warnings.warn(
                f"{path}: cut off a torn last line ({len(tail)} bytes: a write cut short by "
                "a kill); its question is asked again",
                stacklevel=3,
            )
            os.truncate(path, len(data) - len(tail))

    def key(self, question: str) -> str:
        text = f"{self.model}|{PROMPT_VERSION}|{question}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def __call__(self, question: str) -> str:
        key = self.key(question)
        rec = self._cache.get(key)
        if rec is None:
            self.asked += 1
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question},
            ]
            reply = self.backend.generate(messages, [])
            rec = {"key": key, "model": self.model, "question": question, "rewrite": reply}
            self._cache[key] = rec
            self._append(rec)
        return rec["rewrite"]

    def record(self, question: str, accepted: bool, reason: str | None) -> None:
        """Note synthesis's verdict on the cached rewrite of ``question``."""
        rec = self._cache.get(self.key(question))
        if rec is not None and (rec.get("accepted"), rec.get("reason")) != (accepted, reason):
            rec.update(accepted=accepted, reason=reason)
            self._append(rec)

    def _append(self, rec: dict) -> None:
        if self.cache_path is None:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        with self.cache_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")

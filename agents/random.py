"""`RandomAgent`: uniformly random tool calls, for smoke tests and as a lower bound.

It reads the tool schemas from ``info["tools"]``, fills string arguments with words drawn
from the question and the last observation (URLs for URL-like arguments when one was
seen), and answers with a random capitalised phrase it has seen when the budget is about
to run out (or with probability ``p_answer`` at each step). Reproducible by seed.
"""

from __future__ import annotations

import random as _random
import re

from medenv.agents.text import action_text, answer_text, tool_properties

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]{2,}")
_URL = re.compile(r"https?://\S+|\b[a-z]+://\S+")
_PHRASE = re.compile(r"\b([A-Z][a-z0-9-]+(?:\s+[A-Za-z0-9-]+){0,3})")


class RandomAgent:
    name = "random"

    def __init__(self, seed: int = 0, p_answer: float = 0.15) -> None:
        self.seed = seed
        self.p_answer = p_answer
        self.rng = _random.Random(seed)
        self.words: list[str] = []
        self.urls: list[str] = []
        self.phrases: list[str] = []

    def reset(self, item=None, seed: int | None = None) -> None:
        self.rng = _random.Random(self.seed if seed is None else seed)
        self.words, self.urls, self.phrases = [], [], []

    def _absorb(self, text: str) -> None:
        self.words += _WORD.findall(text)
        self.urls += [u.rstrip(").,;") for u in _URL.findall(text)]
        self.phrases += [p.strip() for p in _PHRASE.findall(text)]

    def act(self, observation: str, info: dict) -> str:
        self._absorb(observation)
        tools = tool_properties(info.get("tools"))
        left = int(info.get("budget") or 1)  # steps left, this one included
        if left <= 1 or self.rng.random() < self.p_answer or not tools:
            guess = self.rng.choice(self.phrases) if self.phrases else "unknown"
            return answer_text("I will guess.", guess)
        name = self.rng.choice(sorted(n for n in tools if n != "answer") or ["answer"])
        args: dict = {}
        for prop in tools.get(name, []):
            if "url" in prop or prop in ("doc_id", "id", "page"):
                args[prop] = self.rng.choice(self.urls) if self.urls else "medical://unknown"
            else:
                k = self.rng.randint(1, 4)
                args[prop] = (
                    " ".join(self.rng.choice(self.words) for _ in range(k))
                    if self.words
                    else "disease"
                )
        return action_text("Let me try something.", name, args)

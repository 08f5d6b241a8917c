"""`HeuristicAgent`: a search-and-vote baseline with no access to the gold chain.

It sees only the question and what tools return:

1. key terms: the entity names the question quotes, and the kind of entity it asks for
   ("Which gene ...", "Name the disorder ...");
2. for each quoted name (up to ``max_names``): search the medical collection, then open
   the page titled with that name (goal: the question's content words);
3. one web search with the question's content words;
4. candidates are the entities listed on the pages read (``X verb: A; B; C``) and the
   result titles, minus the quoted names; each scores one point per observation that
   mentions it, two when a list's wording says it is of the asked-for kind, and a bonus
   when lists about several different quoted names agree;
5. it answers the best-scoring candidate of the asked-for kind when any is known, else
   the best overall (ties: first seen).

It is the floor trained models must beat; it is not tuned on any split.
"""

from __future__ import annotations

import re
from collections import defaultdict

from medenv.agents.oracle import result_urls
from medenv.agents.text import action_text, answer_text

_QUOTED = re.compile(r'"([^"]{2,200})"')
_STOP = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was "
    "which with what who name identify kind more specific form seen also".split()
)
# What the question asks for -> the kind.
_ASKED = (
    ("gene", "gene"),
    ("disorder", "disease"),
    ("disease", "disease"),
    ("condition", "disease"),
    ("syndrome", "disease"),
    ("feature", "phenotype"),
    ("finding", "phenotype"),
    ("phenotype", "phenotype"),
    ("inheritance", "inheritance"),
)
# List wording on pages ("<name> <verb>: A; B") -> the kind of the listed entities.
_LIST_KIND = (
    ("is a gene associated with", "disease"),
    ("is associated with the gene", "gene"),
    ("is a clinical feature of", "disease"),
    ("presents with", "phenotype"),
    ("has as a more specific kind", "phenotype"),
    ("is a kind of", "phenotype"),
    ("is inherited in the pattern", "inheritance"),
    ("is the inheritance pattern of", "disease"),
    ("is past medical history in", "disease"),
    ("has in the past medical history", "phenotype"),
)
_LIST = re.compile(
    r"^(?P<head>[^:\n]{2,200}?) (?P<verb>[a-z][a-z ]{3,60}): (?P<items>[^\n]+?)\.?$", re.M
)


def asked_kind(question: str) -> str | None:
    head = question.lower().split('"')[0][:80]
    for word, kind in _ASKED:
        if re.search(rf"\b{word}", head):
            return kind
    return None


def content_words(question: str, limit: int = 12) -> str:
    text = _QUOTED.sub(" ", question)
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z-]+", text) if w.lower() not in _STOP]
    names = _QUOTED.findall(question)
    return " ".join(names[:2] + words[:limit])[:400]


class HeuristicAgent:
    name = "heuristic"

    def __init__(self, max_names: int = 3, seed: int = 0) -> None:
        self.max_names = max_names
        self.seed = seed

    def reset(self, item=None, seed: int | None = None) -> None:  # item ignored: no chain
        self._plan = None
        self.observations: list[tuple[str, str | None]] = []  # (text, quoted name it is about)
        self.question = ""

    def act(self, observation: str, info: dict) -> str:
        if self._plan is None:
            m = re.search(r"Question:\s*(.*)\Z", observation, re.S)
            self.question = (m.group(1) if m else observation).strip()
            self.names = list(dict.fromkeys(_QUOTED.findall(self.question)))[: self.max_names]
            self.kind = asked_kind(self.question)
            self._plan = self._steps()
            return next(self._plan)
        return self._plan.send(observation)

    def _steps(self):
        left = 99
        for name in self.names:
            obs = yield action_text(
                f'Search for "{name}", one of the entities the question names.',
                "medical_search",
                {"query": name},
            )
            self.observations.append((obs, name))
            page = next((u for t, u in result_urls(obs) if t.casefold() == name.casefold()), None)
            if page is None and result_urls(obs):
                page = result_urls(obs)[0][1]
            if page:
                obs = yield action_text(
                    f'Read the page about "{name}" for entities it is linked to.',
                    "browse",
                    {"url": page, "goal": content_words(self.question)},
                )
                self.observations.append((obs, name))
        obs = yield action_text(
            "Search the web with the question's key terms.",
            "web_search",
            {"query": content_words(self.question), "top_k": 10},
        )
        self.observations.append((obs, None))
        del left
        best = self.best_candidate()
        yield answer_text(
            f"The best-supported candidate across what I read is {best}."
            if best
            else "Nothing clear came up; answering with my best guess.",
            best or (self.names[0] if self.names else "unknown"),
        )

    def best_candidate(self) -> str | None:
        quoted = {n.casefold() for n in self.names}
        score: dict[str, float] = defaultdict(float)
        sources: dict[str, set] = defaultdict(set)
        first: dict[str, int] = {}
        typed: set[str] = set()  # listed under wording that says they are the asked kind
        order = 0
        for text, about in self.observations:
            mentioned: set[str] = set()
            for m in _LIST.finditer(text):
                verb = m.group("verb").strip()
                kind = next((k for v, k in _LIST_KIND if verb.endswith(v)), None)
                for raw in m.group("items").split(";"):
                    cand = raw.strip().rstrip(".").strip()
                    if not cand or cand.casefold() in quoted or len(cand) > 150:
                        continue
                    key = cand
                    if key not in first:
                        first[key] = order
                        order += 1
                    if kind is not None and kind == self.kind:
                        score[key] += 2.0
                        typed.add(key)
                    if key not in mentioned:
                        score[key] += 1.0
                        mentioned.add(key)
                    if about is not None:
                        sources[key].add(about)
            for title, _url in result_urls(text):
                if title.casefold() in quoted:
                    continue
                if title not in first:
                    first[title] = order
                    order += 1
                if title not in mentioned:
                    score[title] += 0.5
                    mentioned.add(title)
        if not score:
            return None
        for key, about in sources.items():
            if len(about) > 1:
                score[key] += 3.0 * (len(about) - 1)
        pool = typed or set(score)
        return max(pool, key=lambda k: (score[k], -first[k]))

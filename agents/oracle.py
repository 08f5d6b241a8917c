"""`OracleAgent`: masked trajectory guidance (MTG), the source of SFT demonstrations.

The oracle is handed the episode's `QAItem` (trusted code only) but writes nothing it has
not seen: the chain steers its *choices*, never its *text*.

What it may use from the item: the chain's masked structure (hop count, relation of each
hop, which entity types are involved), the identity of the next entity (to recognise it
when a tool shows it: the guidance) and which result pages state a hop (to decide which
result to open). What it writes: queries and reasoning built only from the question text
and from names that tool observations have already shown, in the form they were shown.

Per hop (``head`` known, ``tail`` to find):

1. search the head's name (medical collection first; the web after a miss);
2. if the tail's name (or a synonym) shows up in the results, it is resolved;
3. otherwise open a result page that states the hop (the head's own page first) with a
   goal worded from the relation, and read it;
4. after a miss, reformulate (other collection, more results, the head plus the clue
   the question gives about the tail) before giving up;

then answer the last entity in ``<answer>`` (or through the answer tool), with a short
``<think>`` before every action. Wording is drawn from a `random.Random` seeded per
episode, so runs are reproducible and trajectories varied.
"""

from __future__ import annotations

import random
import re
from collections.abc import Generator

from agents.text import action_text, answer_text
from medenv.errors import MedenvError

NOUNS = {
    "phenotype": ("clinical feature", "phenotypic feature", "finding"),
    "disease": ("disease", "disorder", "condition"),
    "gene": ("gene",),
    "inheritance": ("inheritance pattern", "mode of inheritance"),
    "clinical_course": ("clinical course",),
    "modifier": ("clinical modifier",),
    "history": ("past medical history item",),
    "frequency": ("frequency",),
}
# (relation, hop read along the KG edge?) -> the tail described from the head ``{h}``.
ROLE = {
    ("has_phenotype", True): ('{n} seen in "{h}"', '{n} of "{h}"', '{n} that "{h}" presents with'),
    ("has_phenotype", False): ('{n} that presents with "{h}"', '{n} featuring "{h}"'),
    ("is_a", True): ('broader {n} above "{h}"', 'parent {n} of "{h}"'),
    ("is_a", False): ('more specific {n} under "{h}"', '{n} that is a subtype of "{h}"'),
    ("associated_gene", True): ('{n} associated with "{h}"', '{n} linked to "{h}"'),
    ("associated_gene", False): ('{n} associated with the gene "{h}"', '{n} linked to "{h}"'),
    ("has_inheritance", True): ('{n} of "{h}"',),
    ("has_inheritance", False): ('{n} inherited as "{h}"',),
    ("has_clinical_course", True): ('{n} of "{h}"',),
    ("has_clinical_course", False): ('{n} with the course "{h}"',),
    ("has_modifier", True): ('{n} of "{h}"',),
    ("has_modifier", False): ('{n} with the modifier "{h}"',),
    ("has_history", True): ('{n} in the history of "{h}"',),
    ("has_history", False): ('{n} with "{h}" in its history',),
}
GOAL_WORDS = {
    "has_phenotype": "clinical features phenotype presents with",
    "is_a": "kind of subtype broader category",
    "associated_gene": "gene associated with",
    "has_inheritance": "inheritance pattern inherited",
    "has_clinical_course": "clinical course",
    "has_modifier": "clinical modifier",
    "has_history": "past medical history",
}
_RESULT = re.compile(r"^\s*\d+\.\s+(.*?)\s+\|\s+(\S+)\s*$", re.M)
_PAGE = re.compile(r"^URL:\s*(\S+)", re.M)


def find_label(text: str, labels: list[str]) -> str | None:
    """The first (longest-label-first) occurrence of any label in ``text`` as whole words,
    returned exactly as ``text`` writes it; None when none occurs."""
    for label in sorted({lab for lab in labels if lab}, key=len, reverse=True):
        m = re.search(r"(?<![\w])" + re.escape(label) + r"(?![\w])", text, re.I)
        if m:
            return m.group(0)
    return None


def result_urls(observation: str) -> list[tuple[str, str]]:
    """(title, url) of each numbered search result in an observation, in rank order."""
    return [(m.group(1), m.group(2)) for m in _RESULT.finditer(observation)]


class OracleAgent:
    """MTG over one world (its corpus maps result urls to pages). See module docstring.

    ``answer_tool``: probability of answering with the ``answer`` tool call instead of
    ``<answer>``; ``web_first``: probability of starting a hop in the web collection.
    """

    name = "oracle"

    def __init__(
        self,
        world,
        *,
        seed: int = 0,
        answer_tool: float = 0.0,
        web_first: float = 0.1,
        clue_first: float = 0.7,
    ) -> None:
        self.world = world
        self.kg = world.kg
        self.seed = seed
        self.answer_tool = answer_tool
        self.web_first = web_first
        self.clue_first = clue_first
        self.item = None
        self._gen: Generator[str, str, None] | None = None
        self.remaining = 12

    # -- protocol ---------------------------------------------------------------------
    def reset(self, item=None, seed: int | None = None) -> None:
        if item is None or not item.chain or len(item.chain) != len(item.hops) + 1:
            raise MedenvError(
                "the oracle needs the episode's QAItem with its gold chain "
                f"(got {'no item' if item is None else repr(item.id) + ' without a chain'})"
            )
        self.item = item
        self.rng = random.Random(f"{self.seed}|{item.id}|{seed}")
        self._gen = None

    def act(self, observation: str, info: dict) -> str:
        if self.item is None:
            raise MedenvError("call reset(item) before act()")
        self.remaining = int(info.get("budget") or 1)  # steps left, this one included
        if self._gen is None:
            self._gen = self._episode(observation)
            return next(self._gen)
        try:
            return self._gen.send(observation)
        except StopIteration:  # pragma: no cover - the episode always ends with an answer
            raise MedenvError("the oracle was asked to act after answering") from None

    # -- helpers ----------------------------------------------------------------------
    def _labels(self, entity: str) -> list[str]:
        node = self.kg.node(entity)
        return [node.name, *node.synonyms]

    def _noun(self, entity: str) -> str:
        kind = self.kg.node(entity).type
        return self.rng.choice(NOUNS.get(kind, (kind.replace("_", " "),)))

    def _role(self, hop, tail: str, head_name: str) -> str:
        options = ROLE.get((hop.relation, not hop.inverse))
        if options is None:
            verb = self.kg.verbalise(hop.relation, not hop.inverse)
            return f'{self._noun(tail)} that {verb} "{head_name}"'
        return self.rng.choice(options).format(n=self._noun(tail), h=head_name)

    def _clues(self, node_index: int) -> list[str]:
        """Names the question gives about chain[node_index] (its constraints), as written."""
        out = []
        for c in getattr(self.item, "constraints", ()) or ():
            if c.node == node_index and c.entity in self.kg:
                shown = find_label(self.item.question, self._labels(c.entity))
                if shown:
                    out.append(shown)
        return out

    def _stating(self, hop_index: int) -> set[str]:
        ev = self.item.evidence
        return set(ev[hop_index]) if hop_index < len(ev) else set()

    def _doc_id(self, url: str) -> str | None:
        doc = self.world.corpus.get(url)
        return None if doc is None else doc.id

    def _say(self, *options: str) -> str:
        return self.rng.choice(options)

    # -- the episode ------------------------------------------------------------------
    def _episode(self, prompt: str) -> Generator[str, str, None]:
        item = self.item
        chain, hops = item.chain, item.hops
        seen = [item.question]  # everything revealed so far: question + observations
        names: dict[str, str] = {}  # entity id -> its name as revealed
        seed_name = find_label(item.question, self._labels(chain[0]))
        if seed_name is None:
            raise MedenvError(f"question {item.id} does not name its seed entity {chain[0]}")
        names[chain[0]] = seed_name
        answer_noun = self._noun(chain[-1])
        unknown = len(hops)
        opening = self._say(
            f'The question asks for a {answer_noun} and names "{seed_name}". '
            f'There are {unknown} links to resolve, so I will start from "{seed_name}".',
            f'I need a {answer_noun}. The chain starts at "{seed_name}" and takes {unknown} steps; '
            "I will resolve the described entities one at a time.",
            f'Start with the named entity "{seed_name}" and work outwards {unknown} steps '
            f"to the {answer_noun}.",
        )
        preface = opening
        for i, hop in enumerate(hops):
            head, tail = chain[i], chain[i + 1]
            head_name = names[head]
            role = self._role(hop, tail, head_name)
            labels = self._labels(tail)
            clues = self._clues(i + 1)
            stating = self._stating(i)
            found = None
            # an earlier observation that talks about the head may already show the tail
            for earlier in reversed(seen[1:]):
                if find_label(earlier, [head_name]) and (found := find_label(earlier, labels)):
                    break
            if found:
                names[tail] = found
                preface = (f"{preface} " if preface else "") + self._say(
                    f'What I already read answers the next link: "{found}" is the {role}.',
                    f'The text above already shows "{found}" as the {role}.',
                )
                continue
            step_intro = self._say(
                f"Next I need the {role}.",
                f"Now find the {role}.",
                f"What is the {role}? I will search for it.",
                f"The next link is the {role}.",
            )
            if clues:
                step_intro += self._say(
                    f' The question says it relates to "{clues[0]}".',
                    f' The clue for it is "{clues[0]}".',
                    f' It should also match "{clues[0]}".',
                )
            think = f"{preface} {step_intro}" if preface else step_intro
            preface = ""
            tried: set[tuple[str, str, int | None]] = set()
            attempts = self._attempts(head_name, clues)
            for tool, args in attempts:
                if self.remaining <= len(hops) - i:  # keep room for the remaining hops
                    break
                key = (tool, args["query"], args.get("top_k"))
                if key in tried:
                    continue
                tried.add(key)
                obs = yield action_text(think, tool, args)
                seen.append(obs)
                found = find_label(obs, labels)
                if found:
                    break
                # open a result page that states the hop, the head's own page first
                results = result_urls(obs)
                pages = [(t, u) for t, u in results if self._doc_id(u) in stating]
                pages.sort(
                    key=lambda tu: (
                        find_label(tu[0], [head_name]) is None,
                        not tu[1].startswith("https://medref"),
                    )
                )
                if pages and self.remaining > len(hops) - i:
                    title, url = pages[0]
                    goal = f"{GOAL_WORDS.get(hop.relation, hop.relation.replace('_', ' '))} {head_name}"
                    browse_think = self._say(
                        f'The snippets do not show it. The page "{title}" should list it; let me read it.',
                        f'Not in the snippets. I will open "{title}" and look for the {role}.',
                        f'The result "{title}" looks relevant but the snippet is cut. Browsing it.',
                    )
                    obs = yield action_text(browse_think, "browse", {"url": url, "goal": goal})
                    seen.append(obs)
                    found = find_label(obs, labels)
                    if found:
                        break
                think = self._say(
                    "That did not give it. Let me rephrase the search.",
                    "No luck there; I will reformulate.",
                    "Nothing conclusive. Trying a different query.",
                )
            if not found:
                guess = names[head]
                yield answer_text(
                    self._say(
                        "I could not resolve the remaining links within the budget; giving my best guess.",
                        "I am running out of steps and cannot confirm the chain; best guess.",
                    ),
                    guess,
                )
                return
            names[tail] = found
            clue_note = (
                f', which also fits "{clues[0]}"' if clues and self.rng.random() < 0.7 else ""
            )
            preface = self._say(
                f'Found it: "{found}" is the {role}{clue_note}.',
                f'The results give "{found}" as the {role}{clue_note}.',
                f'So the {role} is "{found}"{clue_note}.',
            )
        final = names[chain[-1]]
        think = (
            preface
            + " "
            + self._say(
                f"That was the last link, so the {answer_noun} is {final}.",
                f"All {len(hops)} links are resolved; the answer is {final}.",
                f"This is the {answer_noun} the question asks for.",
            )
        )
        if self.rng.random() < self.answer_tool:
            yield action_text(think, "answer", {"answer": final})
        else:
            yield answer_text(think, final)

    def _attempts(self, head_name: str, clues: list[str]) -> list[tuple[str, dict]]:
        """Queries for one hop, in order: the head's name in one collection, then the
        other, then with more results, then the head plus the question's clue."""
        first, second = (
            ("web_search", "medical_search")
            if self.rng.random() < self.web_first
            else ("medical_search", "web_search")
        )
        out = [(first, {"query": head_name}), (second, {"query": head_name})]
        if clues and self.rng.random() < self.clue_first:
            out.insert(0, (first, {"query": f"{head_name} {clues[0]}"}))
        out.append((first, {"query": head_name, "top_k": 10}))
        if clues:
            out.append((first, {"query": f"{head_name} {clues[0]}"}))
        out.append((second, {"query": head_name, "top_k": 10}))
        return out

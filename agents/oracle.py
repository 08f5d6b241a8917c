"""`OracleAgent`: grounded masked trajectory guidance (MTG), the source of SFT demonstrations.

The oracle is handed the episode's `QAItem` (trusted code only). It uses the gold chain as
the paper's masked guidance does: to know which relation to follow next, and to know when
the candidates consistent with what it has observed are down to one. Everything it writes
is grounded (`medenv.grounding`): every entity it names and every fact it states appears
in the question or an earlier observation of the same episode.

Per unknown chain node (its *facts*: the link to the previous node, whose name a tool has
shown, and the constraints the question names; `medenv.agents.chain_facts`):

1. gather evidence with label-free actions, in a fixed order: a search (10 results) built
   from the question's terms: the most constraining named entity first (fewest KG
   neighbours for its fact), then the relation the question states for it, in the words
   the reference pages use (`kg.verbalise`: read from the item's structure, so it holds
   whatever the question's wording), then the other named entities; then the pages of
   those named entities, the other entities' searches, the web, more results;
2. after each observation (`medenv.agents.evidence`): the *rivals* are every visible entity that
   fits the node's facts (KG), the *choosable* ones those a unit shows with the previous
   node. A choice is made when the evidence decides it: ``single`` (one rival),
   ``evidence`` (shown with more of the facts than any other rival) or ``lookahead`` (of
   tied ones, the only one shown leading to the next link's clue); the think says what
   showed it;
3. when several are shown with every fact (a real ambiguity), they are tried in the order
   the observations listed them (``order``), never by the label: one that leads nowhere
   is checked with a tool (its page), rejected in words ("X does not fit"), and the next
   one is tried (backtracking).

With ``explore`` (a probability per episode, `plans_explore`) the oracle also tries a
*plausible wrong candidate* the observations allow (shown with the previous node, failing
a clue the question names at that node), reads its page, says what the check showed, and
backtracks. Such episodes carry ``recovered=True`` in `medenv.grounding`'s report.

The answer is written in ``<answer>`` (or through the answer tool), with a short
``<think>`` before every action. Wording is drawn from a `random.Random` seeded per
episode, so runs are reproducible and trajectories varied. ``trace`` records each choice
(candidates, evidence, rejections) for tests and analysis.
"""

from __future__ import annotations

import random
import re
from collections.abc import Generator

from medenv.agents.chain_facts import ChainFacts, Fact
from medenv.agents.evidence import Evidence
from medenv.agents.oracle_choose import Choice, Choosing
from medenv.agents.oracle_described import DescribedEntities
from medenv.agents.oracle_gather import Gathering
from medenv.agents.text import action_text, answer_text

from medenv.errors import MedenvError
from medenv.grounding.labels import LabelIndex

__all__ = ["Choice", "OracleAgent", "plans_explore", "result_urls"]

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


_RESULT = re.compile(r"^\s*\d+\.\s+(.*?)\s+\|\s+(\S+)\s*$", re.M)


def result_urls(observation: str) -> list[tuple[str, str]]:
    """(title, url) of each numbered search result in an observation, in rank order."""
    return [(m.group(1), m.group(2)) for m in _RESULT.finditer(observation)]


def plans_explore(agent_seed: int, explore: float, question_id: str, seed: int | None) -> bool:
    """Whether `OracleAgent` (``seed=agent_seed``, ``explore``) plans to explore in the
    episode of ``question_id`` with episode seed ``seed``: known before the episode starts,
    so a rollout can label it in ``episode_started.tags``."""
    return random.Random(f"{agent_seed}|{question_id}|{seed}").random() < explore


class _Budget(Exception):
    """Raised inside the episode generator when the step budget is spent."""


class OracleAgent(Gathering, Choosing, DescribedEntities):
    """Grounded MTG over one world (see the module docstring).

    ``answer_tool``: probability of answering with the ``answer`` tool call instead of
    ``<answer>``; ``web_first``: probability of searching the web collection first;
    ``explore``: probability that an episode tries (and rejects) a plausible wrong candidate.
    """

    name = "oracle"
    FIRST_TOP_K = 10  # first search of a link: 5 results cost ~0.3 more calls per episode

    def __init__(
        self,
        world,
        *,
        seed: int = 0,
        answer_tool: float = 0.0,
        web_first: float = 0.0,
        explore: float = 0.0,
    ) -> None:
        if not 0.0 <= explore <= 1.0:
            raise MedenvError(f"explore must be a probability in [0, 1], got {explore}")
        self.world = world
        self.kg = world.kg
        self.index = LabelIndex.of_kg(world.kg)
        self.seed = seed
        self.answer_tool = answer_tool
        self.web_first = web_first
        self.explore = explore
        self.item = None
        self._gen: Generator[str, str, None] | None = None
        self.remaining = 12
        self.trace: list[Choice] = []
        self._related: dict[Fact, set[str]] = {}  # shared by every episode's ChainFacts
        self.closure = world.kg.closure()  # constraints hold under the ontology closure

    # -- protocol ---------------------------------------------------------------------
    def reset(self, item=None, seed: int | None = None) -> None:
        if item is None or not item.chain or len(item.chain) != len(item.hops) + 1:
            raise MedenvError(
                "the oracle needs the episode's QAItem with its gold chain "
                f"(got {'no item' if item is None else repr(item.id) + ' without a chain'})"
            )
        self.item = item
        self.rng = random.Random(f"{self.seed}|{item.id}|{seed}")
        self.explore_episode = self.rng.random() < self.explore  # = plans_explore(...)
        self._gen = None
        self.trace = []
        self.search_hits: list[bool] = []  # per hop: the first search showed the next entity
        self.cf = ChainFacts(self.kg, item, self._related, self.closure)
        self._steps = 0
        self._confirmed: set[str] = set()  # candidates whose page was read for properties

    def act(self, observation: str, info: dict) -> str:
        if self.item is None:
            raise MedenvError("call reset(item) before act()")
        self.remaining = int(info.get("budget") or 1)  # steps left, this one included
        if self._gen is None:
            self._gen = self._episode(observation)
            text = next(self._gen)
        else:
            try:
                text = self._gen.send(observation)
            except StopIteration:  # pragma: no cover - the episode always ends with an answer
                raise MedenvError("the oracle was asked to act after answering") from None
        self._steps += 1
        return text

    # -- words ---------------------------------------------------------------------------
    def _say(self, *options: str) -> str:
        return self.rng.choice(options)

    def _noun(self, node: int) -> str:
        kind = self.kg.node(self.item.chain[node]).type
        return self.rng.choice(NOUNS.get(kind, (kind.replace("_", " "),)))

    def _name(self, entity: str) -> str:
        return self.ev.label.get(entity) or self.kg.node(entity).name

    def _phrase(self, fact: Fact) -> str:
        """The relation the question states for ``fact``, in the words the anchor's own
        page uses for it (``kg.verbalise``): read from the item's structure, so it holds
        whatever the question's wording. (The question's own relation words put the next
        entity in the first search's results for 79% of hops, these words for 90%.)"""
        return self.kg.verbalise(fact.relation, not fact.anchor_is_source)

    def _named(self, entity: str) -> str | None:
        """How the question (or an observation) wrote ``entity``; None when not shown."""
        return self.ev.label.get(entity)

    # -- the episode ---------------------------------------------------------------------
    def _act(self, think: str, tool: str, args: dict) -> Generator[str, str, str]:
        if self.remaining <= 1:
            raise _Budget
        obs = yield action_text(think, tool, args)
        self.ev.add(obs)
        return obs

    def _episode(self, prompt: str) -> Generator[str, str, None]:
        item = self.item
        self.ev = Evidence(self.index, self.world, item.question)
        seed_name = self._named(item.chain[0])
        n = len(item.hops)
        answer_noun = self._noun(n)
        self.explore_left = False
        self.rejected: set[str] = set()
        self.path: list[str] = []
        if seed_name is None:  # a described seed (obfuscation 1-2): enter at node 1
            self.pending = ""
            try:
                final = yield from self._described_start()
            except _Budget:
                final = None
            if final is None:
                yield answer_text(
                    (self.pending + " " if self.pending else "")
                    + "The question describes its starting entity, and what I found does not "
                    "identify it; I cannot resolve the chain.",
                    "unknown",
                )
                return
            yield from self._final(final, answer_noun, n)
            return
        self.pending = self._say(
            f'The question asks for a {answer_noun} and names "{seed_name}". '
            f"There are {n} links to resolve, so I will start from there.",
            f'I need a {answer_noun}. The chain starts at "{seed_name}" and takes {n} steps; '
            "I will resolve the described entities one at a time.",
            f'Start with the named entity "{seed_name}" and work outwards {n} steps '
            f"to the {answer_noun}.",
        )
        self.explore_left = self.explore_episode
        self.path = [item.chain[0]]  # the entities resolved so far
        try:
            final = yield from self._walk(1, item.chain[0])
        except _Budget:
            final = None
        if final is None:
            guess = self._name(item.chain[0])
            yield answer_text(
                (self.pending + " " if self.pending else "")
                + "I could not resolve the remaining links within the budget; best guess.",
                guess,
            )
            return
        yield from self._final(final, answer_noun, n)

    def _final(self, final: str, answer_noun: str, n: int) -> Generator[str, str, None]:
        """The answer action for the resolved final entity."""
        name = self._name(final)
        think = (self.pending + " " if self.pending else "") + self._say(
            f"That was the last link, so the {answer_noun} is {name}.",
            f"All {n} links are resolved; the answer is {name}.",
            f"This is the {answer_noun} the question asks for.",
        )
        if self.rng.random() < self.answer_tool:
            yield action_text(think, "answer", {"answer": name})
        else:
            yield answer_text(think, name)

    def _walk(self, node: int, head: str) -> Generator[str, str, str | None]:
        """Resolve chain[node:] from ``head``; the final entity, or None at a dead end
        (then ``head`` has been inspected so the caller can reject it in words)."""
        n = len(self.item.chain) - 1
        facts = self.cf.facts(node, head)
        if not self.cf.fit_set(node, head):
            yield from self._inspect(head, facts[0])
            return None
        tried: set[str] = set()
        yield from self._gather(node, head, facts, tried)
        while True:
            pick = self._choose(node, head, facts, tried)
            if pick is None:
                if (yield from self._gather(node, head, facts, tried, more=True)):
                    continue
                pick = self._choose(node, head, facts, tried, final=True)
                if pick is None:
                    raise _Budget  # nothing left to try: give the best guess
            entity, choice = pick
            self.path.append(entity)
            if self.explore_left:
                yield from self._explore(node, head, facts, entity)
            tried.add(entity)
            self.trace.append(choice)
            self.pending = (self.pending + " " if self.pending else "") + self._commit_text(
                node, head, facts, choice
            )
            if node == n:
                return entity
            result = yield from self._walk(node + 1, entity)
            if result is not None:
                return result
            choice.rejected = True
            self.rejected.add(entity)
            self.path.pop()
            if entity not in self.ev.inspected:
                yield from self._inspect(entity, self.cf.facts(node + 1, entity)[0])
            if entity in self.ev.inspected:  # a tool showed its own page or result
                said = self._say(
                    f'"{self._name(entity)}" does not fit: what its page shows does not '
                    "continue the chain. Back to the other candidates.",
                    f'"{self._name(entity)}" is a dead end: nothing it lists matches the next '
                    "clues. I will go back one step.",
                )
            else:  # its page never came up: claim nothing about it
                said = f'I set "{self._name(entity)}" aside and go back to the other candidates.'
            self.pending = (self.pending + " " if self.pending else "") + said

    def _inspect(self, entity: str, fact: Fact, about: str = "") -> Generator[str, str, None]:
        """Show ``entity``'s own page: browse it (goal: the fact's words and ``about``),
        searching its name first when no result has given its url yet."""
        name = self._name(entity)
        url = self.ev.pages.get(entity)
        if url is None:
            think = self._say(
                f'Let me check "{name}" against the next clue.',
                f'I will look "{name}" up to test it.',
            )
            yield from self._act(self._flush(think), "medical_search", {"query": name})
            url = self.ev.pages.get(entity)
        if entity not in self.ev.inspected and url is not None:
            goal = f"{self._phrase(fact)} {about or name}"
            yield from self._act(
                self._flush(f'Reading the page of "{name}".'), "browse", {"url": url, "goal": goal}
            )

    def _flush(self, think: str) -> str:
        out = f"{self.pending} {think}" if self.pending else think
        self.pending = ""
        return out

    def _explore(self, node, head, facts, chosen) -> Generator[str, str, None]:
        """Try a plausible wrong candidate: one shown with ``head`` that fails a clue the
        question names at this node; check its page, say so, and come back."""
        shown = self._shown_sets(facts)
        kind = self.kg.node(self.item.chain[node]).type
        named = [f for f in facts[1:] if self._named(f.anchor)]
        for w in sorted(shown[0], key=lambda e: self.ev.order.get(e, 1 << 30)):
            if w == chosen or w == head or self.kg.node(w).type != kind or w in self.rejected:
                continue
            failed = [f for f in named if w not in self.cf.rel(f)]
            if not failed or self.remaining < len(self.item.chain) - node + 3:
                continue
            clue = self._name(failed[0].anchor)
            self.explore_left = False
            self.pending = (self.pending + " " if self.pending else "") + self._say(
                f'"{self._name(w)}" is listed with "{self._name(head)}". '
                f'I will check whether it also fits "{clue}".',
                f'"{self._name(w)}" appears with "{self._name(head)}"; '
                f'maybe it is the one. Checking it against "{clue}".',
            )
            choice = Choice(node=node, step=self._steps, chosen=w, candidates=[w], reason="explore")
            yield from self._inspect(w, failed[0], clue)
            if self.ev.co_shown(w, failed[0].anchor) or w not in self.ev.inspected:
                return  # the check did not show a mismatch: leave it unsaid
            choice.rejected = True
            self.trace.append(choice)
            self.rejected.add(w)
            self.pending = self._say(
                f'"{self._name(w)}" does not fit: its page does not list "{clue}". '
                "Back to the other candidates.",
                f'The page of "{self._name(w)}" does not mention "{clue}", so it is not the one. '
                "Going back.",
            )
            return

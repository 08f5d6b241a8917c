"""The groundedness rules over one episode (`check_episode`; the rules are stated in
`medenv.grounding`): mentions, claimed facts, negations and browsed urls, checked action by
action against the prompt and the observations shown before that action. Pure: text in,
`GroundingReport` out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import msgspec

from medenv.agents.text import split_action
from medenv.grounding.labels import TOKEN, LabelIndex
from medenv.grounding.units import observation_units

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_NEGATION = re.compile(
    r"\b(not|no|none|neither|nor|never|without|lacks?|lacking|absent|fails?|"
    r"doesn't|isn't|aren't|cannot|can't|rule[sd]? out|reject(?:ed)?|dead end)\b",
    re.I,
)


class Violation(msgspec.Struct, frozen=True):
    """One ungrounded piece of an action: ``kind`` is mention, claim, negation or url."""

    step: int
    kind: str
    text: str


class GroundingReport(msgspec.Struct, frozen=True, kw_only=True):
    grounded: bool
    n_mentions: int
    n_claims: int
    violations: tuple[Violation, ...]
    rejected: tuple[str, ...]  # labels of tried-then-rejected entities

    @property
    def recovered(self) -> bool:
        return bool(self.rejected)


def _norm(label: str) -> tuple[str, ...]:
    return tuple(t.casefold() for t in TOKEN.findall(label))


def _shown(text: str) -> tuple[tuple[str, ...], frozenset[str]]:
    return _norm(text), frozenset(TOKEN.findall(text))


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    """Whether ``needle`` (one word or more) occurs in ``haystack`` as consecutive words."""
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _action_parts(text: str) -> tuple[str, list[str], str | None, list[str]]:
    """(think, argument strings, answer, browse urls) of one action, over every tool call
    it writes (several with ``parallel_calls``; the env runs them all)."""
    think, calls, answer = split_action(text)
    args: list[str] = []
    urls: list[str] = []
    for call in calls:
        for key, value in call["arguments"].items():
            if call["name"] == "browse" and key == "url":
                urls.append(str(value))
            elif call["name"] == "answer" and key == "answer":
                answer = str(value)
            elif isinstance(value, str):
                args.append(value)
    if think is None and not calls and answer is None:
        think = text  # free text: treat it as reasoning
    return think or "", args, answer, urls


def _connected(groups: Sequence[frozenset[str]], units: list[frozenset[str]]) -> bool:
    """Whether the entities (``groups``: one or more) form one group under "named together
    in one unit"."""
    reached = {0}
    frontier = [0]
    while frontier:
        a = frontier.pop()
        for b in range(len(groups)):
            if b not in reached and any(u & groups[a] and u & groups[b] for u in units):
                reached.add(b)
                frontier.append(b)
    return len(reached) == len(groups)


def check_episode(
    prompt: str, steps: Sequence[tuple[str, str | None]], index: LabelIndex
) -> GroundingReport:
    """Check one episode: ``steps`` are ``(action text, observation after it)`` in order.

    Pure: the same inputs give the same report. See the module docstring for the rules.
    """
    seen_raw: list[str] = [prompt]
    # each text shown so far (the prompt, then the observations): its folded words, and
    # its words as written
    seen: list[tuple[tuple[str, ...], frozenset[str]]] = [_shown(prompt)]
    units: list[frozenset[str]] = [frozenset(i for m in index.mentions(prompt) for i in m.ids)]
    inspected: set[str] = set()
    tried: set[str] = set()
    rejected: dict[str, str] = {}
    violations: list[Violation] = []
    n_mentions = n_claims = 0
    final_ids: frozenset[str] = frozenset()
    for step, (text, observation) in enumerate(steps):
        think, args, answer, urls = _action_parts(text)
        for label_text in [think, *args, *([answer] if answer else [])]:
            for m in index.mentions(label_text):
                n_mentions += 1
                norm = _norm(m.label)
                exact = m.label.isupper() and len(norm) == 1
                if not any(  # whole words: "KRT1" is not shown by "KRT10"
                    (m.label in words if exact else _contains(toks, norm))
                    for toks, words in seen
                ):
                    violations.append(Violation(step, "mention", m.label))
        for url in urls:
            if not any(url in raw for raw in seen_raw):
                violations.append(Violation(step, "url", url))
        for sentence in filter(str.strip, _SENTENCE.split(think)):
            groups: list[frozenset[str]] = []
            for m in index.mentions(sentence):
                if m.ids not in groups:
                    groups.append(m.ids)
            if _NEGATION.search(_strip_names(sentence, index)):
                if groups:
                    n_claims += 1
                    if not any(g & inspected for g in groups):
                        violations.append(Violation(step, "negation", sentence.strip()))
                    subject = groups[0]
                    if subject & tried and subject & inspected and not subject & units[0]:
                        label = _first_label(sentence, subject, index)
                        rejected.setdefault(label.casefold(), label)
            elif len(groups) >= 2:
                n_claims += 1
                if not _connected(groups, units):
                    violations.append(Violation(step, "claim", sentence.strip()))
            for g in groups:
                tried |= g
        for a in args:
            for m in index.mentions(a):
                tried |= m.ids
        if answer:
            final_ids = frozenset(i for m in index.mentions(answer) for i in m.ids)
        if observation:
            seen_raw.append(observation)
            seen.append(_shown(observation))
            obs_units, titles = observation_units(observation)
            for u in obs_units:
                units.append(frozenset(i for m in index.mentions(u) for i in m.ids))
            for t in titles:
                inspected |= {i for m in index.mentions(t) for i in m.ids}
    kept = tuple(
        label
        for label in rejected.values()
        if not (final_ids & frozenset(i for m in index.mentions(label) for i in m.ids))
    )
    return GroundingReport(
        grounded=not violations,
        n_mentions=n_mentions,
        n_claims=n_claims,
        violations=tuple(violations),
        rejected=kept,
    )


def _strip_names(sentence: str, index: LabelIndex) -> str:
    """The sentence without its entity names and quoted spans (a name such as "Absent
    sperm flagella" is not a negation)."""
    out = re.sub(r'"[^"]*"', " ", sentence)
    for m in index.mentions(out):
        out = out.replace(m.label, " ")
    return out


def _first_label(sentence: str, ids: frozenset[str], index: LabelIndex) -> str:
    return next(m.label for m in index.mentions(sentence) if m.ids == ids)


def check_texts(prompt: str, actions: Sequence[str], observations: Sequence[str | None], kg):
    """`check_episode` over parallel lists, with the KG's label index (cached per KG)."""
    return check_episode(
        prompt, list(zip(actions, observations, strict=True)), LabelIndex.of_kg(kg)
    )


def report_json(report: GroundingReport) -> str:
    return json.dumps(msgspec.to_builtins(report))

"""Groundedness: does an agent claim only what the question and its observations showed?

Checked per episode, action by action, against the *prompt* (the question) and the tool
observations returned *before* that action:

1. **Entity mentions.** Every knowledge-graph label (a node's name or synonym) written in
   an action (its think, tool arguments and answer) must occur, as whole words, in the
   prompt or an earlier observation. Labels are found longest-first without overlap over
   word tokens; matching is case-insensitive, except that all-capital labels (gene
   symbols such as ``ACE``) match only in capitals, so English words are not read as genes.
2. **Claimed facts.** A think sentence that mentions two or more entities claims they are
   related; the claim is supported when the entities form one connected group under
   "named together in one earlier *unit*" (a unit is the prompt, one numbered search
   result with its passage, or one passage of a browsed page together with its title).
   A sentence with a negation cue ("not", "no", "none", "lacks", ...) claims an absence;
   it is supported when every entity it names is grounded (rule 1) and at least one of
   them was *inspected*: its page was browsed, or a search result titled with it was shown.
3. **Urls.** A ``browse`` url must occur in an earlier observation.

An episode is *grounded* when it has no violation. `recovered` flags an episode that
rejected an entity it had tried: the first entity of a negative sentence, named in an
earlier think or tool argument, inspected, not named in the prompt and not the final
answer (a checked-and-rejected wrong candidate).

The check reads text only, so it applies to any agent (`medenv eval` reports it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

import msgspec

from medenv.agents.text import split_action
from medenv.kg.cache import load_kg
from medenv.worldspec import recorded_spec

_TOKEN = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_NEGATION = re.compile(
    r"\b(not|no|none|neither|nor|never|without|lacks?|lacking|absent|fails?|"
    r"doesn't|isn't|aren't|cannot|can't|rule[sd]? out|reject(?:ed)?|dead end)\b",
    re.I,
)
_RESULT_START = re.compile(r"^\s*\d+\.\s+(.*?)\s+\|\s+(\S+)\s*$")
_PAGE = re.compile(r"^Page:\s*(.*)$")
_URL = re.compile(r"https?://\S+")


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


class Mention(msgspec.Struct, frozen=True):
    label: str  # as written in the text
    ids: frozenset[str]


# the words questions and agents use for entity *types*; some are also KG labels (HPO's
# "Mode of inheritance", "Clinical course", ...), but written as nouns they name no entity
TYPE_NOUNS = frozenset(
    (
        "inheritance", "mode of inheritance", "inheritance pattern", "clinical course",
        "clinical modifier", "modifier", "past medical history", "past medical history item",
        "frequency", "phenotypic abnormality", "phenotype", "clinical feature", "finding",
        "clinical finding", "phenotypic feature", "disease", "disorder", "condition", "gene",
        "course", "onset", "history",
    )
)  # fmt: skip


class LabelIndex:
    """Longest-first, non-overlapping lookup of KG labels in text (see module docstring).
    Labels equal to a type noun (`TYPE_NOUNS`) are not looked up."""

    def __init__(self, labels: Iterable[tuple[str, str]]) -> None:
        self.table: dict[tuple[str, ...], set[str]] = {}
        self.exact: dict[str, set[str]] = {}  # all-capital one-word labels (gene symbols)
        self.prefixes: set[tuple[str, ...]] = set()  # every proper prefix of a label
        for node_id, label in labels:
            toks = tuple(_TOKEN.findall(label))
            if not toks:
                continue
            if label.isupper() and len(toks) == 1:
                self.exact.setdefault(toks[0], set()).add(node_id)
                continue
            folded = tuple(t.casefold() for t in toks)
            if " ".join(folded) not in TYPE_NOUNS:
                self.table.setdefault(folded, set()).add(node_id)
            for n in range(1, len(folded)):
                self.prefixes.add(folded[:n])

    @classmethod
    def of_kg(cls, kg) -> LabelIndex:
        return _kg_index(kg)

    def mentions(self, text: str) -> list[Mention]:
        spans = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        folded = [s[0].casefold() for s in spans]
        out: list[Mention] = []
        i = 0
        while i < len(spans):
            best, ids = 0, None
            key: tuple[str, ...] = ()
            for j in range(i, len(spans)):  # walk the prefix set: the longest label at i
                key = (*key, folded[j])
                hit = self.table.get(key)
                if hit:
                    best, ids = j - i + 1, hit
                if key not in self.prefixes:
                    break
            if best <= 1 and spans[i][0] in self.exact:  # a gene symbol, as written
                best, ids = 1, self.exact[spans[i][0]] | (ids or set())
            if ids is None:
                i += 1
                continue
            out.append(Mention(text[spans[i][1] : spans[i + best - 1][2]], frozenset(ids)))
            i += best
        return out


_INDEXES: dict[int, tuple[object, LabelIndex]] = {}


def _kg_index(kg) -> LabelIndex:
    """One index per KG object (kept while the KG lives; a KG is not hashable)."""
    hit = _INDEXES.get(id(kg))
    if hit is None or hit[0] is not kg:
        index = LabelIndex((n.id, lab) for n in kg.nodes() for lab in (n.name, *n.synonyms) if lab)
        hit = _INDEXES[id(kg)] = (kg, index)
    return hit[1]


def observation_units(observation: str) -> tuple[list[str], list[str]]:
    """Split an observation into units, and the titles it *inspects* (browsed page titles
    and search result titles). See the module docstring."""
    lines = observation.splitlines()
    page = next((m.group(1) for m in map(_PAGE.match, lines[:1]) if m), None)
    if page is not None:
        body = [ln for ln in lines[1:] if ln.strip() and not ln.startswith("URL:")]
        return [f"{page}\n{ln}" for ln in body] or [page], [page]
    units: list[str] = []
    titles: list[str] = []
    current: list[str] = []
    for ln in lines:
        m = _RESULT_START.match(ln)
        if m:
            if current:
                units.append("\n".join(current))
            current = [ln]
            titles.append(m.group(1))
        elif current:
            current.append(ln)
        elif ln.strip():
            units.append(ln)
    if current:
        units.append("\n".join(current))
    return units, titles


def _norm(label: str) -> tuple[str, ...]:
    return tuple(t.casefold() for t in _TOKEN.findall(label))


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _action_parts(text: str) -> tuple[str, list[str], str | None, list[str]]:
    """(think, argument strings, answer, browse urls) of one action."""
    think, calls, answer = split_action(text)
    args: list[str] = []
    urls: list[str] = []
    for call in calls[:1]:
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
    if len(groups) < 2:
        return True
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
    seen_tokens: list[tuple[str, ...]] = [_norm(prompt)]
    seen_raw: list[str] = [prompt]
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
                if not any(
                    (m.label in raw if exact else _contains(toks, norm))
                    for toks, raw in zip(seen_tokens, seen_raw, strict=True)
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
            seen_tokens.append(_norm(observation))
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


_LOG_SQL = """
SELECT e.run_id, e.episode_id, e.seq, e.type,
    CASE e.type WHEN 'episode_started' THEN e.payload->>'$.prompt'
        WHEN 'action_received' THEN e.payload->>'$.text'
        ELSE e.payload->>'$.observation' END AS text,
    TRY_CAST(e.payload->>'$.step' AS INTEGER) AS step
FROM events e
WHERE e.type IN ('episode_started', 'action_received', 'tool_returned', 'action_rejected')
    {where}
ORDER BY e.run_id, e.episode_id, e.seq
"""


_BY_SOURCE: dict[object, LabelIndex | None] = {}  # per process: a KG loads once


def index_for_source(source: str | None, spec=None) -> LabelIndex | None:
    """The label index of the KG named ``source`` (loaded once per process), or None when
    that KG cannot be loaded (an unknown source, no cache and no data). ``spec`` (a
    `medenv.worldspec.WorldSpec`, e.g. the one a run recorded) names a graph read from
    files (an edge list, a Hetionet folder), which ``source`` alone cannot load."""
    files = spec is not None and not spec.is_default
    key = (spec.source, repr(spec.path), repr(spec.kg_options())) if files else source
    if key not in _BY_SOURCE:
        try:
            if files:
                kg = spec.load_kg()
            else:
                kg = load_kg(source, progress=False) if source else None
            _BY_SOURCE[key] = LabelIndex.of_kg(kg) if kg is not None else None
        except Exception:  # an unknown or unavailable KG: no groundedness for it
            _BY_SOURCE[key] = None
    return _BY_SOURCE[key]


def ground_log(
    con, runs: Sequence[str] | None = None, world=None
) -> dict[tuple[str, str], GroundingReport]:
    """`check_episode` for every episode in an event log (a DuckDB connection with the
    ``events`` table), keyed by ``(run_id, episode_id)``. Each run is checked against the
    KG its ``run_started`` event names (the recorded world spec of a graph read from
    files; ``world``, a `WorldSpec`, overrides it); runs whose KG cannot be loaded are
    left out."""
    sources, specs = {}, {}
    for run_id, source, recorded in con.execute(
        "SELECT run_id, any_value(payload->>'$.kg_source'), "
        "any_value(payload->'$.config'->>'$.world') FROM events "
        "WHERE type = 'run_started' GROUP BY run_id"
    ).fetchall():
        sources[run_id] = source
        specs[run_id] = world if world is not None else recorded_spec(recorded)
    # only runs whose KG loads are checked: read the text of those runs alone
    checked = sorted(r for r in sources if index_for_source(sources[r], specs[r]) is not None)
    if runs is not None:
        checked = [r for r in checked if r in set(runs)]
    if not checked:
        return {}
    where = f"AND e.run_id IN ({', '.join('?' for _ in checked)})"
    params = checked
    episodes: dict[tuple[str, str], dict] = {}
    for run_id, episode_id, _seq, kind, text, step in con.execute(
        _LOG_SQL.format(where=where), params
    ).fetchall():
        if not episode_id:
            continue
        ep = episodes.setdefault((run_id, episode_id), {"prompt": "", "steps": {}})
        if kind == "episode_started":
            ep["prompt"] = text or ""
        elif kind == "action_received":
            ep["steps"][step] = [text or "", None]
        elif step in ep["steps"]:
            prev = ep["steps"][step][1]
            ep["steps"][step][1] = (text or "") if prev is None else f"{prev}\n{text or ''}"
    out: dict[tuple[str, str], GroundingReport] = {}
    for key, ep in episodes.items():
        index = index_for_source(sources.get(key[0]), specs.get(key[0]))
        if index is None or not ep["prompt"]:
            continue
        steps = [tuple(ep["steps"][s]) for s in sorted(ep["steps"])]
        out[key] = check_episode(ep["prompt"], steps, index)
    return out

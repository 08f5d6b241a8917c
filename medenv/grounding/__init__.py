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

The package, one concept per module (lowest first; no module imports a later one):
`medenv.grounding.labels` (finding KG labels in text, `LabelIndex`, `index_for_source`),
`medenv.grounding.units` (what an observation shows: its units and inspected titles),
`medenv.grounding.check` (the rules over one episode, `check_episode`) and
`medenv.grounding.log` (every episode of an event log, `ground_log`).
"""

from __future__ import annotations

from medenv.grounding.check import (
    GroundingReport,
    Violation,
    check_episode,
    check_texts,
    report_json,
)
from medenv.grounding.labels import TYPE_NOUNS, LabelIndex, Mention, index_for_source
from medenv.grounding.log import ground_log
from medenv.grounding.units import observation_units

__all__ = [
    "TYPE_NOUNS",
    "GroundingReport",
    "LabelIndex",
    "Mention",
    "Violation",
    "check_episode",
    "check_texts",
    "ground_log",
    "index_for_source",
    "observation_units",
    "report_json",
]

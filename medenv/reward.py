"""Rewards: answer matching, the composite episode reward, and the evidence process signal.

The composite reward is paid once, at the end of an episode (0 on every other step)::

    total = w.accuracy * accuracy + w.format * format + w.efficiency * efficiency

- ``accuracy``: 1.0 when the submitted answer matches the gold answer or an alias (or the
  answer's KG id) after `normalize_answer`, in any of their `answer_forms` (natural order
  of inverted catalogue names, "Leukemia, acute monocytic" = "acute monocytic leukemia";
  the last word singular or plural, "Granulomas" = "Granuloma"), else 0.0.
- ``format``: ``max(0, 1 - 0.5 * n_format_errors)`` (each malformed action costs half);
  without a submitted answer only half of that, and 0.0 when no tool call was made either.
- ``efficiency``: 0.0 unless the answer is correct; then ``max(0, 1 - excess / optimal)``
  in *research calls*, the paper's unit (tool calls without the final answer):
  ``calls = n_tool_calls - 1`` for an answered episode (the env counts the answer as a
  call), ``optimal = item.optimal_calls - 1`` (``optimal_calls`` keeps its meaning: the
  gold chain's hops plus the answer, so ``optimal = n_hops``), ``excess = max(0, calls -
  optimal)``; ``optimal`` is at least 1.

Halving format without an answer, and gating efficiency on a correct answer, keeps a policy
from earning much by never answering or by answering instantly at random, while a policy that
follows the tool-call protocol but runs out of turns still gets a learning signal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import msgspec

from medenv.kg.names import natural_order
from medenv.synth.qa import QAItem

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NON_WORD = re.compile(r"[^\w]+")


class RewardWeights(msgspec.Struct, frozen=True, kw_only=True):
    accuracy: float = 1.0
    format: float = 0.2
    efficiency: float = 0.2


class RewardComponents(msgspec.Struct, frozen=True, kw_only=True):
    accuracy: float
    format: float
    efficiency: float
    total: float


def normalize_answer(text: str) -> str:
    """Case-, accent-, punctuation- and article-insensitive form (Greek letters are kept)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_forms(text: str) -> set[str]:
    """The normalised forms an answer may take: `normalize_answer` of the text and of its
    natural word order, each with its last word singular and plural."""
    out: set[str] = set()
    for form in {text, natural_order(text)}:
        base = normalize_answer(form)
        if not base:
            continue
        words = base.split(" ")
        last = words[-1]
        out.add(base)
        if len(last) >= 4 and last.isalpha():
            if last.endswith("es") and len(last) > 5:
                out.add(" ".join([*words[:-1], last[:-2]]))
            if last.endswith("s") and not last.endswith(("ss", "is")):
                out.add(" ".join([*words[:-1], last[:-1]]))
            else:
                out.add(" ".join([*words[:-1], last + "s"]))
    return out


def is_correct(prediction: str | None, item: QAItem) -> bool:
    """True when ``prediction`` matches the item's answer, an alias or its KG id."""
    if not prediction:
        return False
    guess = normalize_answer(prediction)
    if not guess:
        return False
    gold = (item.answer, *item.aliases, item.answer_id)
    if any(guess == normalize_answer(g) for g in gold if g):
        return True
    forms = answer_forms(prediction)
    return any(not forms.isdisjoint(answer_forms(g)) for g in gold if g)


def weights_from(value: RewardWeights | dict | None) -> RewardWeights:
    """Accept weights as a `RewardWeights`, a dict of its fields, or None (the defaults)."""
    if value is None:
        return RewardWeights()
    if isinstance(value, RewardWeights):
        return value
    from medenv.errors import MedenvError

    try:
        return msgspec.convert(value, RewardWeights)
    except msgspec.ValidationError as exc:
        raise MedenvError(f"bad reward_weights {value!r}: {exc}") from None


def compute_reward(
    item: QAItem,
    prediction: str | None,
    n_tool_calls: int,
    n_format_errors: int,
    weights: RewardWeights | None = None,
) -> RewardComponents:
    """The end-of-episode reward; ``prediction`` is None when no answer was submitted."""
    w = weights or RewardWeights()
    answered = prediction is not None
    accuracy = 1.0 if is_correct(prediction, item) else 0.0
    fmt = max(0.0, 1.0 - 0.5 * n_format_errors)
    if not answered:  # protocol followed but no answer: half credit, none without a call
        fmt = 0.5 * fmt if n_tool_calls > 0 else 0.0
    calls = research_calls(n_tool_calls, answered)
    optimal = max(1, item.optimal_calls - 1)
    excess = max(0, calls - optimal)
    efficiency = max(0.0, 1.0 - excess / optimal) if accuracy else 0.0
    total = w.accuracy * accuracy + w.format * fmt + w.efficiency * efficiency
    return RewardComponents(
        accuracy=accuracy, format=fmt, efficiency=efficiency, total=round(total, 10)
    )


def research_calls(n_tool_calls: int, answered: bool) -> int:
    """Tool calls without the final answer (the paper's unit): the env counts the answer
    as one call, so an answered episode made ``n_tool_calls - 1`` research calls."""
    return max(0, n_tool_calls - (1 if answered else 0))


def evidence_recall(item: QAItem, retrieved_doc_ids: Iterable[str]) -> float:
    """Fraction of gold hops with at least one evidence page among ``retrieved_doc_ids``.

    0.0 for items without evidence (e.g. external QA sets).
    """
    if not item.evidence:
        return 0.0
    seen = set(retrieved_doc_ids)
    covered = sum(1 for pages in item.evidence if seen.intersection(pages))
    return covered / len(item.evidence)

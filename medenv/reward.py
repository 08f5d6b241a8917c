"""Rewards: answer matching and the episode reward as a list of named, weighted terms.

The reward is paid once, at the end of an episode (0 on every other step). It is a `Rubric`:
an ordered list of `RewardTerm(name, fn, weight)`; every term's ``fn(outcome)`` is computed
on the ended episode's `EpisodeOutcome` and logged (``reward_assigned.components``), and

    total = round(sum(term.weight * fn(outcome) for term in rubric.terms), 10)

so a weight-0 term is a metric: logged, not paid. `DEFAULT_TERMS` is the one list of the
built-in terms; `RewardWeights`, the ``reward_*`` fields of ``GRPOTrainConfig`` and the TRL
reward functions (`medenv.trl.COMPONENTS`) are all derived from it:

- ``accuracy`` (weight 1.0): 1.0 when the submitted answer matches the gold answer or an
  alias (or the answer's KG id) after `normalize_answer`, in any of their `answer_forms`
  (natural order of inverted catalogue names, "Leukemia, acute monocytic" = "acute monocytic
  leukemia"; the last word singular or plural, "Granulomas" = "Granuloma"), else 0.0.
- ``format`` (0.2): ``max(0, 1 - 0.5 * n_format_errors)`` (each malformed action costs
  half); without a submitted answer only half of that, and 0.0 when no tool call was made.
- ``efficiency`` (0.2): 0.0 unless the answer is correct; then ``max(0, 1 - excess /
  optimal)`` in *research calls*, the paper's unit (tool calls without the final answer):
  ``calls = n_tool_calls - 1`` for an answered episode (the env counts the answer as a
  call), ``optimal = item.optimal_calls - 1`` (``optimal_calls`` keeps its meaning: the
  gold chain's hops plus the answer, so ``optimal = n_hops``), ``excess = max(0, calls -
  optimal)``; ``optimal`` is at least 1.
- ``evidence_recall`` (0.0, a metric until given a weight): `evidence_recall` of the pages
  the episode retrieved or browsed.

Halving format without an answer, and gating efficiency on a correct answer, keeps a policy
from earning much by never answering or by answering instantly at random, while a policy that
follows the tool-call protocol but runs out of turns still gets a learning signal.

Adding a term (a judge score, a length penalty) needs no edit here: pass
``reward_terms=[RewardTerm("short", fn, 0.1)]`` to ``gym.make("MedResearch-v0", ...)`` (added
to the defaults) or a whole `Rubric` (it replaces them); ``reward_weights={"name": w}``
re-weights any term by name. A term's ``fn`` takes the `EpisodeOutcome` and returns a finite
float; for vector envs (pickled to worker processes) it must be a module-level function.
"""

from __future__ import annotations

import importlib
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import msgspec

from medenv.errors import MedenvError
from medenv.kg.names import natural_order
from medenv.qa import QAItem

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NON_WORD = re.compile(r"[^\w]+")


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
        if not base:  # then the other form is empty too: `break` would be equivalent
            continue  # pragma: no mutate
        words = base.split(" ")  # pragma: no mutate (single spaces: split() is the same)
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


def research_calls(n_tool_calls: int, answered: bool) -> int:
    """Tool calls without the final answer (the paper's unit): the env counts the answer
    as one call, so an answered episode made ``n_tool_calls - 1`` research calls."""
    return max(0, n_tool_calls - (1 if answered else 0))


def optimal_research_calls(optimal_calls: int) -> int:
    """The gold chain's research calls: ``optimal_calls`` counts the answer too, so this is
    ``optimal_calls - 1`` (= ``n_hops``), at least 1."""
    return max(1, optimal_calls - 1)


def evidence_recall(item: QAItem, retrieved_doc_ids: Iterable[str]) -> float:
    """Fraction of gold hops with at least one evidence page among ``retrieved_doc_ids``.

    0.0 for items without evidence (e.g. external QA sets).
    """
    if not item.evidence:
        return 0.0
    seen = set(retrieved_doc_ids)
    covered = sum(1 for pages in item.evidence if seen.intersection(pages))
    return covered / len(item.evidence)


class EpisodeOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a reward term reads about an ended episode. ``prediction`` is None when no
    answer was submitted; ``correct`` is `is_correct` of it; ``retrieved`` are the doc ids
    the episode's tool calls returned, in order."""

    item: QAItem
    prediction: str | None
    n_tool_calls: int
    n_format_errors: int
    retrieved: tuple[str, ...] = ()
    steps: int = 0
    terminated: bool = False
    truncated: bool = False
    correct: bool = False


def outcome(
    item: QAItem,
    prediction: str | None,
    n_tool_calls: int,
    n_format_errors: int,
    retrieved: Iterable[str] = (),
    *,
    steps: int = 0,
    terminated: bool = False,
    truncated: bool = False,
) -> EpisodeOutcome:
    """An `EpisodeOutcome` with ``correct`` filled in (answer matching runs once)."""
    return EpisodeOutcome(
        item=item, prediction=prediction, n_tool_calls=int(n_tool_calls),
        n_format_errors=int(n_format_errors), retrieved=tuple(retrieved), steps=int(steps),
        terminated=terminated, truncated=truncated, correct=is_correct(prediction, item),
    )  # fmt: skip


@dataclass(frozen=True)
class RewardTerm:
    """One named reward term: ``fn(outcome) -> float``, paid ``weight`` times (0: a metric)."""

    name: str
    fn: Callable[[EpisodeOutcome], float]
    weight: float = 1.0


def accuracy_term(o: EpisodeOutcome) -> float:
    return 1.0 if o.correct else 0.0


def format_term(o: EpisodeOutcome) -> float:
    fmt = max(0.0, 1.0 - 0.5 * o.n_format_errors)
    if o.prediction is None:  # protocol followed but no answer: half credit, none without a call
        fmt = 0.5 * fmt if o.n_tool_calls > 0 else 0.0
    return fmt


def efficiency_term(o: EpisodeOutcome) -> float:
    if not o.correct:
        return 0.0
    calls = research_calls(o.n_tool_calls, o.prediction is not None)
    optimal = optimal_research_calls(o.item.optimal_calls)
    return max(0.0, 1.0 - max(0, calls - optimal) / optimal)


def evidence_recall_term(o: EpisodeOutcome) -> float:
    return evidence_recall(o.item, o.retrieved)


DEFAULT_TERMS: tuple[RewardTerm, ...] = (
    RewardTerm("accuracy", accuracy_term, 1.0),
    RewardTerm("format", format_term, 0.2),
    RewardTerm("efficiency", efficiency_term, 0.2),
    RewardTerm("evidence_recall", evidence_recall_term, 0.0),
)
TERM_NAMES: tuple[str, ...] = tuple(t.name for t in DEFAULT_TERMS)

# the default terms' weights as a typed struct (a field per term, its default weight)
RewardWeights = msgspec.defstruct(
    "RewardWeights",
    [(t.name, float, t.weight) for t in DEFAULT_TERMS],
    frozen=True,
    kw_only=True,
    module=__name__,
)


def _check_weight(name: str, weight: object, what: str = "reward term") -> None:
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        raise MedenvError(f"{what}: the weight of {name!r} must be a finite number, got {weight!r}")


class RewardScore(msgspec.Struct, frozen=True, kw_only=True):
    """Every term's value (``components``, weight-0 terms included), the weights used and
    the weighted ``total``. ``score.accuracy`` reads ``components["accuracy"]``."""

    components: dict[str, float]
    weights: dict[str, float]
    total: float

    def __getattr__(self, name: str) -> float:
        try:
            return self.components[name]
        except KeyError:
            raise AttributeError(name) from None


class Rubric:
    """An ordered list of `RewardTerm`s with unique names. Compose with ``+`` (a term or
    another rubric; a repeated name is an error) and re-weight with `reweighted`."""

    def __init__(self, terms: Iterable[RewardTerm] = DEFAULT_TERMS) -> None:
        self.terms: tuple[RewardTerm, ...] = tuple(terms)
        for t in self.terms:  # before reading names: a non-term is one clear error
            if not isinstance(t, RewardTerm):
                raise MedenvError(f"a reward term must be a RewardTerm, got {type(t).__name__}")
        names = [t.name for t in self.terms]
        for t in self.terms:
            if not isinstance(t.name, str) or not t.name.isidentifier():
                raise MedenvError(f"reward term name {t.name!r} is not an identifier")
            if not callable(t.fn):
                raise MedenvError(f"reward term {t.name!r}: fn is not callable")
            _check_weight(t.name, t.weight)
            if names.count(t.name) > 1:
                raise MedenvError(f"reward term {t.name!r} is given twice")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.terms)

    @property
    def weights(self) -> dict[str, float]:
        return {t.name: float(t.weight) for t in self.terms}

    def __add__(self, other: RewardTerm | Rubric) -> Rubric:
        extra = (other,) if isinstance(other, RewardTerm) else tuple(other.terms)
        return Rubric((*self.terms, *extra))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rubric) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(self.terms)

    def __repr__(self) -> str:
        return f"Rubric({', '.join(f'{t.name}={t.weight}' for t in self.terms)})"

    def reweighted(self, weights: Mapping[str, float] | msgspec.Struct | None) -> Rubric:
        """This rubric with the weights of the terms ``weights`` names (a mapping or a
        `RewardWeights`) replaced; an unknown name or a non-finite weight is a
        `MedenvError` (``bad reward_weights ...``)."""
        if weights is None:
            return self
        if isinstance(weights, msgspec.Struct):
            weights = msgspec.to_builtins(weights)
        if not isinstance(weights, Mapping):
            raise MedenvError(f"bad reward_weights {weights!r}: expected a mapping of term names")
        unknown = sorted(set(weights) - set(self.names))
        if unknown:
            raise MedenvError(
                f"bad reward_weights {dict(weights)!r}: no reward term {unknown[0]!r} "
                f"(terms: {', '.join(self.names)})"
            )
        for name, w in weights.items():
            _check_weight(name, w, "bad reward_weights")
        return Rubric(
            RewardTerm(t.name, t.fn, float(weights.get(t.name, t.weight))) for t in self.terms
        )

    def score(self, o: EpisodeOutcome) -> RewardScore:
        """Every term on ``o``; a term returning a non-number or a non-finite value is a
        `MedenvError` naming it."""
        components: dict[str, float] = {}
        total = 0.0
        for t in self.terms:
            value = t.fn(o)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise MedenvError(f"reward term {t.name!r} returned {value!r}, not a number")
            if not math.isfinite(value):
                raise MedenvError(f"reward term {t.name!r} returned {value!r}")
            components[t.name] = float(value)
            total += t.weight * float(value)
        return RewardScore(components=components, weights=self.weights, total=round(total, 10))


DEFAULT_RUBRIC = Rubric(DEFAULT_TERMS)


def rubric_from(
    terms: Rubric | Iterable[RewardTerm] | None = None,
    weights: Mapping[str, float] | msgspec.Struct | None = None,
) -> Rubric:
    """The env's rubric: ``terms`` a `Rubric` (used as it is), a list of extra
    `RewardTerm`s (appended to `DEFAULT_TERMS`) or None (the defaults); then ``weights``
    re-weights terms by name."""
    if isinstance(terms, Rubric):
        rubric = terms
    elif isinstance(terms, RewardTerm):
        rubric = DEFAULT_RUBRIC + terms
    else:
        rubric = Rubric((*DEFAULT_TERMS, *(terms or ())))
    return rubric.reweighted(weights)


def term_refs(rubric: Rubric) -> dict[str, str]:
    """``{name: "module:qualname"}`` of the rubric's terms that are not `DEFAULT_TERMS`
    (logged in the run config, so `medenv.verify` can import them again)."""
    return {
        t.name: f"{getattr(t.fn, '__module__', '?')}:{getattr(t.fn, '__qualname__', '?')}"
        for t in rubric.terms
        if not any(t.name == d.name and t.fn is d.fn for d in DEFAULT_TERMS)
    }


def rubric_from_config(weights: Mapping[str, float], refs: Mapping[str, str] | None) -> Rubric:
    """The rubric a run logged: its terms in the order of ``weights`` (the run config's
    ``reward_weights``), default terms by name, others imported from ``refs``
    (`term_refs`). `MedenvError` when a term cannot be found or imported (a lambda, a
    test-local function): pass ``reward_terms=`` to rebuild that env."""
    defaults = {t.name: t for t in DEFAULT_TERMS}
    refs = dict(refs or {})
    terms = []
    for name, weight in weights.items():
        ref = refs.get(name)
        if ref is None:
            if name not in defaults:
                raise MedenvError(f"reward term {name!r} is not a medenv term and was not logged")
            terms.append(RewardTerm(name, defaults[name].fn, weight))
            continue
        # equivalent mutant (rpartition): no module name or qualname holds ":"
        module, _, qualname = str(ref).partition(":")  # pragma: no mutate
        try:
            fn = importlib.import_module(module)
            for part in qualname.split("."):
                fn = getattr(fn, part)
        except (ImportError, AttributeError, ValueError):
            raise MedenvError(
                f"reward term {name!r} ({ref}) cannot be imported: pass reward_terms= to rebuild "
                "the env"
            ) from None
        terms.append(RewardTerm(name, fn, weight))
    return Rubric(terms)


def weights_from(value: Mapping[str, float] | msgspec.Struct | None) -> RewardWeights:
    """The default terms' weights from a `RewardWeights`, a dict of some of them, or None."""
    if isinstance(value, RewardWeights):
        return value
    weights = rubric_from(None, value).weights
    return RewardWeights(**weights)


def compute_reward(
    item: QAItem,
    prediction: str | None,
    n_tool_calls: int,
    n_format_errors: int,
    weights: Mapping[str, float] | msgspec.Struct | Rubric | None = None,
    retrieved: Iterable[str] = (),
) -> RewardScore:
    """The end-of-episode reward of the default terms (or of ``weights`` when it is a
    `Rubric`); ``prediction`` is None when no answer was submitted."""
    rubric = weights if isinstance(weights, Rubric) else rubric_from(None, weights)
    return rubric.score(outcome(item, prediction, n_tool_calls, n_format_errors, retrieved))

"""Optional LLM judge for answers that do not match the gold answer by string.

Off by default. A judge is any callable ``generate(messages) -> str`` (an `medenv.agents.backends`
backend fits as ``lambda m: backend.generate(m, [])``); :func:`lexical_judge` is a built-in
deterministic one (word-order and punctuation-insensitive matching) that needs no model.

Each judge pass is a run of its own in the same event store (run id ``judge-<time>-<hex>``):
one run-level ``judge_verdict`` event per judged episode, payload `JudgeVerdict` ``{v,
run_id, episode_id, question_id, prediction, gold, model, prompt_hash, key, correct, raw,
cached}`` (``run_id``/``episode_id`` name the judged episode), so scores are auditable. Verdicts are cached by
``key = sha256(question, gold answer, prediction, judge model, prompt hash)``: a key already
present anywhere in the log is reused without calling the judge again, so re-running the
evaluation gives the same scores. `medenv.evaluation` counts an episode as judged-correct
when its latest verdict says so.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
from tqdm import tqdm

from medenv.errors import MedenvError
from medenv.events.schema import JudgeVerdict  # the ``judge_verdict`` payload (re-exported)
from medenv.events.store import EventStore, connect, new_run_id, resolve_files

Generate = Callable[[list[dict]], str]

JUDGE_SYSTEM = (
    "You grade answers to medical research questions. Decide whether the candidate answer "
    "names the same entity as the reference answer. Synonyms, abbreviations, spelling and "
    "word-order variants count as the same; a broader, narrower or different entity does "
    "not. Reply with exactly one word: CORRECT or INCORRECT."
)
JUDGE_USER = (
    "Question: {question}\n"
    "Reference answer: {gold}\n"
    "Also accepted: {aliases}\n"
    "Candidate answer: {prediction}\n"
    "Verdict:"
)
PROMPT_HASH = hashlib.sha256((JUDGE_SYSTEM + "\n" + JUDGE_USER).encode()).hexdigest()[:12]

_VERDICT = re.compile(r"\b(INCORRECT|CORRECT)\b", re.IGNORECASE)
# the fields of a `judge_messages` chat, read by position: the candidate answer is the
# agent's text, so a line in it that looks like a field is part of the answer
_FIELDS = re.compile(
    r"Question: (?P<question>.*?)\nReference answer: (?P<gold>.*?)\n"
    r"Also accepted: (?P<aliases>.*?)\nCandidate answer: (?P<prediction>.*)\nVerdict:",
    re.DOTALL,
)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


class JudgeSummary(msgspec.Struct, frozen=True):
    candidates: int  # wrong-by-string episodes with an answer
    judged: int  # verdicts written now
    cached: int  # of those, taken from the cache (no judge call)
    already: int  # episodes that already had a verdict for this judge
    correct: int  # verdicts written now that say correct


def judge_messages(question: str, gold: str, aliases: Sequence[str], prediction: str) -> list[dict]:
    """The chat sent to the judge (its text is fixed: ``PROMPT_HASH`` identifies it)."""
    user = JUDGE_USER.format(
        question=question.strip(),
        gold=gold,
        aliases="; ".join(aliases) if aliases else "(none)",
        prediction=prediction,
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(text: str) -> bool | None:
    """True/False from the judge's reply (first CORRECT/INCORRECT word); None if neither."""
    if not text:
        return None
    m = _VERDICT.search(_THINK.sub("", text))
    if m is None:
        return None
    return m.group(1).upper() == "CORRECT"


def cache_key(
    question: str, gold: str, prediction: str, model: str, prompt_hash: str = PROMPT_HASH
) -> str:
    blob = json.dumps([question, gold, prediction, model, prompt_hash], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _words(text: str) -> frozenset[str]:
    # accents dropped: NFKD splits them off their letters, and every non-ASCII character goes
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii()).lower()
    return frozenset(
        w for w in re.split(r"[^a-z0-9]+", text) if w and w not in {"the", "a", "an", "of"}
    )


def lexical_judge(messages: list[dict]) -> str:
    """A deterministic judge without a model: reads the prompt of :func:`judge_messages`.

    CORRECT when the candidate's words (lower-cased, accents and punctuation dropped,
    articles and "of" ignored) equal those of the reference or an accepted alias, in any
    order; otherwise INCORRECT. An answer without words is never correct; the fields are
    read by their place in the chat, so a candidate answer that writes "Also accepted: X"
    on a line of its own adds no alias.
    """
    fields = _FIELDS.fullmatch(messages[-1]["content"])
    if fields is None:  # not a chat of `judge_messages`
        return "INCORRECT"
    refs = [fields["gold"]]
    if fields["aliases"] != "(none)":
        refs += fields["aliases"].split("; ")
    cand = _words(fields["prediction"])
    ok = bool(cand) and any(cand == _words(r) for r in refs)
    return "CORRECT" if ok else "INCORRECT"


_CANDIDATES_SQL = r"""
WITH ev AS (
    SELECT run_id, episode_id, seq, type, payload FROM events
    WHERE ? OR list_contains(?::VARCHAR[], run_id)),  -- every run, or those listed
starts AS (
    SELECT run_id, episode_id, payload->>'$.question_id' AS question_id,
        coalesce(payload->>'$.prompt', '') AS question,
        coalesce(payload->>'$.answer', '') AS gold,
        coalesce(payload->>'$.aliases', '[]') AS aliases
    FROM ev WHERE type = 'episode_started'),
rewards AS (
    SELECT run_id, episode_id, arg_max(TRY_CAST(payload->>'$.correct' AS BOOLEAN), seq) AS correct
    FROM ev WHERE type = 'reward_assigned' GROUP BY ALL),
answers AS (
    SELECT run_id, episode_id, arg_max(payload->>'$.answer', seq) AS prediction
    FROM ev WHERE type = 'answer_submitted' GROUP BY ALL)
SELECT s.run_id, s.episode_id, s.question_id, s.question, s.gold, s.aliases, a.prediction
FROM starts s JOIN answers a USING (run_id, episode_id)
LEFT JOIN rewards r USING (run_id, episode_id)
WHERE NOT coalesce(r.correct, false) AND trim(coalesce(a.prediction, '')) <> ''
ORDER BY s.run_id, s.episode_id
"""

_VERDICTS_SQL = """
SELECT payload->>'$.run_id', payload->>'$.episode_id', payload->>'$.key',
    payload->>'$.raw', TRY_CAST(payload->>'$.correct' AS BOOLEAN)
FROM events WHERE type = 'judge_verdict' ORDER BY ts, run_id, seq
"""


def judge_log(
    db: str | Path | Sequence[str | Path],
    generate: Generate,
    model: str,
    runs: Sequence[str] | None = None,
    progress: bool = True,
) -> JudgeSummary:
    """Judge every episode in the store(s) ``db`` whose answer did not match by string.

    ``db``: paths (shards included), a folder or a glob, as for `events.store.connect`.

    Writes one ``judge_verdict`` event per newly judged episode (cache hits included, marked
    ``cached``); episodes that already have a verdict with the same key are skipped.
    """

    path = resolve_files(db)[0]  # verdicts go to the first file (the main one)
    if isinstance(path, str):  # Parquet shards (medenv.events.parquet): read-only
        raise MedenvError(
            f"--judge writes judge_verdict events into a DuckDB store; {path} holds Parquet "
            "shards: judge the DuckDB store, then export it again"
        )
    con = connect(db)
    try:
        candidates = con.execute(_CANDIDATES_SQL, [not runs, list(runs or ())]).fetchall()
        previous = con.execute(_VERDICTS_SQL).fetchall()
    except Exception as exc:
        raise MedenvError(f"cannot read the event log {path}: {exc}") from exc
    finally:
        con.close()
    cache: dict[str, tuple[str, bool]] = {}
    done: set[tuple[str, str, str]] = set()
    for run_id, episode_id, key, raw, correct in previous:  # judged run, episode
        cache[key] = (raw, bool(correct))
        done.add((run_id, episode_id, key))

    new: list[JudgeVerdict] = []
    already = 0
    for run_id, episode_id, qid, question, gold, aliases_json, prediction in tqdm(
        candidates, desc=f"judge ({model})", disable=not progress, unit="answer"
    ):
        key = cache_key(question, gold, prediction, model)
        if (run_id, episode_id, key) in done:
            already += 1
            continue
        hit = key in cache
        if hit:
            raw, correct = cache[key]
        else:
            try:
                aliases = [str(a) for a in json.loads(aliases_json or "[]")]
            except json.JSONDecodeError:
                aliases = []
            raw = generate(judge_messages(question, gold, aliases, prediction))
            parsed = parse_verdict(raw)
            correct = bool(parsed)
            cache[key] = (raw, correct)
        verdict = JudgeVerdict(
            run_id=run_id,
            episode_id=episode_id, question_id=qid or episode_id, prediction=prediction,
            gold=gold, model=model, prompt_hash=PROMPT_HASH, key=key, correct=correct,
            raw=raw, cached=hit,
        )  # fmt: skip
        new.append(verdict)
        done.add((run_id, episode_id, key))
    if new:
        _append_verdicts(path, new)
    return JudgeSummary(
        candidates=len(candidates),
        judged=len(new),
        cached=sum(v.cached for v in new),
        already=already,
        correct=sum(v.correct for v in new),
    )


def _append_verdicts(path: Path, verdicts: list[JudgeVerdict]) -> str:
    """Write the verdicts as one judge run in the store at ``path``; returns its run id."""
    with EventStore(path, run_id="judge-" + new_run_id(), durability="episode") as store:
        for verdict in verdicts:
            store.emit(verdict)
        store.end_episode(None)
        return store.run_id

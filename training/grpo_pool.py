"""A GRPO question pool the start model answers *sometimes*: ``medenv train pool``.

GRPO learns from the spread of the reward inside a group of rollouts of one question
(the advantage is the reward minus the group mean). A question that every rollout gets
wrong, or every rollout gets right, gives the accuracy term no spread, so the policy
gradient cannot move the answer choice; only the format and evidence terms are left
(issue 21: with a pool of the first training questions by id the training accuracy was 0
in every step of every run). This module picks the questions where the accuracy term does
vary:

1. `candidate_items`: a seeded draw of ``candidates`` questions from the split (and hop
   counts) GRPO trains on -- ``random.Random(seed).sample`` of the ids in sorted order;
2. `sample_pass_counts`: the start model answers each one ``k`` times
   (`medenv.agents.rollout.rollout` with ``k`` samples, the llm agent at the training
   temperature, its episode seeds derived from ``seed``), every episode logged in ``db``
   tagged ``{"pool": True}``;
3. `pass_counts` reads (passes, samples) per question back from the event log
   (`medenv.events.episodes.load_episodes`);
4. `select_learnable` (pure): the questions with ``0 < passes < samples``, those nearest a
   pass rate of 1/2 first (the largest within-group variance ``p (1 - p)``), ties by id,
   at most ``size`` of them.

With ``stratify``, the questions are grouped by `relation_pattern` (what a question asks:
its chain's relations in order, e.g. ``associated_gene^-1`` for "which disease is
associated with the gene ..."): the draw interleaves the patterns and the selection takes
the best question of each pattern in turn, so the pool asks every kind of question the
draw holds. A pool of one pattern teaches the policy that pattern's query for every
question (issue 21: GRPO on two gene -> disease questions turned held-out "is a kind of"
and "is a clinical feature of" first queries into "is a gene associated with").

`build_pool` runs the three steps and writes the `Pool` (candidates, counts, selected ids
and every setting) as JSON. It samples the candidates in draw order, ``chunk`` at a time,
and stops early: once ``size`` questions are learnable (the pool is full), or once the
first ``patience`` candidates (``patience`` > 0) have given no correct answer at all (the
model answers next to nothing: a pool is hopeless, GRPO falls back to all questions).
``counts`` then holds the candidates sampled, ``stopped`` says why sampling ended; ``medenv train grpo --pool POOL.json`` trains on its selected
questions, and ``make learn`` records it in ``summary.json``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import msgspec
from medenv.agents.factory import AgentSpec
from medenv.agents.rollout import rollout

from medenv.curriculum import parse_hops, select_hops
from medenv.errors import MedenvError
from medenv.evaluation import resolve_db_paths
from medenv.events.episodes import load_episodes
from medenv.paths import check_not_yours, check_out_file, write_file
from medenv.questions import load_questions


class Pool(msgspec.Struct, kw_only=True):
    """A selected GRPO pool and how it was chosen."""

    model: str
    k: int  # samples per candidate question
    temperature: float
    seed: int
    split: str | None
    hops: str | None
    env_max_steps: int
    max_new_tokens: int
    candidates: list[str]  # the seeded draw, in draw order
    counts: dict[str, list[int]]  # question id -> [passes, samples], from the event log
    selected: list[str]  # 0 < passes < samples, nearest 1/2 first, at most `size`
    size: int
    # why sampling ended: "all" (every candidate sampled), "full" (`size` learnable found),
    # "patience" (no correct answer in the first `patience` candidates)
    stopped: str = "all"
    patience: int = 0
    stratify: bool = False
    strata: dict[str, str] = {}  # sampled question id -> its relation pattern (stratify)
    # the file's record of itself (`medenv.paths.medenv_wrote`): {its name: writer}, so a
    # later `train pool --out` replaces it but never a file of yours of the same name
    files: dict[str, str] = {}


def relation_pattern(item) -> str:
    """What a question asks: its hops' relations in order, an inverse hop marked ``^-1``
    (``associated_gene^-1 > is_a``)."""
    return " > ".join(h.relation + ("^-1" if h.inverse else "") for h in item.hops)


def candidate_items(items: Sequence, candidates: int, seed: int, stratify: bool = False) -> list:
    """A seeded draw of ``candidates`` items (all of them if fewer), in draw order:
    ``random.Random(seed).sample`` over the items sorted by id. ``stratify``: each
    `relation_pattern`'s items drawn so (patterns by name), then interleaved -- the first
    of every pattern, the second of every pattern, ... -- and cut at ``candidates``."""
    ordered = sorted(items, key=lambda i: i.id)
    if stratify:
        groups: dict[str, list] = {}
        for item in ordered:
            groups.setdefault(relation_pattern(item), []).append(item)
        drawn = [candidate_items(groups[k], 0, seed) for k in sorted(groups)]
        mixed = [g[i] for i in range(max(map(len, drawn), default=0)) for g in drawn if i < len(g)]
        return mixed if candidates <= 0 else mixed[:candidates]
    if candidates <= 0 or candidates >= len(ordered):
        return random.Random(seed).sample(ordered, len(ordered))
    return random.Random(seed).sample(ordered, candidates)


def pass_counts(db: str | Path) -> dict[str, list[int]]:
    """Question id -> [correct episodes, episodes] over every scored episode in ``db``
    (a file or glob; shards included), from the one episode projection (`load_episodes`)."""
    counts: dict[str, list[int]] = {}
    for ep in load_episodes(resolve_db_paths([str(db)])):
        if ep.correct is None:  # not scored
            continue
        c = counts.setdefault(ep.question_id, [0, 0])
        c[0] += int(ep.correct)
        c[1] += 1
    return counts


def select_learnable(
    counts: dict[str, Sequence[int]], size: int, strata: dict[str, str] | None = None
) -> list[str]:
    """The ids with ``0 < passes < samples``, the pass rate nearest 1/2 first (ties by
    id; exact fractions, so 1/3 and 2/3 tie), at most ``size`` (``size <= 0``: all of
    them). With ``strata`` (id -> relation pattern): in rounds, each round the best
    remaining id of every pattern that has one, the round's ids in that same order. Pure."""
    mixed = [(Fraction(abs(2 * p - n), 2 * n), qid) for qid, (p, n) in counts.items() if 0 < p < n]
    chosen = [qid for _, qid in sorted(mixed)]
    if strata is not None:
        rank: dict[str, int] = {}
        nth = []
        for qid in chosen:  # the how-many-th of its pattern, in the order above
            key = strata[qid]
            rank[key] = rank.get(key, 0) + 1
            nth.append(rank[key])
        chosen = [qid for _, _, qid in sorted(zip(nth, range(len(chosen)), chosen, strict=True))]
    return chosen if size <= 0 else chosen[:size]


def stop_reason(
    counts: dict[str, Sequence[int]],
    size: int,
    patience: int,
    strata: dict[str, str] | None = None,
    patterns: int = 0,
) -> str | None:
    """Why sampling more candidates is pointless, given the counts of those sampled so
    far: ``"full"`` when ``size`` > 0 of them are learnable (`select_learnable`) -- with
    ``strata``, and they cover ``min(size, patterns)`` relation patterns (``patterns``:
    how many the draw holds) --, ``"patience"`` when at least ``patience`` > 0 were sampled
    and none was ever answered correctly; None: sample on. Pure."""
    chosen = select_learnable(counts, size, strata) if size > 0 else []
    if size > 0 and len(chosen) >= size:
        if strata is None or len({strata[q] for q in chosen}) >= min(size, patterns):
            return "full"
    if patience > 0 and len(counts) >= patience and not any(p for p, _ in counts.values()):
        return "patience"
    return None


def sample_pass_counts(
    model: str,
    items: Sequence,
    db: str | Path,
    *,
    k: int,
    temperature: float,
    seed: int,
    env_max_steps: int,
    max_new_tokens: int,
    threads: int | None = None,
    progress: bool = False,
) -> dict[str, list[int]]:
    """Answer every item ``k`` times with ``model`` (the llm agent sampling at
    ``temperature``, its saved prompt contract) into ``db``; the pass counts read back.
    Reruns resume (finished episodes are skipped)."""
    options = {"temperature": temperature, "max_new_tokens": max_new_tokens, "threads": threads}
    spec = AgentSpec("llm", {"model": model, "backend_options": options})
    rollout(spec, list(items), db=db, seed=seed, k=k, max_steps=env_max_steps,
            tags={"pool": True}, progress=progress)  # fmt: skip
    wanted = {i.id for i in items}
    return {qid: c for qid, c in pass_counts(db).items() if qid in wanted}


def build_pool(
    model: str,
    qa: str | None,
    out: str | Path,
    *,
    size: int = 8,
    candidates: int = 48,
    k: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    split: str | None = "train",
    hops: str | None = None,
    env_max_steps: int = 4,
    max_new_tokens: int = 96,
    threads: int | None = None,
    progress: bool = True,
    items: Sequence | None = None,
    chunk: int = 4,
    patience: int = 0,
    early_stop: bool = True,
    stratify: bool = False,
) -> Pool:
    """Draw, sample and select (module docstring); writes the `Pool` to ``out`` (JSON) and
    the sampled episodes to ``out``'s ``.duckdb`` sibling. ``items``: already loaded QA
    items to draw from (``qa``, ``split`` and ``hops`` then only label the pool).
    ``early_stop=False`` samples every candidate (``chunk`` and ``patience`` unused);
    ``stratify``: draw and select by relation pattern (module docstring)."""
    if k < 2:
        raise MedenvError(f"--k must be at least 2 (a pass rate strictly between 0 and 1), got {k}")
    if not temperature > 0:
        raise MedenvError(
            f"--temperature must be > 0 (greedy answers never vary), got {temperature}"
        )
    out = check_out_file(out, "--out")  # a folder there: refused before any sampling
    # a file of yours there (not a pool that records itself): refused before any sampling
    check_not_yours(out.parent, [out.name], out.name, f"--out {out}", "medenv train pool", out)
    if items is None:
        items = select_hops(load_questions(qa, "hpo", split), parse_hops(hops))
    if not items:
        raise MedenvError(f"no {split or ''} questions in {qa or 'the default QA set'}")
    if chunk < 1 or patience < 0:
        raise MedenvError(f"--chunk must be >= 1 and --patience >= 0, got {chunk}, {patience}")
    drawn = candidate_items(items, candidates, seed, stratify)
    strata = {i.id: relation_pattern(i) for i in drawn} if stratify else None
    patterns = len(set(strata.values())) if strata else 0
    out.parent.mkdir(parents=True, exist_ok=True)
    step = len(drawn) if not early_stop else chunk
    counts: dict[str, list[int]] = {}
    stopped, done = "all", 0
    while done < len(drawn):
        part = drawn[done : done + step]
        counts.update(sample_pass_counts(
            model, part, out.with_suffix(".duckdb"), k=k, temperature=temperature, seed=seed,
            env_max_steps=env_max_steps, max_new_tokens=max_new_tokens, threads=threads,
            progress=progress,
        ))  # fmt: skip
        done += len(part)
        reason = (
            stop_reason(counts, size, patience, strata, patterns)
            if early_stop and done < len(drawn)
            else None
        )
        if reason:
            stopped = reason
            break
    sampled = drawn[:done]
    pool = Pool(
        model=model, k=k, temperature=temperature, seed=seed, split=split, hops=hops,
        env_max_steps=env_max_steps, max_new_tokens=max_new_tokens,
        candidates=[i.id for i in drawn],
        counts={i.id: counts.get(i.id, [0, 0]) for i in sampled},
        selected=select_learnable(counts, size, strata), size=size, stopped=stopped,
        patience=patience, stratify=stratify,
        strata={i.id: strata[i.id] for i in sampled} if strata else {},
        files={out.name: "medenv train pool"},
    )  # fmt: skip
    write_file(out, msgspec.json.format(msgspec.json.encode(pool)))
    return pool


def load_pool(path: str | Path) -> Pool:
    """A pool written by `build_pool`; a missing or malformed file is one clear error."""
    path = Path(path)
    try:
        return msgspec.json.decode(path.read_bytes(), type=Pool)
    except FileNotFoundError:
        raise MedenvError(
            f"{path}: no such pool file (write one with `medenv train pool`)"
        ) from None
    except msgspec.DecodeError as exc:
        raise MedenvError(f"{path}: not a GRPO pool file ({exc})") from None

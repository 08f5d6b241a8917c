"""Export recorded episodes from the event store: SFT, RL prompts, Minari, BrowseComp-Plus.

Everything here reads only the DuckDB event log (`medenv.events.store.connect`): the QA
files, corpus and indexes are not needed, so a log copied to another machine exports the
same datasets.

- `load_episodes(db)`: the log -> `EpisodeRecord`s (one per recorded episode, in order; the
  one projection, `medenv.events.episodes`, with the tool schemas filled in).
- `select_episodes(records, ...)`: rejection sampling for SFT: keep correct answers
  within budget and without format errors (``grounded_only``: and grounded, see
  `medenv.grounding`); with several samples of a question keep the shortest correct one
  (fewest tool calls; ties by episode id), or with ``diverse`` every correct one that
  takes a different path (its sequence of tool calls), recovery trajectories first.
- Rows carry ``grounded`` (`medenv.grounding` over the episode; None when the run's KG
  cannot be loaded), ``recovered`` (it checked and rejected a candidate it had tried) and
  ``guided`` (recorded under masked trajectory guidance: the guidance was in the teacher's
  context only, never in the logged prompt, so the row's prompt is the plain question).
- Tool-call counts in stats and ``max_tool_calls`` are research calls: tool calls without
  the final answer (the paper's unit; `EpisodeRecord.research_calls`).
- `sft_rows(records)`: chat rows ``{"messages", "tools", "question_id", "specialty",
  "n_hops"}`` (see docs/CONTRACTS.md "Training data format"); `write_sft` writes them as
  JSONL (arguments as JSON objects) and as a Hugging Face dataset (arguments and tools as
  JSON strings, so every row has one Arrow schema; TRL's `SFTTrainer` accepts it as is).
- `rl_rows(records)`: one prompt per question (``id``, ``question``, ``prompt`` messages;
  ``answer``/``aliases`` only as separate columns for reward functions, never in prompts).
- `write_minari(records, out)`: a Minari dataset (optional extra ``minari``).
- `write_browsecomp(records, out)`: one BrowseComp-Plus run JSON per query.
- `trajectory_stats(records)`: counts, accuracy and mean tool calls, by specialty and hops.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from medenv.agents.messages import SYSTEM_PROMPT, assistant_message, initial_messages, tool_message
from medenv.agents.text import split_action, think_block
from medenv.training.export_folder import claim, commit, locked, names_for, staging
from medenv.training.token_lengths import load_tokenizer, write_token_report

from medenv.errors import MedenvError
from medenv.events import episodes
from medenv.events.episodes import EpisodeRecord, StepRecord, store_paths  # noqa: F401
from medenv.grounding.check import check_episode
from medenv.grounding.labels import index_for_source, index_problem
from medenv.paths import write_file, writing
from medenv.tools.registry import tool_schemas
from medenv.worldspec import recorded_spec

FORMATS = ("sft", "rl", "minari", "browsecomp")


def annotate_grounding(records: Iterable[EpisodeRecord], world=None) -> list[str]:
    """Set ``grounded``/``recovered`` on each record (`medenv.grounding.check_episode`
    against the KG its run names, or its recorded world spec; ``world``, a `WorldSpec`,
    overrides both); left None when that KG cannot be loaded. Returns one note per KG that
    could not be loaded: why, and how many episodes were left without groundedness."""
    unknown: dict[str, int] = defaultdict(int)
    for ep in records:
        spec = world or recorded_spec(ep.world)
        index = index_for_source(ep.kg_source, spec)
        if index is None:
            why = index_problem(ep.kg_source, spec)
            if why is not None:
                unknown[why] += 1
            continue
        report = check_episode(ep.prompt, [(s.text, s.observation) for s in ep.steps], index)
        ep.grounded, ep.recovered = report.grounded, report.recovered
    return [f"groundedness unknown for {n} episode(s): {why}" for why, n in unknown.items()]


def load_episodes(
    db: str | Path | Sequence[str | Path],
    *,
    ended_only: bool = True,
    notes: list[str] | None = None,
) -> list[EpisodeRecord]:
    """`medenv.events.episodes.load_episodes` with each record's ``tools`` filled from the
    tool registry (the declared schemas of the run's tools) when the log holds none."""
    records = episodes.load_episodes(db, ended_only=ended_only, notes=notes)
    for ep in records:
        if not ep.tools:
            ep.tools = tool_schemas(ep.tool_names or None)
    return records


def select_episodes(
    records: Iterable[EpisodeRecord],
    *,
    correct_only: bool = True,
    max_tool_calls: int | None = None,
    shortest_per_question: bool = True,
    allow_format_errors: bool = False,
    agent: str | None = None,
    grounded_only: bool = False,
    diverse: bool = False,
) -> list[EpisodeRecord]:
    """Rejection sampling: the trajectories worth training on, in a stable order."""
    records = list(records)
    if grounded_only and any(ep.grounded is None for ep in records):
        annotate_grounding(records)
    kept = []
    for ep in records:
        if agent is not None and ep.agent != agent:
            continue
        if correct_only and not ep.correct:
            continue
        if ep.truncated or not ep.terminated and correct_only:
            continue
        if max_tool_calls is not None and ep.research_calls > max_tool_calls:
            continue
        if not allow_format_errors and ep.n_format_errors:
            continue
        if grounded_only and not ep.grounded:
            continue
        kept.append(ep)
    if diverse:
        return _diverse(kept)
    if not shortest_per_question:
        return kept
    best: dict[str, EpisodeRecord] = {}
    for ep in kept:
        cur = best.get(ep.question_id)
        if cur is None or (ep.n_tool_calls, ep.episode_id) < (cur.n_tool_calls, cur.episode_id):
            best[ep.question_id] = ep
    order = {id(ep): i for i, ep in enumerate(kept)}
    return sorted(best.values(), key=lambda ep: order[id(ep)])


def _path(ep: EpisodeRecord) -> tuple:
    return tuple((s.name, json.dumps(s.arguments, sort_keys=True)) for s in ep.steps)


def _diverse(kept: list[EpisodeRecord]) -> list[EpisodeRecord]:
    """Per question, every kept episode whose tool-call path no earlier pick took;
    recovery trajectories are picked first, then fewer calls, then episode id."""
    seen: dict[str, set[tuple]] = defaultdict(set)
    picked: set[int] = set()
    for ep in sorted(kept, key=lambda e: (not e.recovered, e.n_tool_calls, e.episode_id)):
        path = _path(ep)
        if path not in seen[ep.question_id]:
            seen[ep.question_id].add(path)
            picked.add(id(ep))
    return [ep for ep in kept if id(ep) in picked]


# -- SFT ---------------------------------------------------------------------------------
def episode_messages(ep: EpisodeRecord, system: str | None = SYSTEM_PROMPT) -> list[dict]:
    """The episode as chat messages in the training format (final turn: ``<answer>``)."""
    messages = initial_messages(ep.prompt, system)
    for s in ep.steps:
        if s.rejected is not None:
            messages.append({"role": "assistant", "content": s.text.strip()})
            messages.append({"role": "user", "content": s.observation or s.rejected})
            continue
        if s.answer is not None or s.name == "answer":
            think, _, _ = split_action(s.text)
            answer = s.answer if s.answer is not None else str(s.arguments.get("answer", ""))
            messages.append(
                {"role": "assistant", "content": think_block(think) + f"<answer>{answer}</answer>"}
            )
            break
        msg = assistant_message(s.text)
        if s.name and msg.get("tool_calls"):
            # the arguments the env executed are the truth (the text may carry extra calls)
            msg["tool_calls"] = [
                {"type": "function", "function": {"name": s.name, "arguments": s.arguments}}
            ]
        messages.append(msg)
        if s.name is not None:
            messages.append(tool_message(s.name, s.observation or ""))
    return messages


def sft_rows(records: Iterable[EpisodeRecord], system: str | None = SYSTEM_PROMPT) -> list[dict]:
    """Chat rows in the contract's SFT format (arguments and tools as JSON objects)."""
    return [
        {
            "messages": episode_messages(ep, system),
            "tools": ep.tools,
            "question_id": ep.question_id,
            "specialty": ep.specialty,
            "n_hops": ep.n_hops,
            "grounded": ep.grounded,
            "recovered": ep.recovered,
            "guided": ep.guided,
        }
        for ep in records
    ]


def arrow_row(row: dict) -> dict:
    """A row with one Arrow schema for all rows: arguments and tools as JSON strings."""
    messages = []
    for m in row["messages"]:
        out = {
            "role": m["role"],
            "content": m.get("content") or "",
            "name": m.get("name"),
            "tool_calls": None,
        }
        if m.get("tool_calls"):
            out["tool_calls"] = [
                {
                    "type": "function",
                    "function": {
                        "name": c["function"]["name"],
                        "arguments": json.dumps(c["function"]["arguments"], ensure_ascii=False),
                    },
                }
                for c in m["tool_calls"]
            ]
        messages.append(out)
    return {**row, "messages": messages, "tools": json.dumps(row["tools"], ensure_ascii=False)}


def sft_dataset(rows: list[dict]):
    """A Hugging Face `datasets.Dataset` of ``rows`` that TRL's `SFTTrainer` takes as is."""
    from datasets import Dataset

    return Dataset.from_list([arrow_row(r) for r in rows])


def _write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    n = 0
    with writing(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_sft(records: list[EpisodeRecord], out: str | Path, *, hf: bool = True) -> Path:
    """``out/sft.jsonl`` and (``hf``) the dataset under ``out/sft_dataset/``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = sft_rows(records)
    _write_jsonl(out / "sft.jsonl", rows)
    if hf and rows:
        with writing(out / "sft_dataset") as tmp:
            sft_dataset(rows).save_to_disk(str(tmp))
    return out / "sft.jsonl"


# -- RL ----------------------------------------------------------------------------------
def rl_rows(records: Iterable[EpisodeRecord], system: str | None = SYSTEM_PROMPT) -> list[dict]:
    """One prompt per question (first occurrence). ``answer``/``aliases`` stay out of the
    prompt; they are separate columns for reward functions."""
    seen: set[str] = set()
    rows = []
    for ep in records:
        if ep.question_id in seen:
            continue
        seen.add(ep.question_id)
        rows.append(
            {
                "id": ep.question_id,
                "question": ep.prompt,
                "prompt": initial_messages(ep.prompt, system),
                "specialty": ep.specialty,
                "n_hops": ep.n_hops,
                "split": ep.split,
                "answer": ep.answer,
                "aliases": list(ep.aliases),
            }
        )
    return rows


def write_rl(records: list[EpisodeRecord], out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / "rl_prompts.jsonl", rl_rows(records))
    return out / "rl_prompts.jsonl"


# -- BrowseComp-Plus and Minari: training/browsecomp_export.py, training/minari_export.py --
from medenv.training.browsecomp_export import browsecomp_run, write_browsecomp  # noqa: E402,F401
from medenv.training.minari_export import MINARI_MISSING, minari_available, write_minari  # noqa: E402,F401


# -- statistics --------------------------------------------------------------------------
def _summary(eps: list[EpisodeRecord]) -> dict:
    calls = [ep.research_calls for ep in eps]
    return {
        "trajectories": len(eps),
        "accuracy": round(sum(bool(ep.correct) for ep in eps) / len(eps), 4) if eps else 0.0,
        "mean_tool_calls": round(statistics.fmean(calls), 3) if calls else 0.0,
        "grounded": _share([ep.grounded for ep in eps]),
        "recovered": _share([ep.recovered for ep in eps]),
        "guided": round(sum(ep.guided for ep in eps) / len(eps), 4) if eps else 0.0,
    }


def _share(flags: list[bool | None]) -> float | None:
    known = [f for f in flags if f is not None]
    return round(sum(known) / len(known), 4) if known else None


def trajectory_stats(records: list[EpisodeRecord]) -> dict:
    """Totals plus the same figures by specialty and by hop count."""
    by_spec: dict[str, list] = defaultdict(list)
    by_hops: dict[int, list] = defaultdict(list)
    for ep in records:
        by_spec[ep.specialty].append(ep)
        by_hops[ep.n_hops].append(ep)
    return {
        **_summary(records),
        "by_specialty": {k: _summary(v) for k, v in sorted(by_spec.items())},
        "by_hops": {str(k): _summary(v) for k, v in sorted(by_hops.items())},
    }


def format_stats(stats: dict) -> str:
    lines = [
        f"trajectories {stats['trajectories']}  accuracy {stats['accuracy']:.3f}  "
        f"mean tool calls (answer excluded) {stats['mean_tool_calls']:.2f}"
    ]
    for title, key in (("specialty", "by_specialty"), ("hops", "by_hops")):
        lines.append(f"  by {title}:")
        for k, v in stats[key].items():
            lines.append(
                f"    {k:<28} n={v['trajectories']:<6} acc={v['accuracy']:.3f} calls={v['mean_tool_calls']:.2f}"
            )
    return "\n".join(lines)


def export(
    db: str | Path | Sequence[str | Path],
    out: str | Path,
    formats: Sequence[str] = ("sft",),
    *,
    select: bool = True,
    max_tool_calls: int | None = None,
    agent: str | None = None,
    hf: bool = True,
    tokenizer: str | None = None,
    grounded_only: bool = False,
    diverse: bool = False,
    world=None,
) -> dict:
    """Export the store to ``out`` in each of ``formats``; writes and returns ``stats.json``.

    Afterwards ``out`` holds exactly this export's files (`medenv.training.export_folder`:
    written aside and moved in at the end, so a failed export leaves the earlier one; files
    an earlier export wrote and this one does not are removed; a file in the way that no
    export wrote is refused, other files are left and listed in ``left_as_is``).

    ``select`` applies rejection sampling to SFT/Minari/BrowseComp output (RL prompts use
    every question seen). Stats cover all recorded episodes and the selected ones.
    ``tokenizer`` (with ``sft``): per-row token lengths (`medenv.training.token_lengths`).
    ``world`` (a `medenv.worldspec.WorldSpec`): the graph groundedness is checked against,
    instead of the one each run recorded.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise MedenvError(f"unknown export format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    names = names_for(formats, hf=hf, tokenizer=tokenizer)
    claim(out, names)  # refuse before any work: a file of ours-to-be that we did not write
    # a --tokenizer that loads no tokenizer fails now, not once the rows are written
    loaded = load_tokenizer(tokenizer) if tokenizer is not None and "sft" in formats else None
    notes: list[str] = []  # lines of a spool the read could not take
    every = load_episodes(db, ended_only=False, notes=notes)
    records = [ep for ep in every if ep.ended]  # unfinished ones are counted, not exported
    if not records:
        raise MedenvError(f"the event store {db} has no finished episodes to export")
    if agent is not None:
        agents = sorted({ep.agent for ep in records})
        records = [ep for ep in records if ep.agent == agent]
        if not records:
            raise MedenvError(
                f"the event store {db} has no finished episodes of agent {agent!r} "
                f"(agents: {', '.join(a or '(none)' for a in agents)})"
            )
    notes += annotate_grounding(records, world)  # every exported row carries its groundedness
    chosen = (
        select_episodes(
            records, max_tool_calls=max_tool_calls, grounded_only=grounded_only, diverse=diverse
        )
        if select
        else list(records)
    )
    stats = {
        "recorded": trajectory_stats(records),
        "selected": trajectory_stats(chosen),
        "unfinished": len(every) - len(records),  # cut off by a kill: rerun on resume
        "notes": notes,
        "files": {},
    }
    # only once there is something to write; `medenv.training.export_folder`
    with locked(out), staging(out) as stage:
        ours, others = claim(out, names)  # again, now that no other export writes here
        for fmt in formats:
            if fmt == "sft":
                stats["files"]["sft"] = write_sft(chosen, stage, hf=hf)
                if tokenizer is not None:
                    stats["sft_tokens"] = write_token_report(
                        sft_rows(chosen), tokenizer, stage, loaded
                    )
                    stats["sft_tokens"]["file"] = str(out / Path(stats["sft_tokens"]["file"]).name)
            elif fmt == "rl":
                stats["files"]["rl"] = write_rl(records, stage)
            elif fmt == "browsecomp":
                stats["files"]["browsecomp"] = write_browsecomp(chosen, stage, db=db)
            elif fmt == "minari":
                dataset = write_minari(chosen, stage, db=db)
                stats["files"]["minari"] = stage / "minari" / dataset.spec.dataset_id
        stats["files"] = {k: str(out / p.relative_to(stage)) for k, p in stats["files"].items()}
        written = sorted({p.name for p in stage.iterdir()} | {"stats.json"})
        stats["written"] = written
        stats["removed"] = sorted(ours - set(written))  # an earlier export's, not rewritten
        stats["left_as_is"] = others  # not written by a medenv export: never touched
        write_file(stage / "stats.json", json.dumps(stats, indent=1))
        commit(stage, out, ours)
    return stats

"""Evaluation: metrics and reports as queries over the event log.

Everything here reads only the DuckDB ``events`` table (``run_id, episode_id, seq, ts, type,
payload JSON``) through ``json_extract``, so it depends on the event contract and nothing
else. One SQL query turns the log into one :class:`EpisodeRecord` per started episode; the
metrics are pure functions over those records.

Definitions (per group; a group is a run, or the value of a tag such as ``agent``):

- ``accuracy``: share of episodes whose reward says ``correct`` (answer or alias matched);
  an episode that never ended counts as wrong. ``accuracy_ci``: percentile bootstrap
  interval over episodes (seeded, ``n_bootstrap`` resamples, 95 % by default).
- ``judged_accuracy``: as ``accuracy``, but an episode also counts as correct when the
  latest ``judge_verdict`` event for it says so (see `medenv.judge`); ``None`` when no
  episode of the group was judged.
- ``pass_at_k``: the unbiased estimator ``1 - C(n-c, k) / C(n, k)`` averaged over
  questions, for k = 1, 2, 4, ... up to the fewest samples any question of the group has.
- ``mean_tool_calls`` / ``median_tool_calls``: research calls, the paper's unit: tool calls
  *without the final answer* (``episode_ended.n_tool_calls``, falling back to the number of
  ``tool_called`` events, minus one for an answered episode, since the env counts the
  answer as a call).
- ``tool_call_efficiency``: mean over *correct* episodes of
  ``min(1, (optimal_calls - 1) / max(1, research calls))`` (``optimal_calls`` counts the
  answer too, so ``optimal_calls - 1 = n_hops``; 1.0 = no more calls than the gold chain
  needs; fewer, e.g. a lucky guess, also counts as 1.0).
- ``grounded``: share of episodes whose every entity mention and claimed fact appears in
  the question or an earlier observation (`medenv.grounding`; checked against the KG the
  run names, ``None`` when it cannot be loaded); ``recovered``: share of episodes that
  checked and rejected a candidate they had tried.
- ``format_error_rate``: rejected actions / actions received (``action_rejected`` over
  steps); ``format_error_episodes``: share of episodes with at least one rejected action.
- ``mean_tokens``: episode length in whitespace-separated tokens of the prompt, every
  action and every observation (tool results and format-error messages) (what the model reads and writes; an approximation of
  model tokens, which the log does not record); ``mean_action_tokens``: the model-written
  part only. ``None`` when the log has no ``action_received`` events.
- ``evidence_recall``: mean of ``reward_assigned.evidence_recall`` (share of gold hops
  whose evidence pages the agent retrieved or browsed).
- Items of external QA sets (``item.kg_source == "external"``: no gold chain) have no hops,
  rarity, optimal calls or evidence: they count for accuracy, pass@k, calls, format errors
  and tokens, and are left out of efficiency and evidence recall.
- Breakdowns by specialty, hops and rarity bucket on the item's rarity in [0, 1]
  (`medenv.synth.rarity`: ``common`` < 0.5 <= ``uncommon`` < 0.8 <= ``rare``; read from
  ``episode_started.item.rarity``, else from a QA set given to look it up, else
  ``unknown``).
- ``judged_accuracy`` reads ``judge_verdict`` events from every run in the log (a judge
  pass is its own run), matched to episodes by the payload's ``run_id``/``episode_id``.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec
import numpy as np

from medenv.errors import MedenvError
from medenv.events.episodes import EpisodeRecord, summaries
from medenv.events.store import connect, resolve_files
from medenv.grounding import ground_log
from medenv.qa_world import kg_mismatch
from medenv.reward import optimal_research_calls
from medenv.synth.io import read_qa_set

RARITY_BUCKETS = (("common", 0.5), ("uncommon", 0.8), ("rare", math.inf))


class Breakdown(msgspec.Struct, frozen=True):
    """Accuracy and calls for one slice (a specialty, a hop count, a rarity bucket)."""

    n: int
    accuracy: float
    mean_tool_calls: float


class GroupMetrics(msgspec.Struct, frozen=True, kw_only=True):
    group: str
    n_episodes: int
    n_ended: int
    n_questions: int
    accuracy: float
    accuracy_ci: tuple[float, float]
    judged_accuracy: float | None
    n_judged: int
    pass_at_k: dict[str, float]
    mean_tool_calls: float
    median_tool_calls: float
    tool_call_efficiency: float | None
    format_error_rate: float
    format_error_episodes: float
    mean_tokens: float | None
    mean_action_tokens: float | None
    evidence_recall: float | None
    mean_reward: float | None
    grounded: float | None = None
    recovered: float | None = None
    by_specialty: dict[str, Breakdown]
    by_hops: dict[str, Breakdown]
    by_rarity: dict[str, Breakdown]
    accuracy_by_calls: dict[str, Breakdown]


class EvalResult(msgspec.Struct, frozen=True, kw_only=True):
    sources: tuple[str, ...]
    group_by: str
    seed: int
    n_bootstrap: int
    groups: tuple[GroupMetrics, ...]

    def group(self, name: str) -> GroupMetrics:
        for g in self.groups:
            if g.group == name:
                return g
        raise MedenvError(
            f"no group {name!r} in this evaluation (have {[g.group for g in self.groups]})"
        )


# --------------------------------------------------------------------------- loading


def resolve_db_paths(db: str | Path | Sequence[str | Path]) -> list[str]:
    """The store files named by ``--db`` values (paths with their shards, folders, globs)."""
    return [str(f) for f in resolve_files(db)]


def _connect(db):
    """A connection that has the ``events`` table: pass-through or ``events.store.connect``."""
    if hasattr(db, "execute"):
        return db
    return connect(resolve_db_paths(db))


def load_episodes(
    db,
    runs: Sequence[str] | None = None,
    group_by: str = "run",
    qa=None,
    grounding: bool = True,
    world=None,
) -> list[EpisodeRecord]:
    """One record per started episode (sorted by group, run, episode id).

    ``db`` is a DuckDB connection with the ``events`` table, or store path(s)/globs.
    ``runs`` keeps only those run ids. ``qa`` (items or a QA-set path) fills rarity,
    hops and specialty for episodes whose log lacks them, by question id; a set built from
    another graph than the runs' is refused (`medenv.qa_world.kg_mismatch`). ``world`` (a
    `medenv.worldspec.WorldSpec`) overrides the graph groundedness is checked against.
    """
    con = _connect(db)
    episodes = summaries(con, runs, group_by)
    lookup = _qa_lookup(qa)
    if lookup and episodes:
        _check_qa_graph(con, lookup.values(), qa, runs)
    reports = ground_log(con, runs, world) if grounding and episodes else {}
    if lookup and episodes and not any(e.question_id in lookup for e in episodes):
        name = f" {qa}" if isinstance(qa, str | Path) else ""
        raise MedenvError(
            f"none of the {len(lookup)} questions of the QA set{name} occurs in the event log "
            "(no question id matches): pass the set the episodes were run on"
        )
    for ep in episodes:
        report = reports.get((ep.run_id, ep.episode_id))
        if report is not None:
            ep.grounded, ep.recovered = report.grounded, report.recovered
        item = lookup.get(ep.question_id)
        if item is None or item.kg_source == "external":
            continue  # no chain: nothing to add
        if ep.rarity is None:
            ep.rarity = item.rarity
        if ep.n_hops is None:
            ep.n_hops = item.n_hops
        if ep.specialty == "general":
            ep.specialty = item.specialty
    return episodes


def _check_qa_graph(con, items, qa, runs: Sequence[str] | None) -> None:
    """Refuse a QA set built from another graph than the one a run's world had."""
    where, params = "", []
    if runs:
        where = f"AND run_id IN ({', '.join('?' for _ in runs)})"
        params = list(runs)
    graphs = con.execute(
        "SELECT DISTINCT payload->>'$.kg_source', payload->>'$.kg_version' FROM events "
        f"WHERE type = 'run_started' {where}",
        params,
    ).fetchall()
    items = list(items)
    for source, version in graphs:
        problem = kg_mismatch(items, str(source or ""), str(version or ""))
        if problem is not None:
            name = f" {qa}" if isinstance(qa, str | Path) else ""
            raise MedenvError(
                f"the QA set{name} is not the runs': {problem} "
                "(pass the set the episodes were run on)"
            )


def _qa_lookup(qa) -> dict:
    if qa is None:
        return {}
    if isinstance(qa, str | Path):
        qa = read_qa_set(qa)
    return {item.id: item for item in qa}


# --------------------------------------------------------------------------- pure metrics


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one question: ``n`` samples, ``c`` correct (Chen et al., 2021)."""
    if k > n:
        raise ValueError(f"k={k} > n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def bootstrap_ci(
    values: Sequence[float], seed: int = 0, n_resamples: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (seeded: same input -> same interval)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    means = x[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def rarity_bucket(rarity: float | None) -> str:
    if rarity is None:
        return "unknown"
    for name, upper in RARITY_BUCKETS:
        if rarity < upper:
            return name
    return RARITY_BUCKETS[-1][0]


def _breakdown(episodes: Iterable[EpisodeRecord], key) -> dict[str, Breakdown]:
    slices: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for ep in episodes:
        slices[str(key(ep))].append(ep)

    def order(k: str):
        return (0, int(k), "") if k.lstrip("-").isdigit() else (1, 0, k)

    return {
        k: Breakdown(
            n=len(v),
            accuracy=sum(e.correct for e in v) / len(v),
            mean_tool_calls=sum(e.research_calls for e in v) / len(v),
        )
        for k, v in sorted(slices.items(), key=lambda kv: order(kv[0]))
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def group_metrics(
    name: str, episodes: Sequence[EpisodeRecord], seed: int = 0, n_bootstrap: int = 1000
) -> GroupMetrics:
    """All metrics of one group of episodes (see the module docstring for definitions)."""
    if not episodes:
        raise MedenvError(f"group {name!r} has no episodes")
    n = len(episodes)
    correct = [1.0 if e.correct else 0.0 for e in episodes]
    by_q: dict[str, list[bool]] = defaultdict(list)
    for e in episodes:
        by_q[e.question_id].append(e.correct)
    k_max = min(len(v) for v in by_q.values())
    ks = sorted({k for k in (2**i for i in range(0, 20)) if k <= k_max} | {k_max})
    pak = {
        f"pass@{k}": sum(pass_at_k(len(v), sum(v), k) for v in by_q.values()) / len(by_q)
        for k in ks
    }
    judged = [e for e in episodes if e.judged_correct is not None]
    calls = [e.research_calls for e in episodes]
    eff = [
        min(1.0, optimal_research_calls(e.optimal_calls) / max(1, e.research_calls))
        for e in episodes
        if e.correct and e.optimal_calls is not None
    ]
    n_actions = sum(e.n_actions for e in episodes)
    n_errors = sum(e.n_format_errors for e in episodes)
    tokens = [e.tokens for e in episodes if e.tokens is not None]
    action_tokens = [e.action_tokens for e in episodes if e.action_tokens is not None]
    recall = [e.evidence_recall for e in episodes if e.evidence_recall is not None]
    rewards = [e.reward for e in episodes if e.reward is not None]
    checked = [e for e in episodes if e.grounded is not None]
    return GroupMetrics(
        group=name,
        n_episodes=n,
        n_ended=sum(e.ended for e in episodes),
        n_questions=len(by_q),
        accuracy=sum(correct) / n,
        accuracy_ci=bootstrap_ci(correct, seed=seed, n_resamples=n_bootstrap),
        judged_accuracy=(
            sum(e.correct or bool(e.judged_correct) for e in episodes) / n if judged else None
        ),
        n_judged=len(judged),
        pass_at_k=pak,
        mean_tool_calls=sum(calls) / n,
        median_tool_calls=float(statistics.median(calls)),
        tool_call_efficiency=_mean(eff),
        format_error_rate=n_errors / n_actions if n_actions else 0.0,
        format_error_episodes=sum(e.n_format_errors > 0 for e in episodes) / n,
        mean_tokens=_mean(tokens),
        mean_action_tokens=_mean(action_tokens),
        evidence_recall=_mean(recall),
        mean_reward=_mean(rewards),
        grounded=_mean([float(e.grounded) for e in checked]),
        recovered=_mean([float(bool(e.recovered)) for e in checked]),
        by_specialty=_breakdown(episodes, lambda e: e.specialty),
        by_hops=_breakdown(episodes, lambda e: "?" if e.n_hops is None else e.n_hops),
        by_rarity=_breakdown(episodes, lambda e: rarity_bucket(e.rarity)),
        accuracy_by_calls=_breakdown(episodes, lambda e: e.research_calls),
    )


def evaluate(
    db,
    runs: Sequence[str] | None = None,
    group_by: str = "run",
    seed: int = 0,
    n_bootstrap: int = 1000,
    qa=None,
    world=None,
) -> EvalResult:
    """Metrics for every group (run, or tag value) in the event log, side by side
    (``world``: see `load_episodes`)."""
    episodes = load_episodes(db, runs=runs, group_by=group_by, qa=qa, world=world)
    if not episodes:
        raise MedenvError(
            "the event log has no episodes" + (f" for runs {list(runs)}" if runs else "")
        )
    if group_by != "run" and all(ep.group == f"(no {group_by})" for ep in episodes):
        raise MedenvError(
            f"no episode has the tag {group_by!r} to group by (--group-by run, or a tag such "
            "as 'agent')"
        )
    groups: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for ep in episodes:
        groups[ep.group].append(ep)
    sources = () if hasattr(db, "execute") else tuple(resolve_db_paths(db))
    return EvalResult(
        sources=sources,
        group_by=group_by,
        seed=seed,
        n_bootstrap=n_bootstrap,
        groups=tuple(
            group_metrics(name, groups[name], seed=seed, n_bootstrap=n_bootstrap)
            for name in sorted(groups)
        ),
    )


# --------------------------------------------------------------------------- rendering


def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{100 * value:.1f}%" if pct else f"{value:.2f}"
    return str(value)


def summary_rows(result: EvalResult) -> list[tuple[str, list[str]]]:
    """(metric name, one cell per group) rows of the side-by-side table."""
    gs = result.groups
    ks = sorted({k for g in gs for k in g.pass_at_k}, key=lambda k: int(k.split("@")[1]))
    rows: list[tuple[str, list[str]]] = [
        ("episodes", [str(g.n_episodes) for g in gs]),
        ("questions", [str(g.n_questions) for g in gs]),
        ("accuracy", [_fmt(g.accuracy, pct=True) for g in gs]),
        (
            "accuracy 95% CI",
            [f"{_fmt(g.accuracy_ci[0], True)}-{_fmt(g.accuracy_ci[1], True)}" for g in gs],
        ),
    ]
    if any(g.judged_accuracy is not None for g in gs):
        rows.append(("judged accuracy", [_fmt(g.judged_accuracy, pct=True) for g in gs]))
    rows += [(k, [_fmt(g.pass_at_k.get(k), pct=True) for g in gs]) for k in ks if k != "pass@1"]
    rows += [
        ("mean tool calls", [_fmt(g.mean_tool_calls) for g in gs]),
        ("median tool calls", [_fmt(g.median_tool_calls) for g in gs]),
        ("tool-call efficiency", [_fmt(g.tool_call_efficiency) for g in gs]),
        ("grounded", [_fmt(g.grounded, pct=True) for g in gs]),
        ("recovered", [_fmt(g.recovered, pct=True) for g in gs]),
        ("format-error rate", [_fmt(g.format_error_rate, pct=True) for g in gs]),
        ("evidence recall", [_fmt(g.evidence_recall, pct=True) for g in gs]),
        ("mean tokens", [_fmt(g.mean_tokens) for g in gs]),
        ("mean reward", [_fmt(g.mean_reward) for g in gs]),
    ]
    return rows


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), *(fmt.format(*r) for r in rows)])


def format_table(result: EvalResult, markdown: bool = False) -> str:
    """The side-by-side metrics table (plain text, or Markdown)."""
    header = ["metric", *(g.group for g in result.groups)]
    return _table(header, [[name, *cells] for name, cells in summary_rows(result)], markdown)


def _breakdown_table(result: EvalResult, attr: str, title: str) -> str:
    keys: list[str] = []
    for g in result.groups:
        for k in getattr(g, attr):
            if k not in keys:
                keys.append(k)
    header = [title, *(f"{g.group} acc (n)" for g in result.groups)]
    rows = []
    for k in keys:
        cells = []
        for g in result.groups:
            b = getattr(g, attr).get(k)
            cells.append("-" if b is None else f"{_fmt(b.accuracy, True)} ({b.n})")
        rows.append([k, *cells])
    return _table(header, rows, markdown=True)


def to_json(result: EvalResult) -> str:
    return msgspec.json.encode(result).decode()


def write_report(result: EvalResult, out_dir: str | Path) -> Path:
    """Write ``report.md``, ``metrics.json`` and PNG plots into ``out_dir``; return report path.

    Plots: ``accuracy_by_hops.png``, ``tool_calls_hist.png``, ``accuracy_by_specialty.png``,
    ``accuracy_vs_tool_calls.png`` (one line per group) and, for each group (run),
    ``accuracy_vs_tool_calls-<group>.png`` (see `plot_file_name`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = _plot_all(result, out)
    (out / "metrics.json").write_text(
        json.dumps(msgspec.to_builtins(result), indent=2, sort_keys=True) + "\n"
    )
    lines = [
        "# Evaluation report",
        "",
        f"Event log: {', '.join(result.sources) or '(connection)'}; grouped by "
        f"`{result.group_by}`; accuracy CI: {result.n_bootstrap} bootstrap resamples, "
        f"seed {result.seed}.",
        "",
        format_table(result, markdown=True),
        "",
        "## Accuracy by hops",
        "",
        _breakdown_table(result, "by_hops", "hops"),
        "",
        "## Accuracy by specialty",
        "",
        _breakdown_table(result, "by_specialty", "specialty"),
        "",
        "## Accuracy by rarity",
        "",
        _breakdown_table(result, "by_rarity", "rarity"),
        "",
        "## Accuracy by tool calls made",
        "",
        _breakdown_table(result, "accuracy_by_calls", "calls"),
        "",
        "## Plots",
        "",
        *(f"![{p.stem}]({p.name})" for p in plots),
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def _plot_all(result: EvalResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    groups = result.groups
    width = 0.8 / max(1, len(groups))

    def bars(attr: str, title: str, xlabel: str, fname: str, rotate: bool = False) -> None:
        keys: list[str] = []
        for g in groups:
            keys += [k for k in getattr(g, attr) if k not in keys]
        fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(keys) * len(groups) + 2), 3.5))
        for i, g in enumerate(groups):
            d = getattr(g, attr)
            xs = [j + i * width for j in range(len(keys))]
            ax.bar(xs, [d[k].accuracy if k in d else 0 for k in keys], width, label=g.group)
        ax.set_xticks([j + width * (len(groups) - 1) / 2 for j in range(len(keys))])
        ax.set_xticklabels(keys, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(out / fname, dpi=100)
        plt.close(fig)
        paths.append(out / fname)

    bars("by_hops", "Accuracy by hops", "hops", "accuracy_by_hops.png")
    bars("by_specialty", "Accuracy by specialty", "specialty", "accuracy_by_specialty.png", True)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    max_calls = max(int(k) for g in groups for k in g.accuracy_by_calls)
    for i, g in enumerate(groups):
        xs = [int(k) + i * width - 0.4 + width / 2 for k in g.accuracy_by_calls]
        ax.bar(xs, [b.n for b in g.accuracy_by_calls.values()], width, label=g.group)
    ax.set_xticks(range(0, max_calls + 1))
    ax.set_xlabel("tool calls per episode")
    ax.set_ylabel("episodes")
    ax.set_title("Tool calls per episode")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out / "tool_calls_hist.png", dpi=100)
    plt.close(fig)
    paths.append(out / "tool_calls_hist.png")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for g in groups:
        ks = [int(k) for k in g.accuracy_by_calls]
        ax.plot(ks, [b.accuracy for b in g.accuracy_by_calls.values()], marker="o", label=g.group)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("tool calls made")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy vs tool calls")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_tool_calls.png", dpi=100)
    plt.close(fig)
    paths.append(out / "accuracy_vs_tool_calls.png")

    used: set[str] = {p.name for p in paths}
    for g in groups:
        path = out / plot_file_name("accuracy_vs_tool_calls", g.group, used)
        _plot_group_accuracy_vs_calls(plt, g, path)
        paths.append(path)
    return paths


def plot_file_name(stem: str, group: str, used: set[str]) -> str:
    """``<stem>-<group>.png`` with the group name made file-safe; unique within ``used``
    (a numeric suffix on collision), which it is added to."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", group).strip("._") or "group"
    name, n = f"{stem}-{slug}.png", 1
    while name in used:
        n += 1
        name = f"{stem}-{slug}-{n}.png"
    used.add(name)
    return name


def _plot_group_accuracy_vs_calls(plt, g: GroupMetrics, path: Path) -> None:
    """One run: accuracy (line) and episode count (bars) by number of tool calls made."""
    ks = [int(k) for k in g.accuracy_by_calls]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    counts = ax.twinx()
    counts.bar(ks, [b.n for b in g.accuracy_by_calls.values()], 0.6, color="0.85")
    counts.set_ylabel("episodes")
    counts.yaxis.get_major_locator().set_params(integer=True)
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(ks, [b.accuracy for b in g.accuracy_by_calls.values()], marker="o", color="C0")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(range(min(ks), max(ks) + 1))
    ax.set_xlabel("tool calls made")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Accuracy vs tool calls: {g.group} (accuracy {100 * g.accuracy:.1f}%)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

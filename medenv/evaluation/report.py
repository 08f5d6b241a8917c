"""Rendering an evaluation (`medenv.evaluation.EvalResult`): the side-by-side metrics table
(plain text or Markdown), ``metrics.json`` and ``report.md`` with its PNG plots."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import msgspec

from medenv.evaluation.metrics import EvalResult, GroupMetrics
from medenv.paths import MANIFEST, check_not_yours, save_figure, write_file


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
    ``accuracy_vs_tool_calls-<group>.png`` (see `plot_file_name`). Each file is written
    whole or not at all (`medenv.paths.writing`). Plots an earlier report in the folder
    linked (its ``report.md``) and this one does not make (groups no longer evaluated) are
    removed, so the folder never shows another evaluation's plots; other files are left.
    `MANIFEST` records the files written (first, so a report cut midway is still known as
    medenv's); a folder holding a `REPORT_FILES` file no report wrote (no manifest naming
    ``report.md`` beside it) is refused (`check_report_folder`).
    """
    check_report_folder(out_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    earlier = _linked_plots(out / "report.md")
    _record(out, REPORT_FILES)
    plots = _plot_all(result, out)
    write_file(
        out / "metrics.json",
        json.dumps(msgspec.to_builtins(result), indent=2, sort_keys=True) + "\n",
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
    write_file(path, "\n".join(lines))
    _record(out, ["report.md", "metrics.json", *(p.name for p in plots)])
    for name in earlier - {p.name for p in plots}:
        (out / name).unlink(missing_ok=True)
    return path


# what a report writes into its folder under fixed names (and would replace)
REPORT_FILES = (
    "report.md", "metrics.json", MANIFEST, "accuracy_by_hops.png", "tool_calls_hist.png",
    "accuracy_by_specialty.png", "accuracy_vs_tool_calls.png",
)  # fmt: skip


def check_report_folder(out_dir: str | Path) -> None:
    """Raise `MedenvError` when ``out_dir`` holds a file a report writes (`REPORT_FILES`)
    that no report wrote there (`medenv.paths.check_not_yours`: no manifest naming
    ``report.md``): your own ``report.md`` or ``metrics.json``, which it would replace."""
    check_not_yours(out_dir, REPORT_FILES, "report.md", f"--report {out_dir}", "medenv eval")


def _record(out: Path, names) -> None:
    files = {n: "medenv eval --report" for n in names}
    write_file(out / MANIFEST, json.dumps({"files": files}, indent=2, sort_keys=True) + "\n")


_LINKED = re.compile(r"^!\[[^\]]*\]\(([A-Za-z0-9._-]+\.png)\)$", re.M)


def _linked_plots(report: Path) -> set[str]:
    """The plot files an earlier ``report.md`` links (file names in its folder)."""
    try:
        return set(_LINKED.findall(report.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return set()


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
        paths.append(_save(plt, fig, out / fname))

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
    paths.append(_save(plt, fig, out / "tool_calls_hist.png"))

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for g in groups:
        ks = [int(k) for k in g.accuracy_by_calls]
        ax.plot(ks, [b.accuracy for b in g.accuracy_by_calls.values()], marker="o", label=g.group)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("tool calls made")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy vs tool calls")
    ax.legend(fontsize="small")
    paths.append(_save(plt, fig, out / "accuracy_vs_tool_calls.png"))

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
    _save(plt, fig, path)


def _save(plt, fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (100 dpi, tight layout), close it; returns ``path``."""
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path

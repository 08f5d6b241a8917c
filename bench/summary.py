"""One summary table from the latest pytest-benchmark results.

``make bench`` saves ``.benchmarks/latest.json`` (``--benchmark-json``); this prints one row
per benchmark: name, median time, operations per second, rounds, and the figures each bench
records in ``benchmark.extra_info`` (steps/s, p50/p95 ms, items/s, accuracy, ...).

    python -m bench.summary                   # plain table
    python -m bench.summary --markdown        # Markdown, with the machine it ran on
    python -m bench.summary --json PATH       # another results file
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT = Path(".benchmarks") / "latest.json"


class SummaryError(Exception):
    pass


def find_results(path: str | Path | None = None) -> Path:
    """``path``, else ``.benchmarks/latest.json``, else the newest JSON under ``.benchmarks``."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise SummaryError(f"benchmark results {p} do not exist")
        return p
    if DEFAULT.is_file():
        return DEFAULT
    found = sorted(Path(".benchmarks").rglob("*.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SummaryError(
            "no benchmark results: run `make bench` (it writes .benchmarks/latest.json)"
        )
    return found[-1]


def load_results(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SummaryError(f"{path}: not a pytest-benchmark JSON file ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise SummaryError(f"{path}: no 'benchmarks' list (not pytest-benchmark JSON)")
    return data


def fmt_seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def fmt_number(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3g}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}"
    return str(v)


def short_name(bench: dict) -> str:
    """``module::name`` (``bench_`` prefixes dropped) for one benchmark entry."""
    full = bench.get("fullname") or bench.get("name", "?")
    module, _, name = full.rpartition("::")
    module = Path(module).stem.removeprefix("bench_") if module else ""
    name = name.removeprefix("bench_").removeprefix("test_")
    return f"{module}::{name}" if module else name


def rows(data: dict) -> list[list[str]]:
    out = []
    for b in sorted(data["benchmarks"], key=lambda b: b.get("fullname", b.get("name", ""))):
        stats = b.get("stats", {})
        extra = b.get("extra_info") or {}
        figures = ", ".join(f"{k} {fmt_number(extra[k])}" for k in sorted(extra))
        out.append(
            [
                short_name(b),
                fmt_seconds(stats["median"]) if "median" in stats else "-",
                fmt_number(float(stats["ops"])) if "ops" in stats else "-",
                str(stats.get("rounds", "-")),
                figures or "-",
            ]
        )
    return out


def machine_line(data: dict) -> str:
    m = data.get("machine_info") or {}
    cpu = (m.get("cpu") or {}).get("brand_raw") or m.get("processor") or "unknown CPU"
    extra = m.get("medenv") or {}
    parts = [cpu]
    if extra.get("cpu_count"):
        parts.append(f"{extra['cpu_count']} cores")
    if extra.get("memory_gb"):
        parts.append(f"{extra['memory_gb']} GB RAM")
    if extra.get("gpu"):
        parts.append(f"GPU {extra['gpu']}")
    parts.append(f"{m.get('system', '?')} {m.get('release', '')}".strip())
    parts.append(f"Python {m.get('python_version', '?')}")
    when = data.get("datetime", "")[:19].replace("T", " ")
    return "; ".join(parts) + (f"; {when} UTC" if when else "")


HEADER = ["benchmark", "median", "ops/s", "rounds", "figures (extra_info)"]


def render(data: dict, markdown: bool = False) -> str:
    body = rows(data)
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines) + f"\n\nMeasured on: {machine_line(data)}.\n"
    widths = [max(len(x) for x in col) for col in zip(HEADER, *body, strict=True)]
    fmt = "  ".join(
        f"{{:<{w}}}" if i in (0, len(widths) - 1) else f"{{:>{w}}}" for i, w in enumerate(widths)
    )
    lines = [fmt.format(*HEADER).rstrip(), *(fmt.format(*r).rstrip() for r in body)]
    return "\n".join(lines) + f"\n\nmachine: {machine_line(data)}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.summary", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--json", dest="path", help="results file (default .benchmarks/latest.json)"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    try:
        data = load_results(find_results(args.path))
    except SummaryError as exc:
        print(f"bench.summary: error: {exc}", file=sys.stderr)
        return 2
    text = render(data, markdown=args.markdown)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sum a per-test CPU profile (`MEDENV_TEST_PROFILE=DIR make test`, see tests/conftest.py).

``python -m tests.cpu_profile DIR [N]`` prints the N costliest files and tests (CPU seconds),
each worker's busy CPU and wall span, and the whole run's CPU total.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def load(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.open()]


def report(rows: list[dict], top: int = 30) -> str:
    by_file: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    workers: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_file[row["file"]] += row["cpu"]
        count[row["file"]] += 1
        workers[row["worker"]].append(row)
    t0 = min(r["start"] for r in rows)
    lines = [f"{len(rows)} tests, {sum(r['cpu'] for r in rows):.0f} CPU-s in all"]
    for name, ws in sorted(workers.items()):
        span = max(r["end"] for r in ws) - t0
        lines.append(
            f"  {name}: {len(ws)} tests, {sum(r['cpu'] for r in ws):.0f} CPU-s, "
            f"last test ends at {span:.0f} s"
        )
    lines.append(f"\ntop {top} files (CPU-s, tests):")
    for name, cpu in sorted(by_file.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {cpu:7.1f}  {count[name]:4d}  {name}")
    lines.append(f"\ntop {top} tests (CPU-s incl. the fixtures they first built):")
    for row in sorted(rows, key=lambda r: -r["cpu"])[:top]:
        lines.append(f"  {row['cpu']:7.1f}  {row['worker']}  {row['test']}")
    return "\n".join(lines)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    print(report(load(folder), int(sys.argv[2]) if len(sys.argv) > 2 else 30))

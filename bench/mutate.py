"""`make mutate`: mutation testing (mutmut 3) of the core modules, one module at a time.

Each entry of ``GROUPS`` names a module (its source globs) and the test files that exercise
it. A run mutates one group's files only and runs only that group's tests, in a fresh
``mutants/`` folder (stale mutants of another revision or group never leak into a score).
mutmut first runs those tests once and records which tests reach which function, then runs
each mutant against only the tests that reach its function. The other settings (pytest
arguments, ``also_copy``) are ``[tool.mutmut]`` in ``pyproject.toml``.

    python -m bench.mutate                       # every group, one after another
    python -m bench.mutate reward spool          # these groups only
    python -m bench.mutate reward --survivors    # re-run only the last run's survivors
    python -m bench.mutate --report              # only re-print the score table
    python -m bench.mutate parsing --sample 300  # a seeded random sample of its mutants

``--sample N`` runs a uniform random sample of N of the group's mutants (seeded; a later
``--survivors`` re-runs that sample's survivors): the score is then an estimate, printed
with its 95% interval, and the mutants outside the sample count as not run. Use it for
the groups too large to run whole on a small machine (parsing: ~2,800 mutants).

Each group's outcome is kept in ``.mutmut-scores/GROUP.json`` (counts and survivor names),
so the table covers every group measured so far, with the date each was measured.

A mutant is *killed* when a test fails, *survived* when every test passes, *timeout* when
the tests hang, *no tests* when no test reaches it. The score is detected / (detected +
survived + no tests + suspicious), where timeouts and crashes count as detected. Lines
marked ``# pragma: no mutate`` are not mutated: use it only for an equivalent mutant (a
change no test could ever observe), with a comment saying why; the table counts them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
SCORES = ROOT / ".mutmut-scores"
PRAGMA = "# pragma: no mutate"
EXAMPLES_ENV = "MEDENV_MUTATE_EXAMPLES"  # read by `bench.mutate_warm` in the mutant runs


class Group(msgspec.Struct, frozen=True):
    """A module under mutation and the test files that exercise it."""

    sources: tuple[str, ...]
    tests: tuple[str, ...]
    # where each mutant's run is forked from (mutmut's ``process_isolation``): "fork", from
    # the process that ran the clean tests, or "forkserver", from one that only collected
    # them. A module that memoises per process (an index per KG) needs "forkserver": forked
    # from the clean run, a mutant finds the memo its unmutated code filled and never runs
    # the mutated code that fills it.
    isolation: str = "fork"


GROUPS: dict[str, Group] = {
    "reward": Group(("medenv/reward.py",), ("tests/test_reward.py", "tests/test_reward_terms.py")),
    # the verify logic (formerly in events/replay.py); the rest of replay.py (transcripts,
    # messages) is not a core module
    "verify": Group(
        ("medenv/verify.py",),
        (
            "tests/test_replay.py",
            "tests/test_tamper.py",
            # the replays of a user reward term and of an explicit tool format
            "tests/test_reward_terms.py::test_a_user_term_reaches_the_event_the_view_the_total_and_verify",
            "tests/test_parsing_env.py::test_explicit_tool_format_reads_only_that_family_and_replays",
        ),
    ),
    "spool": Group(
        ("medenv/events/spool.py",), ("tests/test_spool.py", "tests/test_spool_mapped.py")
    ),
    "parsing": Group(
        ("medenv/tools/parsing.py", "medenv/tools/formats/*"),
        (
            "tests/test_parsing.py",
            "tests/test_parsing_formats.py",
            "tests/test_parsing_properties.py",
            "tests/test_parsing_edges.py",
            "tests/test_parsing_survivors.py",
            "tests/test_parsing_survivors_more.py",
            # the marker scan of a reply's suffix, against a plain search
            "tests/test_step_fast_paths.py::test_suffix_marks_equal_a_fresh_scan_of_the_suffix",
            "tests/test_step_fast_paths.py::test_suffix_marks_on_dense_text_past_the_scan_limit",
        ),
    ),
    "uniqueness": Group(
        # the constraint search and the path query it subclasses (synth/query.py)
        ("medenv/synth/uniqueness.py", "medenv/synth/query.py"),
        (
            "tests/test_synth_small.py",
            "tests/test_closure.py",
            "tests/test_uniqueness_random.py",
            "tests/test_uniqueness_survivors.py",
            "tests/test_uniqueness_survivors_graphs.py",
        ),
        # its memos are per `PathQuery` object (no module-level state) and every test
        # builds its own, so none can leak from the clean run: on 2026-12-01 the whole
        # group gave the same 82 survivors under "fork" and "forkserver". Forkserver
        # all the same, so that a memo added later at module level cannot hide mutants.
        isolation="forkserver",
    ),
    # the event store, split into store (the writer), files, table, ingest, reader, and
    # the hash chain it writes
    "store": Group(
        (
            "medenv/events/store.py",
            "medenv/events/files.py",
            "medenv/events/table.py",
            "medenv/events/ingest.py",
            "medenv/events/reader.py",
            "medenv/events/chain.py",
            "medenv/events/encode.py",  # the step path's one-pass event encoding
        ),
        (
            "tests/test_events.py",
            "tests/test_ingest.py",
            "tests/test_tamper.py",
            "tests/test_event_encode.py",
            "tests/test_store_edges.py",
            "tests/test_store_reading_edges.py",
            "tests/test_spool_unreadable.py",  # the lines a recovery keeps (files.py)
        ),
    ),
    # the seal (round 16: out of the writer): token counts, the hash chain, each episode's
    # `episode_sealed` with its token sums and summary, and the ingest process that seals
    # and inserts spool segments
    "seal": Group(
        (
            "medenv/events/sealer.py",
            "medenv/events/seal_summary.py",
            "medenv/events/ingest_child.py",
        ),
        (
            "tests/test_event_seal.py",
            "tests/test_events_ingest_child.py",
            "tests/test_eval_seal_summary.py",
            "tests/test_event_encode.py",
            "tests/test_events.py",
            "tests/test_ingest.py",
            "tests/test_tamper.py",
            "tests/test_store_edges.py",
            "tests/test_store_reading_edges.py",
            "tests/test_spool_unreadable.py",
            "tests/test_seal_lines.py",  # lines no writer of this version writes
            # the ingest process's loop and `main`, run in the test process (run in the real
            # child, mutmut sees no test reach them: 27 "no tests" in the first sample)
            "tests/test_ingest_serve.py",
        ),
        # `sealer._KINDS` (a type's hash-input bytes) is filled at module level by the
        # first `seal`: forked from the clean run, a mutant of that fill finds it full
        isolation="forkserver",
    ),
    # the step line (round 18): how the env records a step (`LoggedStep`, filled by the
    # step's stages), the events it stands for (`events_of`, `expand_row`), and the
    # writer's encoding with its event-by-event fallback
    "steplog": Group(
        (
            "medenv/events/logged_step.py",
            "medenv/env_step.py",
            "medenv/events/encode.py",
        ),
        (
            "tests/test_logged_step.py",
            "tests/test_env.py",
            "tests/test_event_encode.py",
            "tests/test_tamper.py",
            "tests/test_spool_unreadable.py",
            "tests/test_step_line_survivors.py",  # the first run's survivors
            # (test_event_field.py's env test runs a copy of the package in a subprocess
            # started in a temporary folder, where mutmut's trampoline finds no config)
        ),
    ),
    # groundedness (README "Agents, rollouts and training data"): labels, units, the rules
    # over one episode, every episode of a log
    "grounding": Group(
        ("medenv/grounding/*",),
        (
            "tests/test_grounding.py",
            "tests/test_grounding_rules.py",
            "tests/test_oracle_clue_join.py",
            # the README-only re-reading of the rules (the file's other tests are of questions)
            "tests/test_readme_rules.py::test_groundedness_as_the_readme_states_it",
            "tests/test_readme_rules.py::test_the_groundedness_cases_the_readme_spells_out",
        ),
        isolation="forkserver",  # the label index is kept per KG and per source
    ),
    # answer matching past the string match: the lexical judge, verdict parsing, the
    # verdict cache and log
    "judge": Group(
        ("medenv/judge.py",),
        (
            "tests/test_judge.py",
            "tests/test_judge_rules.py",
            "tests/test_eval_report.py::test_cli_table_json_report_and_judge",
            # (test_parquet.py's refusal test runs two rollouts: too slow for the group;
            # test_judge_rules.py refuses shards of a one-episode store)
        ),
    ),
}


class Outcome(msgspec.Struct):
    """One group's measured result."""

    date: str
    revision: str
    counts: dict[str, int]
    survivors: list[str]
    equivalent: int
    sampled: int = 0  # mutants in a random sample (--sample); 0: the whole group
    seed: int = 0  # the sample's seed
    examples: int = 0  # the cap on hypothesis examples per test (0: none)
    isolation: str = ""  # "fork" or "forkserver" ("": not recorded, runs before round 15)


DETECTED = ("killed", "timeout", "segfault")


def classify(code: int | None) -> str:
    """One mutant's outcome from its exit code, as mutmut itself names it."""
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[code]


def collect(mutants_dir: Path) -> tuple[Counter, list[str]]:
    """Outcome counts and survivor names over mutmut's ``*.meta`` files."""
    counts: Counter = Counter()
    survivors: list[str] = []
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status = classify(code)
            counts[status] += 1
            if status in ("survived", "no tests", "suspicious"):
                survivors.append(f"{name}: {status}")
    return counts, survivors


def score(counts: dict[str, int]) -> float | None:
    """Detected share of the mutants that ran; None when none ran (nothing measured)."""
    detected = counts.get("killed", 0) + counts.get("timeout", 0) + counts.get("segfault", 0)
    missed = counts.get("survived", 0) + counts.get("no tests", 0) + counts.get("suspicious", 0)
    return detected / (detected + missed) if detected + missed else None


def interval(counts: dict[str, int]) -> tuple[float, float] | None:
    """The 95% Wilson interval of `score` read as a share of a random sample."""
    detected = counts.get("killed", 0) + counts.get("timeout", 0) + counts.get("segfault", 0)
    n = detected + counts.get("survived", 0) + counts.get("no tests", 0) + counts.get("suspicious", 0)
    if not n:
        return None
    z, p = 1.96, detected / n
    mid, half = p + z * z / (2 * n), z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return (mid - half) / (1 + z * z / n), (mid + half) / (1 + z * z / n)


def group_files(group: Group) -> list[Path]:
    """The source files a group mutates."""
    return sorted(
        p for p in (ROOT / "medenv").rglob("*.py")
        if any(fnmatch.fnmatch(str(p.relative_to(ROOT)), g) for g in group.sources)
    )


def equivalent_marks(group: Group) -> int:
    """Lines of the group's files marked as equivalent (``# pragma: no mutate``)."""
    return sum(p.read_text().count(PRAGMA) for p in group_files(group))


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def table(outcomes: dict[str, Outcome]) -> str:
    """The markdown score table, one row per measured group."""
    lines = [
        "| module | measured | mutants | killed | equivalent marked | timeout | survived "
        "| no tests | not run | score |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, o in outcomes.items():
        c = o.counts
        files = ", ".join(f"`{s}`" for s in GROUPS[name].sources) if name in GROUPS else name
        shown = _percent(score(c))
        if o.sampled and (ci := interval(c)):
            shown += f" (sample of {o.sampled}; 95% CI {ci[0]:.0%}-{ci[1]:.0%})"
        lines.append(
            f"| {files} | {o.date} ({o.revision}) | {sum(c.values())} | {c.get('killed', 0)} | "
            f"{o.equivalent} | {c.get('timeout', 0)} | {c.get('survived', 0)} | "
            f"{c.get('no tests', 0)} | {c.get('not checked', 0)} | {shown} |"
        )
    return "\n".join(lines)


def _revision() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "medenv"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


_CHILD = """
import sys
from mutmut.configuration import config
from mutmut.configuration import ProcessIsolation
cfg = config()
cfg.process_isolation = ProcessIsolation({isolation!r})
cfg.only_mutate = {sources!r}
cfg.pytest_add_cli_args_test_selection = {tests!r}
import mutmut.__main__ as m
if {sample}:  # a seeded sample of the mutants (the rest keep no result: not run)
    import random
    _collect = m.collect_source_file_mutation_data
    def _sampled(*, mutant_names):
        mutants, by_path = _collect(mutant_names=mutant_names)
        mutants = sorted(mutants, key=lambda x: x[1])
        return random.Random({seed}).sample(mutants, min({sample}, len(mutants))), by_path
    m.collect_source_file_mutation_data = _sampled
sys.argv = ["mutmut", "run", "--max-children", "{jobs}", *{names!r}]
m.cli()
"""


def run_group(
    name: str, jobs: int, survivors_only: bool = False, sample: int = 0, seed: int = 0,
    examples: int = 0, isolation: str | None = None,
) -> Outcome:
    """Mutate one group in a fresh ``mutants/`` and record its outcome. With
    ``survivors_only``, keep ``mutants/`` (it must hold this group's last run) and re-run
    only the mutants that survived it, by name (after new tests; the mutants of a function
    edited since, e.g. marked ``# pragma: no mutate``, lose their result and count as not
    run until the group is run whole). ``sample``: run only a seeded random sample of that
    many mutants, drawn with ``seed`` (kept as such in the record of a ``survivors_only``
    run). ``examples``: cap every hypothesis test at that many examples (0: no cap;
    `bench.mutate_warm`). ``isolation``: "fork" or "forkserver" instead of the group's
    own (`Group.isolation`), to compare the two on one sample."""
    group = GROUPS[name]
    mutants = ROOT / "mutants"
    marker = mutants / "medenv-group"
    if survivors_only:
        if not marker.exists() or marker.read_text() != name:
            raise SystemExit(f"mutants/ does not hold a run of {name}: run it whole first")
        names = [s.split(":")[0] for s in collect(mutants)[1]]
        last = load_outcomes().get(name)
        if last is not None and not sample:  # the sample this run's survivors came from
            sample, seed = last.sampled, last.seed
        if not names:
            return record(name, mutants, sample, seed, examples, isolation or group.isolation)
        detected = _detected(mutants)
    else:
        shutil.rmtree(mutants, ignore_errors=True)
        # mutmut runs pytest with mutants/ on PYTHONPATH: the folder must exist before that
        # process starts, or Python caches it as missing ("No module named 'tests'")
        mutants.mkdir()
        marker.write_text(name)
        names, detected = [], {}
    env = dict(os.environ, PYTHONPATH=str(mutants))  # subprocess tests too
    env.pop(EXAMPLES_ENV, None)
    if examples:
        env[EXAMPLES_ENV] = str(examples)
    code = _CHILD.format(
        sources=list(group.sources), tests=list(group.tests), jobs=jobs,
        isolation=isolation or group.isolation,
        sample=0 if survivors_only else sample, seed=seed, names=names,
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env)
    except KeyboardInterrupt:  # stopped by hand: keep what ran ("not checked": the rest)
        record(name, mutants, sample, seed, examples, isolation or group.isolation)
        raise
    if proc.returncode not in (0, 1):
        raise SystemExit(f"mutmut failed on {name} with exit code {proc.returncode}")
    _restore(mutants, detected)
    return record(name, mutants, sample, seed, examples, isolation or group.isolation)


def _detected(mutants_dir: Path) -> dict[str, dict[str, int]]:
    """``{meta file: {mutant: exit code}}`` of the detected mutants."""
    out = {}
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        out[str(meta)] = {
            k: c for k, c in codes.items() if c is not None and classify(c) in DETECTED
        }
    return out


def _restore(mutants_dir: Path, detected: dict[str, dict[str, int]]) -> None:
    """Give back the verdicts of detected mutants that mutmut reset because the group's
    test list grew (it resets every result when the test selection changes): a new test
    cannot make a detected mutant survive, so the old verdict stands."""
    for path, codes in detected.items():
        meta = Path(path)
        data = json.loads(meta.read_text())
        now = data["exit_code_by_key"]
        for key, code in codes.items():
            if now.get(key, 0) is None:
                now[key] = code
        meta.write_text(json.dumps(data, indent=4))


def record(
    name: str, mutants: Path, sample: int = 0, seed: int = 0, examples: int = 0,
    isolation: str = "",
) -> Outcome:
    """Save the outcome ``mutants/`` holds for group ``name`` (also after an interrupted
    run: the mutants not run yet are counted as such, apart from the score)."""
    counts, survivors = collect(mutants)
    outcome = Outcome(
        date=dt.date.today().isoformat(), revision=_revision(), counts=dict(counts),
        survivors=survivors, equivalent=equivalent_marks(GROUPS[name]), sampled=sample,
        seed=seed, examples=examples, isolation=isolation,
    )
    SCORES.mkdir(exist_ok=True)
    (SCORES / f"{name}.json").write_bytes(msgspec.json.format(msgspec.json.encode(outcome)))
    return outcome


def load_outcomes() -> dict[str, Outcome]:
    """Every group measured so far, in ``GROUPS`` order."""
    found = {}
    for name in GROUPS:
        path = SCORES / f"{name}.json"
        if path.exists():
            found[name] = msgspec.json.decode(path.read_bytes(), type=Outcome)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mutate", description=__doc__.split("\n")[0])
    parser.add_argument("groups", nargs="*", help=f"groups to run (default: all of {', '.join(GROUPS)})")
    parser.add_argument("--report", action="store_true", help="re-print the table only")
    parser.add_argument(
        "--survivors", action="store_true", help="re-run only the survivors of the last run"
    )
    parser.add_argument(
        "--sample", type=int, default=0, help="run a seeded random sample of N mutants"
    )
    parser.add_argument("--seed", type=int, default=0, help="the seed of --sample")
    parser.add_argument(
        "--examples", type=int, default=25,
        help="cap on hypothesis examples per test in mutant runs (0: the tests' own)",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel mutants")
    parser.add_argument(
        "--isolation", choices=("fork", "forkserver"), default=None,
        help="fork each mutant's run from the clean run (fork) or from a process that only "
        "collected the tests (forkserver); default: the group's own",
    )
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        print(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    if not args.report:
        for name in args.groups or GROUPS:
            outcome = run_group(
                name, args.jobs, args.survivors, args.sample, args.seed, args.examples,
                args.isolation,
            )
            if outcome.survivors:
                print(f"\n{name} survivors (`mutmut show NAME` while mutants/ holds this group):")
                print("\n".join("    " + s for s in outcome.survivors))
    outcomes = load_outcomes()
    if not outcomes:
        print("no mutation run found: run `make mutate` first", file=sys.stderr)
        return 2
    print("\n" + table(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

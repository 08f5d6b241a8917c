"""``medenv replay --db PATH [--episode ID] [--verify]``: print or re-execute episodes.

Without ``--episode`` the latest episode is shown (``--verify``: every episode, or those of
``--run``). ``--verify`` checks the store's hash chains (edited, inserted or deleted events
and episodes), re-executes each logged action in a fresh environment rebuilt from the
logged configuration and compares every event; it checks every episode, goes on past
failures, prints one ``FAIL`` line per failed episode or run and ends with a summary
(``verified N episode(s): K ok, M failed`` and the failures counted by reason). Exit code
0 when everything holds, 1 when anything failed.

The world each run used is rebuilt from its record (`medenv.worldspec`: source, paths, KG
options); the KG flags (`medenv.commands.kgargs`) override it, e.g. for a run recorded
with a world built in memory (``World.for_kg``).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter

from medenv.commands.kgargs import add_kg_arguments, has_kg_flags, world_spec
from medenv.env import default_db_path
from medenv.errors import MedenvError
from medenv.events.chain import REASONS, check_chains
from medenv.events.replay import to_messages, transcript
from medenv.events.store import connect, iter_episodes, read_episode, spool_notes
from medenv.verify import verify


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "replay",
        help="print an episode's transcript, or verify that it re-executes exactly",
        description="Print an episode from an event store as a transcript, or (--verify) "
        "re-execute its actions in a fresh env and compare every observation and reward.",
    )
    p.add_argument("--db", default=None, help="event store path or glob (default: the env's)")
    p.add_argument("--episode", default=None, help="episode id (default: the latest)")
    p.add_argument("--run", default=None, help="only episodes of this run (with --verify)")
    p.add_argument("--verify", action="store_true", help="re-execute and compare")
    p.add_argument("--messages", action="store_true", help="print chat messages as JSON")
    add_kg_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.episode is not None and not args.episode.strip():
        raise MedenvError("--episode is empty; give an episode id (see `medenv runs`)")
    if args.episode is not None and args.run is not None:
        raise MedenvError("give --episode or --run, not both (an episode id names its run)")
    if args.messages and args.verify:
        raise MedenvError("--messages prints one episode; it cannot be combined with --verify")
    con = connect(args.db or default_db_path())
    try:
        if args.episode is not None:
            episodes = [args.episode]
        else:
            where, params = ("WHERE run_id = ?", [args.run]) if args.run else ("", [])
            rows = con.execute(
                f"SELECT episode_id FROM episodes {where} ORDER BY started_at, episode_id", params
            ).fetchall()
            episodes = [r[0] for r in rows]
            if not episodes:
                raise MedenvError(
                    "no episodes in the event store" + (f" for run {args.run}" if args.run else "")
                )
            if not args.verify:
                episodes = episodes[-1:]
        if not args.verify:
            events = read_episode(con, episodes[0])
            if args.messages:
                print(json.dumps(to_messages(events), indent=1, ensure_ascii=False))
            else:
                print(terminal_safe(transcript(events)))
            return 0
        world = world_spec(args) if has_kg_flags(args) else None
        some = args.episode is not None or args.run is not None
        return _verify_all(con, episodes, some, world)
    finally:
        con.close()


def _reason(problem: str) -> str:
    """A failure's kind, for the summary's counts."""
    return next((name for text, name in REASONS if text in problem), "other")


def _verify_all(con, episodes: list[str], some: bool, world=None) -> int:
    for note in spool_notes(con):
        print(f"note {note}", file=sys.stderr)
    report = check_chains(con)
    reasons: Counter = Counter()
    failed = 0
    if not some:  # the whole store: its run chains and its deleted episodes too
        for problem in report.runs:
            print(f"FAIL {problem}", file=sys.stderr)
            reasons[_reason(problem)] += 1
        missing = sorted(set(report.episodes) - set(episodes))
        for episode_id in missing:
            problems = "; ".join(report.episodes[episode_id])
            print(f"FAIL episode {episode_id}: {problems}", file=sys.stderr)
            reasons.update(_reason(p) for p in report.episodes[episode_id])
        failed += len(missing)
    wanted = set(episodes)
    for episode_id, events in iter_episodes(con):
        if episode_id not in wanted:
            continue
        wanted.discard(episode_id)
        try:
            result = verify(con, episode_id, world=world, chain=False, events=events)
        except MedenvError as exc:
            problems = [str(exc)]
        else:
            problems = report.episodes.get(episode_id, []) + result.problems
        if problems:
            failed += 1
            print(f"FAIL episode {episode_id}: {'; '.join(problems)}", file=sys.stderr)
            reasons.update(_reason(p) for p in problems)
        else:
            print(f"ok   {result.message}")
    for episode_id in sorted(wanted):  # asked for, but no event of it is in the store
        failed += 1
        print(f"FAIL episode {episode_id}: no episode {episode_id!r} in the store", file=sys.stderr)
    n = len(episodes) + (0 if some else len(set(report.episodes) - set(episodes)))
    line = f"verified {n} episode(s): {n - failed} ok, {failed} failed"
    if reasons:
        line += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) + ")"
    if report.legacy:
        line += f"; {len(report.legacy)} written before the hash chain (schema v1)"
    if report.open_runs and not some:
        line += f"; {len(report.open_runs)} run writer(s) not closed (killed or still running)"
    if not some and report.runs:
        line += f"; {len(report.runs)} run-chain problem(s)"
    print(line)
    return 1 if failed or (report.runs and not some) else 0


# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and
# isolates (text that reads differently than it is: "Trojan Source")
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` with the characters a terminal acts on shown as escapes (``\\x1b``,
    ``\\u202e``): a transcript prints model output, which may carry escape sequences that
    clear the screen, retitle the window or hide text. ``--messages`` (JSON) keeps them."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)

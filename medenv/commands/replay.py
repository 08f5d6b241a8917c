"""``medenv replay --db PATH [--episode ID] [--verify]``: print or re-execute episodes.

Without ``--episode`` the latest episode is shown (``--verify``: every episode, or those of
``--run``). ``--verify`` re-executes each logged action in a fresh environment rebuilt from
the logged configuration and exits 1 naming the first step whose observation, reward or
end flag differs.
"""

from __future__ import annotations

import sys


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
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from medenv.env import default_db_path
    from medenv.errors import MedenvError
    from medenv.events.replay import to_messages, transcript, verify
    from medenv.events.store import connect, read_episode

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
                print(transcript(events))
            return 0
        for episode_id in episodes:
            result = verify(con, episode_id)
            if not result.ok:
                print(f"FAIL {result.message}", file=sys.stderr)
                return 1
            print(f"ok   {result.message}")
        print(f"verified {len(episodes)} episode(s)")
        return 0
    finally:
        con.close()

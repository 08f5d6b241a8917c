"""``medenv serve --host 127.0.0.1 --port P [--db PATH] [--max-sessions N]
[--session-timeout S]``: the env over HTTP (OpenEnv contract: /reset, /step, /state, /health;
one env per session; a session idle S seconds, default an hour, is closed; 0: never).

Every session's events go to ``--db`` (one run). Needs the ``serve`` extra (FastAPI,
uvicorn). A remote trainer drives it with `medenv.serve_client.RemoteEnv`. The KG flags
(`medenv.commands.kgargs`) name the graph the sessions' world is built over (with ``--qa``
a set from that graph); the run records it (`medenv.worldspec`).
"""

from __future__ import annotations

from medenv.commands.kgargs import add_kg_arguments, world_spec
from medenv.env_config import MAX_STEPS
from medenv.errors import MedenvError
from medenv.events.parquet import check_writable_store
from medenv.paths import check_out_file, medenv_home
from medenv.serve import DEFAULT_SESSION_TIMEOUT, check_port_free, require_serve, serve


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve MedResearch-v0 over HTTP (OpenEnv contract) for remote trainers",
        description="Serve MedResearch-v0 over HTTP: POST /reset opens a session (one env "
        "each), POST /step, GET /state, GET /health, POST /close. Events of every session "
        "go to one event store.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--db", default=None, help="event store (default $MEDENV_HOME/runs/serve.duckdb)"
    )
    p.add_argument("--qa", default=None, help="QA set folder or JSONL (default: built-in set)")
    p.add_argument("--max-sessions", type=int, default=64, help="sessions open at once")
    p.add_argument(
        "--session-timeout",
        type=float,
        default=DEFAULT_SESSION_TIMEOUT,
        help="close a session idle this many seconds (default %(default)g: an hour; 0: never)",
    )
    p.add_argument("--max-steps", type=int, default=12, help="step budget per episode")
    p.add_argument("--backend", default="tantivy", help="search backend: tantivy or whoosh")
    add_kg_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    require_serve()
    if not 1 <= args.max_steps <= MAX_STEPS:
        raise MedenvError(f"--max-steps must be 1 to {MAX_STEPS:,}, got {args.max_steps}")
    if args.max_sessions < 1:  # before the "serving on" line, not after it
        raise MedenvError(f"--max-sessions must be at least 1, got {args.max_sessions}")
    if not args.session_timeout >= 0:  # nan too
        raise MedenvError(
            f"--session-timeout must be >= 0 seconds (0: never), got {args.session_timeout}"
        )
    env_kwargs = {"qa": args.qa, "max_steps": args.max_steps, "backend": args.backend}
    spec = world_spec(args, backend=args.backend)
    if not spec.is_default:
        if args.qa is None:
            raise MedenvError(
                f"--source {spec.source} needs --qa (a set synthesized from that graph)"
            )
        spec.load_kg()  # a missing or bad input file fails now, as one line, before listening
        env_kwargs.update(source=spec.source, world=spec)
    db = args.db or str(medenv_home() / "runs" / "serve.duckdb")
    check_writable_store(db)
    check_out_file(db, "event store")
    check_port_free(args.host, args.port)
    print(f"serving MedResearch-v0 on http://{args.host}:{args.port} (events: {db})", flush=True)
    serve(
        args.host,
        args.port,
        db,
        max_sessions=args.max_sessions,
        session_timeout=args.session_timeout,
        env_kwargs=env_kwargs,
    )
    return 0

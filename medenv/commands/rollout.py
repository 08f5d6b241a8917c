"""``medenv rollout``: run an agent over a QA set, recording episodes in the event store.

``medenv rollout --agent oracle|heuristic|random|llm [--qa DIR] [--episodes N]
[--workers W] [--db PATH] [--seed S] [--k K] [--split SPLIT] [--model SPEC]
[--explore P] [--guidance]``

Resumable: rerunning the same command skips episodes already in ``--db``.
"""

from __future__ import annotations

import json


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "rollout",
        help="run an agent over questions and record the episodes",
        description="Run oracle (masked trajectory guidance), heuristic, random or LLM "
        "agents in MedResearch-v0; every episode goes to the DuckDB event store. "
        "Rerunning the same command resumes (finished episodes are skipped).",
    )
    p.add_argument("--agent", default="oracle", help="oracle (default), heuristic, random, llm")
    p.add_argument("--qa", default=None, help="QA set folder or JSONL (default: built-in set)")
    p.add_argument("--episodes", type=int, default=None, help="question attempts (default: all)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    p.add_argument(
        "--db", default=None, help="event store (default $MEDENV_HOME/runs/AGENT.duckdb)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=1, help="samples per question (keep shortest correct)")
    p.add_argument(
        "--split", default=None, help="only questions of this split (train, validation, test)"
    )
    p.add_argument("--max-steps", type=int, default=12, help="step budget per episode")
    p.add_argument("--backend", default="tantivy", help="search backend: tantivy or whoosh")
    p.add_argument(
        "--model",
        default=None,
        help="llm agent: HF path, transformers:PATH, openai:URL#MODEL or vllm:MODEL",
    )
    p.add_argument(
        "--max-new-tokens", type=int, default=None, help="llm agent reply length (default 512)"
    )
    p.add_argument(
        "--explore",
        type=float,
        default=None,
        help="oracle: share of episodes that try a plausible wrong candidate, check it with a "
        "tool and backtrack (0-1; default 0)",
    )
    p.add_argument(
        "--guidance",
        action="store_true",
        help="llm agent: masked trajectory guidance (the chain's relation path, every entity "
        "masked, in the prompt; export strips it)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from agents.rollout import AgentSpec, rollout
    from medenv.errors import MedenvError

    if args.agent != "llm":
        flags = (("--model", args.model), ("--max-new-tokens", args.max_new_tokens))
        given = [flag for flag, value in flags if value is not None]
        if given:
            raise MedenvError(
                f"{' and '.join(given)} only appl{'y' if len(given) > 1 else 'ies'} to "
                f"--agent llm, not --agent {args.agent}"
            )
    if args.explore is not None and args.agent != "oracle":
        raise MedenvError(f"--explore only applies to --agent oracle, not --agent {args.agent}")
    if args.explore is not None and not 0.0 <= args.explore <= 1.0:
        raise MedenvError(f"--explore must be between 0 and 1, got {args.explore}")
    if args.guidance and args.agent != "llm":
        raise MedenvError(f"--guidance only applies to --agent llm, not --agent {args.agent}")
    if args.max_steps < 1:
        raise MedenvError(f"--max-steps must be at least 1, got {args.max_steps}")
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise MedenvError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    options: dict = {}
    if args.agent == "llm":
        kind = (args.model or "").partition(":")[0]
        key = "max_tokens" if kind in ("openai", "vllm") else "max_new_tokens"
        options = {
            "model": args.model,
            "backend_options": {key: args.max_new_tokens or 512},
        }
        if args.guidance:
            options["guidance"] = True
    if args.agent == "oracle" and args.explore:
        options = {"explore": args.explore}
    result = rollout(
        AgentSpec(args.agent, options),
        qa=args.qa,
        episodes=args.episodes,
        workers=args.workers,
        db=args.db,
        seed=args.seed,
        k=args.k,
        split=args.split,
        max_steps=args.max_steps,
        env_kwargs={"backend": args.backend},
        progress=not args.no_progress,
    )
    if args.json:
        import msgspec

        print(json.dumps(msgspec.to_builtins(result)))
    else:
        print(
            f"{result.agent}: ran {result.ran} episodes ({result.skipped} already stored) in "
            f"{result.seconds:.1f}s; accuracy {result.accuracy:.3f}, mean tool calls (answer excluded) "
            f"{result.mean_tool_calls:.2f}; store {result.db[0]}"
        )
    return 0

"""``medenv rollout``: run an agent over a QA set, recording episodes in the event store.

``medenv rollout --agent oracle|heuristic|random|llm [--qa DIR] [--episodes N]
[--workers W | --concurrency N] [--db PATH] [--seed S] [--k K] [--split SPLIT] [--model SPEC]
[--explore P] [--guidance]``

Resumable: rerunning the same command skips episodes already in ``--db``. The KG flags
(`medenv.commands.kgargs`: ``--source hpo+hetionet --path hetionet=DIR``) name the graph
whose world (corpus, indexes) the episodes run in; default: HPO.
"""

from __future__ import annotations

import json

import msgspec

from medenv.agents.llm import model_contract
from medenv.agents.rollout import AgentSpec, rollout
from medenv.commands.kgargs import add_kg_arguments, world_spec
from medenv.curriculum import parse_hops
from medenv.env_config import MAX_STEPS
from medenv.errors import MedenvError, check_seed
from medenv.prompt import add_prompt_arguments, parts_from_args


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
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="spread episodes over a Ray cluster (no ADDRESS: a local Ray); extra medenv[ray]",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="llm agent on an openai:URL#MODEL server: episodes in flight in this process",
    )
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
    add_kg_arguments(p)
    add_prompt_arguments(p)
    p.add_argument(
        "--hops",
        default=None,
        metavar="N[,N...]",
        help="curriculum: only questions with these hop counts (e.g. 1, or 1,2)",
    )
    p.add_argument(
        "--api-key-env",
        default=None,
        metavar="NAME",
        help="openai models: environment variable holding the API key (default OPENAI_API_KEY)",
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
    check_seed(args.seed)
    if args.agent != "llm":
        flags = (
            ("--model", args.model),
            ("--max-new-tokens", args.max_new_tokens),
            ("--api-key-env", args.api_key_env),
            ("--no-system", args.no_system),
            ("--system-prompt-file", args.system_prompt_file),
            ("--no-template-tools", args.template_tools),
            ("--max-tool-chars", args.max_tool_chars),
            ("--thinking", args.thinking),
            ("--adapt-prompt", args.adapt_prompt),
        )
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
    if not 1 <= args.max_steps <= MAX_STEPS:
        raise MedenvError(f"--max-steps must be 1 to {MAX_STEPS:,}, got {args.max_steps}")
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise MedenvError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    env_kwargs: dict = {"backend": args.backend}
    spec = world_spec(args, backend=args.backend)
    if not spec.is_default:  # the env records the spec: replay and eval rebuild the world
        env_kwargs["source"] = spec.source
        env_kwargs["world"] = spec
    options: dict = {}
    if args.agent == "llm":
        kind = (args.model or "").partition(":")[0]
        key = "max_tokens" if kind in ("openai", "vllm") else "max_new_tokens"
        options = {
            "model": args.model,
            "backend_options": {key: args.max_new_tokens or 512},
        }
        if args.api_key_env is not None:
            if kind != "openai":
                raise MedenvError("--api-key-env applies to --model openai:URL#MODEL only")
            # the variable's name travels (to workers too); the key is read where it is sent
            options["backend_options"]["api_key_env"] = args.api_key_env
        if args.guidance:
            options["guidance"] = True

        asked = parts_from_args(args)
        if args.model:  # refuse a mismatch now, not in every worker
            model_contract(args.model, asked, bool(args.adapt_prompt))
        options["prompt"] = asked
        options["adapt_prompt"] = bool(args.adapt_prompt)
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
        env_kwargs=env_kwargs,
        progress=not args.no_progress,
        concurrency=args.concurrency,
        ray=args.ray,
        hops=parse_hops(args.hops),
    )
    if args.json:
        print(json.dumps(msgspec.to_builtins(result)))
    else:
        print(summary_line(result))
    return 0


def summary_line(result) -> str:
    """The one-line summary of a `RolloutResult`: no accuracy when no episode ran now (not
    a 0.000 that reads as a score), and the store as "(none written)" when it has no file
    yet (``--episodes 0``)."""
    head = f"{result.agent}: ran {result.ran} episodes ({result.skipped} already stored) in "
    head += f"{result.seconds:.1f}s"
    if result.ran:
        head += (
            f"; accuracy {result.accuracy:.3f}, mean tool calls (answer excluded) "
            f"{result.mean_tool_calls:.2f}"
        )
    return f"{head}; store {result.db[0] if result.db else '(none written)'}"

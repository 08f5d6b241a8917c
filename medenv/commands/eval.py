"""`medenv eval`: the evaluation table (and optional report, judge) from an event log.

Groundedness is checked against the graph each run recorded (`medenv.worldspec`: an edge
list or Hetionet folder is reloaded from its recorded path); the KG flags
(`medenv.commands.kgargs`) override it. A ``--qa`` set built from another graph than the
runs' is refused with one line.
"""

from __future__ import annotations

import argparse
import os
import sys

from medenv import evaluation
from medenv import learning_curve as lc
from medenv.commands.kgargs import add_kg_arguments, has_kg_flags, world_spec
from medenv.errors import MedenvError, check_seed
from medenv.evaluation import paired
from medenv.evaluation.report import check_report_folder
from medenv.events.episodes import headless_episodes
from medenv.events.store import connect, spool_notes
from medenv.judge import judge_log, lexical_judge
from medenv.paths import check_out_dir


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="metrics, reports and an optional LLM judge over an event log",
        description=(
            "Compute accuracy (with bootstrap CI), pass@k, tool calls, tool-call efficiency, "
            "format errors, tokens and evidence recall from the DuckDB event log, runs side "
            "by side, with breakdowns by specialty, hops and rarity."
        ),
    )
    p.add_argument(
        "--db", action="append", required=True, metavar="PATH",
        help="event store file or glob (repeatable; shards of one run are read together)",
    )  # fmt: skip
    p.add_argument("--run", action="append", metavar="ID", help="only these run ids (repeatable)")
    p.add_argument(
        "--group-by", default="run", metavar="run|TAG",
        help="compare runs (default) or the values of an episode tag, e.g. 'agent'",
    )  # fmt: skip
    p.add_argument(
        "--qa", metavar="PATH",
        help="QA set (folder, qa.jsonl or plain JSONL) to look up rarity/hops/specialty by question id",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument(
        "--report", metavar="DIR", help="write report.md, metrics.json and PNG plots here"
    )
    p.add_argument(
        "--judge", metavar="SPEC",
        help="judge answers that do not match by string: 'lexical' (built in, no model), or a "
        "backend spec ('transformers:PATH', 'openai:URL#MODEL', 'vllm:MODEL'); verdicts are "
        "written to the event log as judge_verdict events and cached",
    )  # fmt: skip
    p.add_argument(
        "--api-key-env", default=None, metavar="NAME",
        help="--judge openai:URL#MODEL: environment variable holding the API key (default "
        "OPENAI_API_KEY; never logged)",
    )  # fmt: skip
    p.add_argument(
        "--plot-steps", metavar="PNG",
        help="plot the mean reward by training step (episodes tagged training_step, e.g. "
        "GRPO's) and print its slope with a 95%% CI",
    )  # fmt: skip
    p.add_argument(
        "--paired-with", metavar="PATH",
        help="a baseline store run on the same questions (e.g. the model before training): "
        "print both runs' verdicts question by question (discordant pairs, the accuracy "
        "difference with a paired 95%% CI, the exact McNemar p-value)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_kg_arguments(p)
    p.set_defaults(func=run)


# the bootstrap draws resamples x episodes indexes at once (8 bytes each)
MAX_BOOTSTRAP = 100_000


def make_judge(spec: str, api_key_env: str | None = None):
    """``(generate, model_name)`` for a ``--judge`` spec; ``api_key_env`` names the variable
    an ``openai:`` judge reads its API key from (only the name travels; the key is read
    where the request is sent and is never part of the model name or an event)."""
    kind = spec.partition(":")[0]
    if api_key_env is not None and kind != "openai":
        raise MedenvError("--api-key-env applies to --judge openai:URL#MODEL only")
    if spec == "lexical":
        return lexical_judge, "lexical"
    try:
        from medenv.agents.backend_transformers import (
            check_model_path,
            could_be_hub_id,
            in_hub_cache,
        )
        from medenv.agents.llm import make_backend
    except ImportError as exc:
        raise MedenvError(f"--judge {spec!r} needs the agents package ({exc})") from exc
    # a bare name (no backend: make_backend reads it as a transformers model) must be a
    # model here (a folder, tiny/small, the hub cache); `transformers:ORG/NAME` downloads
    bare = ":" not in spec or not kind.isidentifier()
    if bare and spec not in ("tiny", "small") and not os.path.lexists(os.path.expanduser(spec)):
        if not could_be_hub_id(spec):
            check_model_path(spec)  # a path, not a hub id: "no model folder at ..."
        if not in_hub_cache(spec):  # it waited ~50 s on an unreachable hub before its error
            raise MedenvError(
                f"--judge {spec!r} is not a judge medenv knows: not 'lexical', 'tiny' or "
                "'small', no model folder of that name, no hub model of that name in the "
                "local Hugging Face cache; give transformers:ORG/NAME to download a hub "
                "model, openai:URL#MODEL or vllm:MODEL"
            )
    options = {"api_key_env": api_key_env} if api_key_env is not None else {}
    backend = make_backend(spec, **options)
    return (lambda messages: backend.generate(messages, [])), spec


def _spool_notes(paths, runs=None) -> list[str]:
    """`medenv.events.store.spool_notes` of the stores ``paths`` (a read of their files and
    spools only), and a line for episodes left out of every metric for want of their
    ``episode_started`` event (`medenv.events.episodes.headless_episodes`)."""
    con = connect(paths)
    try:
        notes = list(spool_notes(con))
        headless = headless_episodes(con, runs)
        if headless:
            run, episode = headless[0]
            notes.append(
                f"{len(headless)} episode(s) have events but no episode_started event (the "
                f"first: run {run!r}, episode {episode!r}): no question to score or check, "
                "left out of every metric (`medenv replay --verify` says whether the log "
                "was edited)"
            )
        return notes
    finally:
        con.close()


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.bootstrap <= MAX_BOOTSTRAP:
        raise MedenvError(
            f"--bootstrap must be between 1 and {MAX_BOOTSTRAP:,}, got {args.bootstrap}"
        )
    check_seed(args.seed)
    if args.json and args.markdown:
        raise MedenvError("--json and --markdown are two output formats: give one")
    if args.report:
        check_out_dir(args.report, "--report")
        check_report_folder(args.report)  # your own report.md there: before any work
    if args.api_key_env is not None and not args.judge:
        raise MedenvError("--api-key-env applies to --judge openai:URL#MODEL only")
    paths = evaluation.resolve_db_paths(args.db)
    base = evaluation.resolve_db_paths([args.paired_with]) if args.paired_with else None
    if args.judge:
        generate, model = make_judge(args.judge, args.api_key_env)
        s = judge_log(paths, generate, model, runs=args.run, progress=not args.no_progress)
        print(
            f"judge {model} on {paths[0]}: {s.candidates} unmatched answers, {s.judged} new "
            f"verdicts ({s.cached} from cache, {s.correct} correct), {s.already} already judged",
            file=sys.stderr,
        )
    result = evaluation.evaluate(
        paths, runs=args.run, group_by=args.group_by, seed=args.seed,
        n_bootstrap=args.bootstrap, qa=args.qa,
        world=world_spec(args) if has_kg_flags(args) else None,
    )  # fmt: skip
    for note in _spool_notes(paths, args.run):  # lines of a spool the read could not take: said
        print(f"note {note}", file=sys.stderr)
    if args.json:
        print(evaluation.to_json(result))
    else:
        print(evaluation.format_table(result, markdown=args.markdown))
    if args.report:
        path = evaluation.write_report(result, args.report)
        print(f"report: {path}", file=sys.stderr)
    if args.paired_with:
        c = paired.compare_stores(base, paths, runs_b=args.run, seed=args.seed)
        print(f"paired with {args.paired_with}: {paired.describe(c, 'baseline', 'this')}",
              file=sys.stderr)  # fmt: skip
    if args.plot_steps:
        rows = lc.episode_rewards(paths, runs=args.run)
        png = lc.plot_reward_by_step(lc.by_step(rows), args.plot_steps)
        line = f"reward by training step: {png}"
        if len({s for s, _, _ in rows}) >= 2:
            sl = lc.reward_slope(rows, seed=args.seed)
            line += (
                f"; slope {sl.slope:+.5f}/step [95% CI {sl.ci[0]:+.5f}, {sl.ci[1]:+.5f}] "
                f"over {sl.steps} steps, {sl.episodes} episodes"
            )
        print(line, file=sys.stderr)
    return 0

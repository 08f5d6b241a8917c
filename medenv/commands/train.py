"""`medenv train sft|grpo|pool`: fine-tune a model on trajectories, train it with GRPO in the
env, or pick GRPO's questions.

    medenv train sft  --data DIR --model PATH_OR_tiny --out DIR [--config sft.yaml] [...]
    medenv train grpo --qa DIR   --model PATH_OR_tiny --out DIR [--config grpo.yaml] [...]
    medenv train pool --qa DIR   --model PATH --out POOL.json [--k 8 --candidates 40 --size 8]
    medenv train grpo ... --pool POOL.json    # only the questions the model answers sometimes

Flags override the YAML config (keys = the fields of `SFTTrainConfig` / `GRPOTrainConfig`).
``grpo`` takes the KG flags (`medenv.commands.kgargs`: ``--source edgelist --path kg.csv``,
with ``--qa`` a set built from that graph); its runs record the world spec.
Prints a final summary (steps, losses or rewards, time per step, peak memory).
"""

from __future__ import annotations

import argparse
import json

from medenv.commands.kgargs import add_kg_arguments, world_spec
from medenv.errors import MedenvError, check_seed
from medenv.training.config import load_config
from medenv.training.grpo import LOSS_TYPES, SUPPORTS, GRPOTrainConfig, train_grpo
from medenv.training.grpo_pool import build_pool
from medenv.training.sft import SFTTrainConfig, train_sft


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="SFT on trajectories or GRPO against the env")
    sub = parser.add_subparsers(dest="mode", metavar="MODE", required=True)

    sft = sub.add_parser("sft", help="supervised fine-tuning on an exported SFT dataset")
    sft.add_argument("--data", help="folder or file of SFT rows (.jsonl/.parquet)")
    _common(sft)
    sft.add_argument("--epochs", type=float)
    sft.add_argument("--max-length", type=max_length, dest="max_length",
                     help="token cut per row, or auto (default): 95%% of rows trained whole")  # fmt: skip
    sft.add_argument("--eval-fraction", type=float, dest="eval_fraction")
    sft.add_argument("--max-rows", type=int, dest="max_rows")
    sft.add_argument("--no-template-tools", action="store_const", const=False, dest="template_tools",
                     help="do not render tool schemas in the template (the prompt lists them)")  # fmt: skip
    sft.add_argument("--no-system", action="store_const", const=False, dest="keep_system",
                     help="drop the rows' system turn")  # fmt: skip
    sft.add_argument("--no-thinking-text", action="store_const", const=False, dest="keep_thinking",
                     help="train on assistant turns without their <think> text")  # fmt: skip
    sft.add_argument("--question-only", action="store_const", const="question", dest="task_prompt",
                     help="the first user turn keeps only its 'Question: ...' part")  # fmt: skip
    sft.add_argument("--entity-swap", type=int, dest="entity_swap", metavar="N",
                     help="add N entity-swapped copies of each training row (teaches a small "
                     "model to copy names: medenv.training.entity_swap; default 0)")  # fmt: skip
    sft.add_argument("--eval-steps", type=int, dest="eval_steps",
                     help="held-out loss every N steps (default: ~10 points per run)")  # fmt: skip
    sft.set_defaults(func=run)

    grpo = sub.add_parser("grpo", help="GRPO with the MedResearch-v0 environment")
    grpo.add_argument("--qa", help="QA set folder or file (default: the built-in set)")
    _common(grpo)
    grpo.add_argument("--db", help="event store for the rollouts (default: OUT/events.duckdb)")
    grpo.add_argument("--num-generations", type=int, dest="num_generations")
    grpo.add_argument("--max-completion-length", type=int, dest="max_completion_length")
    grpo.add_argument("--max-questions", type=int, dest="max_questions")
    grpo.add_argument("--pool", help="a pool file of `medenv train pool`: train only on its "
                      "selected questions (those the start model answers sometimes)")  # fmt: skip
    grpo.add_argument("--max-tool-calling-iterations", type=int, dest="max_tool_calling_iterations")
    grpo.add_argument("--temperature", type=float)
    grpo.add_argument("--top-k", type=int, dest="top_k",
                      help="sample among the K most likely tokens (default 50, as the llm agent; "
                      "0: the whole vocabulary)")  # fmt: skip
    grpo.add_argument("--no-template-tools", action="store_const", const=False, dest="template_tools",
                      help="prompts without the template's tool block (as an SFT run with it)")  # fmt: skip
    grpo.add_argument("--no-system", action="store_const", const=True, dest="no_system",
                      help="prompt contract: no system turn")  # fmt: skip
    grpo.add_argument("--system-prompt-file", dest="system_prompt_file",
                      help="prompt contract: the system turn's text, from a file")  # fmt: skip
    grpo.add_argument("--thinking", choices=("on", "off"),
                      help="prompt contract: enable_thinking for the chat template")  # fmt: skip
    grpo.add_argument("--adapt-prompt", action="store_const", const=True, dest="adapt_prompt",
                      help="render as the flags ask even where the start model's contract differs")  # fmt: skip
    grpo.add_argument("--env-max-steps", type=int, dest="env_max_steps",
                      help="step budget per episode (default 12, as medenv rollout)")  # fmt: skip
    grpo.add_argument("--reward-evidence-recall", type=float, dest="reward_evidence_recall",
                      help="weight of the dense evidence-recall term (default 0: a metric)")  # fmt: skip
    grpo.add_argument("--loss-type", dest="loss_type", choices=LOSS_TYPES,
                      help="TRL's loss aggregation: dapo (default, TRL's: every token of the "
                      "batch weighs the same), grpo (each completion's mean: short completions' "
                      "tokens weigh more), dr_grpo, bnpo")  # fmt: skip
    grpo.add_argument(
        "--beta",
        type=float,
        help="KL coefficient to the start model (default 0: no reference model)",
    )
    grpo.add_argument("--logprob-support", choices=SUPPORTS, dest="logprob_support",
                      help="full (default): score tokens over the whole vocabulary, as TRL; "
                      "sampled: under the top-k distribution generation samples from, so "
                      "no gradient moves tokens that are never sampled")  # fmt: skip
    grpo.add_argument("--malformed-turn", choices=("continue", "end"), dest="malformed_turn",
                      help="continue (default): a malformed turn is a penalised step, as in "
                      "evaluation; end: the rollout stops there")  # fmt: skip
    grpo.add_argument("--use-vllm", action="store_const", const=True, dest="use_vllm")
    add_kg_arguments(grpo)
    grpo.set_defaults(func=run)

    pool = sub.add_parser("pool", help="a GRPO pool: questions the model answers sometimes "
                          "(k samples each; medenv.training.grpo_pool)")  # fmt: skip
    pool.add_argument("--model", required=True, help="the model GRPO will start from")
    pool.add_argument("--qa", help="QA set folder or file (default: the built-in set)")
    pool.add_argument("--out", required=True, help="the pool file (JSON); its episodes go to "
                      "the .duckdb beside it")  # fmt: skip
    pool.add_argument("--size", type=int, default=8, help="at most this many questions (default 8)")
    pool.add_argument("--candidates", type=int, default=48,
                      help="questions drawn (seeded) and sampled (default 48; 0: all)")  # fmt: skip
    pool.add_argument("--k", type=int, default=8, help="samples per candidate (default 8)")
    pool.add_argument("--temperature", type=float, default=1.0,
                      help="sampling temperature: GRPO's (default 1.0)")  # fmt: skip
    pool.add_argument("--seed", type=int, default=0)
    pool.add_argument("--split", default="train")
    pool.add_argument("--hops", help="curriculum: only questions of these hop counts (1 or 1,2)")
    pool.add_argument("--env-max-steps", type=int, default=4, dest="env_max_steps",
                      help="step budget per sampled episode (default 4)")  # fmt: skip
    pool.add_argument("--max-new-tokens", type=int, default=96, dest="max_new_tokens")
    pool.add_argument("--patience", type=int, default=0,
                      help="stop when the first N candidates get no correct answer at all "
                      "(default 0: never)")  # fmt: skip
    pool.add_argument("--sample-all", action="store_false", dest="early_stop",
                      help="sample every candidate (default: stop once --size are learnable)")  # fmt: skip
    pool.add_argument("--stratify", action="store_true",
                      help="draw and select by relation pattern: the pool asks every kind of "
                      "question the draw holds (medenv.training.grpo_pool)")  # fmt: skip
    pool.add_argument("--threads", type=int)
    pool.add_argument("--no-progress", action="store_false", dest="progress")
    pool.set_defaults(func=run_pool)


def run_pool(args: argparse.Namespace) -> int:
    check_seed(args.seed)
    p = build_pool(
        args.model, args.qa, args.out, size=args.size, candidates=args.candidates, k=args.k,
        temperature=args.temperature, seed=args.seed, split=args.split, hops=args.hops,
        env_max_steps=args.env_max_steps, max_new_tokens=args.max_new_tokens,
        threads=args.threads, progress=args.progress, patience=args.patience,
        early_stop=args.early_stop, stratify=args.stratify,
    )  # fmt: skip
    mixed = sum(1 for a, n in p.counts.values() if 0 < a < n)
    never = sum(1 for a, _ in p.counts.values() if a == 0)
    n = len(p.counts)
    print(f"pool: {len(p.selected)} questions selected of {n} candidates sampled "
          f"({len(p.candidates)} drawn, stopped: {p.stopped}; {mixed} answered sometimes, "
          f"{never} never, {n - mixed - never} always, {p.k} samples each at temperature "
          f"{p.temperature:g}); written to {args.out}")  # fmt: skip
    return 0


def max_length(value: str) -> int | str:
    """``auto`` or an integer (argparse type of ``--max-length``)."""
    return value if value == "auto" else int(value)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help='HF model folder/id, or "tiny" (default)')
    p.add_argument("--out", help="output folder")
    p.add_argument("--config", help="YAML config (flags override it)")
    p.add_argument("--max-steps", type=int, dest="max_steps")
    p.add_argument("--lr", type=float, dest="learning_rate")
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--lora", action="store_const", const=True)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-tool-chars", type=int, dest="max_tool_chars",
                   help="cut tool observations the model reads to this many characters")  # fmt: skip
    p.add_argument("--hops", help="curriculum: only questions/rows of these hop counts (1 or 1,2)")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads (default: 1 on <= 2 cores, else half the cores)")  # fmt: skip
    p.add_argument("--no-progress", action="store_const", const=False, dest="progress")


_SKIP = {"command", "mode", "func", "config"}
_KG_FLAGS = {"source", "path", "align", "alignment", "keep_side_effects", "gene_names"}


def run(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in vars(args).items() if k not in _SKIP}
    if args.mode == "sft":
        config = load_config(SFTTrainConfig, args.config, **overrides)
        if not config.data:
            raise MedenvError("--data is required (a folder of exported SFT rows)")
        result = train_sft(config)
        print(
            f"SFT done: {result.steps} steps on {result.n_train} trajectories "
            f"({result.n_eval} held out) in {result.seconds:.1f}s "
            f"({result.seconds_per_step:.2f}s/step), peak memory {result.peak_memory_mb:.0f} MB"
        )
        print(
            f"max_length {result.max_length}: {result.assistant_turns_with_loss:.1%} of the "
            f"assistant turns receive loss; {result.threads} torch thread(s)"
        )
        if result.eval_loss_before is not None:
            curve = ", ".join(f"{p['step']}: {p['eval_loss']:.3f}" for p in result.eval_curve)
            print(
                f"held-out loss {result.eval_loss_before:.3f} -> {result.eval_loss_after:.3f}; "
                f"train loss {result.train_loss:.3f}; by step: {curve}"
            )
        print(f"model saved to {result.out}")
    else:
        for key in _KG_FLAGS:
            overrides.pop(key, None)
        config = load_config(GRPOTrainConfig, args.config, **overrides)
        spec = world_spec(args, backend=config.backend)
        world = None
        if not spec.is_default:
            if not config.qa:
                raise MedenvError(
                    f"--source {spec.source} needs --qa (a set synthesized from that graph)"
                )
            config.source, world = spec.source, spec
        result = train_grpo(config, world=world)
        print(
            f"GRPO done: {result.steps} steps in {result.seconds:.1f}s "
            f"({result.seconds_per_step:.2f}s/step), lr {result.learning_rate:g}, "
            f"{result.threads} torch thread(s), peak memory {result.peak_memory_mb:.0f} MB"
        )
        for row in result.rewards:
            print("  " + json.dumps(row, sort_keys=True))
        print(f"model saved to {result.out}; rollouts in {result.db} (runs {result.run_ids})")
    return 0

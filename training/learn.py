"""``make learn``: the CPU learning benchmark -- does what medenv trains get better at the task?

Runs the whole loop through medenv's own commands, as a user would (each stage is a
``medenv`` subprocess; timings and the machine's load average are recorded):

1. ``medenv synth --hops 1`` and ``--hops 2`` at ``--obfuscation 0`` (pinned: a change of the
   default level must not change this run): a 1-hop / 2-hop curriculum;
2. ``medenv rollout --agent oracle`` on their train splits, ``medenv export --format sft``;
3. ``medenv rollout --agent llm`` + ``medenv eval`` of the untrained ``small`` model (rendered
   with the same prompt contract the SFT run will use);
4. ``medenv train sft`` of the ``small`` model (built locally, `medenv.agents.tiny`) on the
   rows of ``sft_hops`` (1-hop by default); the checkpoint saves its prompt contract;
5. ``medenv rollout --agent llm --model SFT`` (default prompt flags: the contract is read
   back) + ``medenv eval`` on the held-out 1-hop test questions;
6. ``medenv train grpo`` from the SFT checkpoint on 1-hop train questions
   (``grpo_prompts`` questions x ``grpo_generations`` rollouts a step; ``grpo_questions``
   N > 0: a fixed pool, the first N training questions, revisited across steps;
   ``grpo_pool`` N > 0: first ``medenv train pool``, a pool of at most N training questions
   the SFT model answers sometimes -- ``grpo_pool_k`` samples of each of
   ``grpo_pool_candidates`` candidates drawn with ``grpo_pool_seed``, at the GRPO
   temperature, `medenv.training.grpo_pool`, stopping once ``grpo_pool`` are found or
   when the first ``grpo_pool_patience`` candidates give no correct answer;
   ``grpo_pool_stratify``: drawn and selected by relation pattern -- and GRPO
   (seed ``grpo_seed``, TRL's loss aggregation ``grpo_loss``, KL coefficient ``grpo_beta``,
   token scoring ``grpo_support``) on it; the pool is recorded in
   ``summary.json``);
7. the same evaluation of the GRPO checkpoint;
8. ``OUT/summary.json`` (for the untrained, SFT and GRPO models: ``parseable_turns``,
   ``tool_call_turns``, ``accuracy``, ``accuracy_ci``, evidence recall; for the training
   runs: ``reward_slope`` and ``reward_slope_ci`` of reward on training step from the
   event log, SFT held-out loss curve; ``grpo.vs_sft``: the GRPO model against the SFT one
   on the same held-out questions (`medenv.evaluation.paired`: discordant pairs, the
   accuracy difference with a paired 95% CI, the exact McNemar p-value); wall and CPU
   seconds per stage, load average),
   ``sft_loss.png`` and ``grpo_reward.png``.

``python -m medenv.training.learn --out out/learn [--quick] [--set KEY=VALUE]``; ``--quick`` is a
smaller run. Rerunning into the same folder resumes: finished stages are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import msgspec

from medenv import learning_curve as lc
from medenv.evaluation import connect_stores, paired
from medenv.paths import save_figure, write_file

# Sizes of the default run: sized for <= 20 minutes on a quiet 2-core machine.
# model: "small" (a few M parameters, `medenv.agents.tiny.SMALL_CONFIG`) or "tiny";
# sft_hops: the hop counts SFT trains on; eval_episodes 0: every held-out test question.
FULL = dict(n1=1000, n2=100, obfuscation=0, model="small", sft_hops="1", sft_steps=200,
            sft_lr=1e-3, sft_batch=4, max_tool_chars=400, question_only=1,
            grpo_steps=12, grpo_generations=4, grpo_prompts=8, grpo_questions=0, grpo_lr=1e-4,
            grpo_pool=8, grpo_pool_candidates=32, grpo_pool_k=8, grpo_pool_seed=0,
            grpo_pool_patience=12, grpo_pool_stratify=1, grpo_seed=0, grpo_loss="dapo", grpo_beta=0.0,
            grpo_support="full",
            grpo_completion=320,
            grpo_evidence=0.5, eval_steps=4, eval_tokens=96, eval_episodes=0,
            untrained_episodes=6, temperature=0.7, think_text=0, entity_swap=4)  # fmt: skip
# the quick run's tiny model answers (next to) nothing: no pool, the plain 1 x 4 GRPO steps
QUICK = dict(FULL, n1=120, n2=40, model="tiny", sft_steps=60, sft_batch=2, grpo_steps=3,
             grpo_pool=0, grpo_prompts=1, grpo_generations=4, grpo_lr=None,
             eval_episodes=6, eval_tokens=64, untrained_episodes=4)


CPU_SECONDS: dict[str, float] = {}  # CPU time (user + system) of each command, by its verb


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _medenv(args: list[str], log: Path, done: Path | None = None) -> float:
    """Run one ``medenv`` command (output appended to ``log``); its wall time in seconds
    (its CPU time is added to `CPU_SECONDS` under its first two words).
    Skipped (0 s) when ``done`` exists: a rerun after an interruption resumes (rollouts
    resume by themselves)."""
    if done is not None and done.exists():
        return 0.0
    start, cpu = time.perf_counter(), _child_cpu()
    with log.open("a") as fh:
        fh.write(f"\n$ medenv {' '.join(args)}\n")
        fh.flush()
        proc = subprocess.run(
            [sys.executable, "-m", "medenv.cli", *args], stdout=fh, stderr=subprocess.STDOUT
        )
    if proc.returncode != 0:
        raise SystemExit(f"learn: `medenv {' '.join(args)}` failed (exit {proc.returncode}); see {log}")
    verb = " ".join(args[:2])
    CPU_SECONDS[verb] = CPU_SECONDS.get(verb, 0.0) + _child_cpu() - cpu
    return time.perf_counter() - start


def _eval_json(db: Path, log: Path) -> dict:
    out = subprocess.run(
        # by agent: a resumed evaluation is two runs of one agent in the store
        [sys.executable, "-m", "medenv.cli", "eval", "--db", str(db), "--group-by", "agent",
         "--json"],
        capture_output=True, text=True,
    )  # fmt: skip
    with log.open("a") as fh:
        fh.write(f"\n$ medenv eval --db {db} --json\n{out.stdout}{out.stderr}")
    if out.returncode != 0:
        raise SystemExit(f"learn: medenv eval on {db} failed; see {log}")
    data = json.loads(out.stdout)
    groups = data.get("groups") or data.get("runs") or data
    return groups[0] if isinstance(groups, list) else next(iter(groups.values()))


def turn_shares(db: Path) -> dict:
    """Share of the model's turns that parsed (a tool call or an answer: not rejected) and
    that made a research tool call (not the answer), from the event log (shards included,
    each file read once)."""
    con = connect_stores(db)
    try:
        counts = dict(con.execute(
            "select type, count(distinct (run_id, episode_id, json_extract(payload, '$.step'))) "
            "from events where type in ('action_received', 'action_rejected') or (type = "
            "'tool_called' and json_extract_string(payload, '$.name') != 'answer') "
            "group by type"
        ).fetchall())  # fmt: skip
    finally:
        con.close()
    actions = counts.get("action_received", 0)
    rejected = counts.get("action_rejected", 0)
    calls = counts.get("tool_called", 0)
    if not actions:
        return {"turns": 0, "parseable_turns": 0.0, "tool_call_turns": 0.0}
    return {
        "turns": actions,
        "parseable_turns": round(1 - rejected / actions, 4),
        "tool_call_turns": round(calls / actions, 4),
    }


def _eval_db(out: Path, name: str) -> Path:
    return out / "runs" / f"eval_{name}.duckdb"


def _model_eval(name: str, model: str, qa: Path, out: Path, cfg: dict, log: Path,
                extra: list[str] = (), episodes: int | None = None) -> dict:  # fmt: skip
    db = _eval_db(out, name)
    args = ["rollout", "--agent", "llm", "--model", model, "--qa", str(qa), "--split", "test",
            "--db", str(db), "--max-steps", str(cfg["eval_steps"]),
            "--max-new-tokens", str(cfg["eval_tokens"]), "--no-progress", *extra]  # fmt: skip
    episodes = episodes or cfg["eval_episodes"]
    if episodes:
        args += ["--episodes", str(episodes)]
    seconds = _medenv(args, log)
    metrics = _eval_json(db, log)
    return {
        **turn_shares(db),
        "accuracy": metrics.get("accuracy"),
        "accuracy_ci": metrics.get("accuracy_ci"),
        "episodes": metrics.get("n_episodes"),
        "mean_reward": metrics.get("mean_reward"),
        "mean_tool_calls": metrics.get("mean_tool_calls"),
        "format_error_rate": metrics.get("format_error_rate"),
        "evidence_recall": metrics.get("evidence_recall"),
        "eval_seconds": round(seconds, 1),
    }


def _plot_sft(meta: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if meta.get("loss_curve"):
        ax.plot([p["step"] for p in meta["loss_curve"]], [p["loss"] for p in meta["loss_curve"]],
                label="train loss", alpha=0.6)  # fmt: skip
    ax.plot([p["step"] for p in meta["eval_curve"]], [p["eval_loss"] for p in meta["eval_curve"]],
            marker="o", label="held-out loss")  # fmt: skip
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title("SFT loss by step")
    ax.legend()
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)


def pool_args(cfg: dict, sft: Path, qa1: Path, pool: Path) -> list[str]:
    """The ``medenv train pool`` command of the pool stage (``grpo_pool`` > 0)."""
    return ["train", "pool", "--model", str(sft), "--qa", str(qa1), "--hops", "1", "--out", str(pool),
            "--size", str(cfg["grpo_pool"]), "--candidates", str(cfg["grpo_pool_candidates"]),
            "--k", str(cfg["grpo_pool_k"]), "--temperature", str(cfg["temperature"]),
            "--seed", str(cfg["grpo_pool_seed"]), "--env-max-steps", str(cfg["eval_steps"]),
            "--max-new-tokens", str(cfg["eval_tokens"]),
            "--patience", str(cfg["grpo_pool_patience"]), "--no-progress"] + (
            ["--stratify"] if cfg["grpo_pool_stratify"] else [])  # fmt: skip


def grpo_args(
    cfg: dict, sft: Path, qa1: Path, grpo: Path, pool: Path, use_pool: bool | None = None
) -> list[str]:
    """The ``medenv train grpo`` command of the GRPO stage: on ``pool`` when ``use_pool``
    (default: when ``grpo_pool``), else on all 1-hop training questions."""
    use_pool = bool(cfg["grpo_pool"]) if use_pool is None else use_pool
    args = ["train", "grpo", "--model", str(sft), "--qa", str(qa1), "--out", str(grpo),
            "--max-steps", str(cfg["grpo_steps"]), "--num-generations", str(cfg["grpo_generations"]),
            "--batch-size", str(cfg["grpo_generations"] * cfg["grpo_prompts"]), "--hops", "1",
            "--max-completion-length", str(cfg["grpo_completion"]),
            "--env-max-steps", str(cfg["eval_steps"]), "--temperature", str(cfg["temperature"]),
            "--seed", str(cfg["grpo_seed"]), "--loss-type", cfg["grpo_loss"],
            "--beta", str(cfg["grpo_beta"]), "--logprob-support", cfg["grpo_support"],
            "--no-progress"]  # fmt: skip
    if use_pool:
        args += ["--pool", str(pool)]
    if cfg["grpo_questions"]:  # a fixed pool of training questions, revisited every few steps
        args += ["--max-questions", str(cfg["grpo_questions"])]
    if cfg["grpo_lr"]:
        args += ["--lr", str(cfg["grpo_lr"])]
    if cfg["grpo_evidence"]:
        args += ["--reward-evidence-recall", str(cfg["grpo_evidence"])]
    return args


def run(out: Path, cfg: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    log = out / "learn.log"
    log.touch()
    timings: dict[str, float] = {}
    load_start = os.getloadavg()
    qa1, qa2 = out / "qa1", out / "qa2"
    # the obfuscation level is pinned: another default level must not change this run
    synth = ["--seed", "0", "--obfuscation", str(cfg["obfuscation"]), "--no-progress"]
    timings["synth"] = _medenv(["synth", "--hops", "1", "--n", str(cfg["n1"]), "--out", str(qa1),
                                *synth], log, qa1 / "qa.jsonl")  # fmt: skip
    timings["synth"] += _medenv(["synth", "--hops", "2", "--n", str(cfg["n2"]), "--out", str(qa2),
                                 *synth], log, qa2 / "qa.jsonl")  # fmt: skip
    oracle = out / "runs" / "oracle.duckdb"
    timings["oracle"] = sum(
        _medenv(["rollout", "--agent", "oracle", "--qa", str(qa), "--split", "train",
                 "--db", str(oracle), "--no-progress"], log)  # fmt: skip
        for qa in (qa1, qa2)
    )
    timings["export"] = _medenv(["export", "--db", str(oracle), "--out", str(out / "data"),
                                 "--format", "sft"], log, out / "data" / "sft.jsonl")  # fmt: skip
    contract = ["--no-system", "--no-template-tools", "--max-tool-chars",
                str(cfg["max_tool_chars"])]  # fmt: skip
    if cfg["question_only"]:
        contract.append("--question-only")
    # the tiny model learns the tool-call format far sooner without the oracle's think text
    think = [] if cfg["think_text"] else ["--no-thinking-text"]
    summary: dict = {"config": cfg}
    # the untrained model writes no tool call and no EOS: every turn costs the full token
    # budget, so it is evaluated on fewer questions (the first of the same list)
    summary["untrained"] = _model_eval("untrained", cfg["model"], qa1, out, cfg, log, contract + think,
                                       cfg["untrained_episodes"])  # fmt: skip
    sft = out / "models" / "sft"
    timings["sft"] = _medenv(["train", "sft", "--data", str(out / "data"), "--model", cfg["model"],
                              "--hops", cfg["sft_hops"], "--out", str(sft), "--max-steps", str(cfg["sft_steps"]),
                              "--lr", str(cfg["sft_lr"]), "--batch-size", str(cfg["sft_batch"]),
                              "--eval-fraction", "0.05", "--entity-swap", str(cfg["entity_swap"]),
                              "--no-progress", *contract, *think], log,
                             sft / "medenv_sft.json")  # fmt: skip
    meta = json.loads((sft / "medenv_sft.json").read_text())
    _plot_sft(meta, out / "sft_loss.png")
    summary["sft"] = _model_eval("sft", str(sft), qa1, out, cfg, log)  # the contract is read back
    summary["sft"].update(
        eval_curve=meta["eval_curve"], max_length=meta["max_length"],
        assistant_turns_with_loss=meta["assistant_turns_with_loss"],
        prompt_contract=meta["prompt_contract"],
    )  # fmt: skip
    grpo = out / "models" / "grpo"
    pool = out / "models" / "pool.json"
    use_pool = bool(cfg["grpo_pool"])
    if use_pool:  # questions the SFT model answers sometimes (accuracy varies in a group)
        timings["pool"] = _medenv(pool_args(cfg, sft, qa1, pool), log, pool)
        summary["grpo_pool"] = json.loads(pool.read_text())
        use_pool = bool(summary["grpo_pool"]["selected"])
        if not use_pool:  # every candidate answered always or never: no accuracy signal
            note = "pool empty: GRPO runs on all 1-hop training questions"
            summary["grpo_pool"]["fallback"] = note
            with log.open("a") as f:
                f.write(f"\n{note}\n")
    args = grpo_args(cfg, sft, qa1, grpo, pool, use_pool)
    timings["grpo"] = _medenv(args, log, grpo / "medenv_prompt.json")
    rows = lc.episode_rewards(grpo / "events.duckdb")
    slope = lc.reward_slope(rows) if len({s for s, _, _ in rows}) >= 2 else None
    lc.plot_reward_by_step(lc.by_step(rows), out / "grpo_reward.png", "GRPO reward by step")
    summary["grpo"] = _model_eval("grpo", str(grpo), qa1, out, cfg, log)
    summary["grpo"].update(
        reward_slope=slope.slope if slope else None,
        reward_slope_ci=list(slope.ci) if slope else None,
        training_episodes=len(rows),
        reward_by_step=[msgspec.to_builtins(p) for p in lc.by_step(rows)],
        # the same held-out questions, question by question: is GRPO's model worse than SFT's?
        vs_sft=msgspec.to_builtins(paired.compare_stores(_eval_db(out, "sft"), _eval_db(out, "grpo"))),
    )  # fmt: skip
    timings = {k: round(v, 1) for k, v in timings.items()}
    summary["seconds"] = {**timings, "total": round(sum(timings.values()) + sum(
        summary[m]["eval_seconds"] for m in ("untrained", "sft", "grpo")), 1)}  # fmt: skip
    summary["cpu_seconds"] = {**{k: round(v, 1) for k, v in CPU_SECONDS.items()},
                              "total": round(sum(CPU_SECONDS.values()), 1)}  # fmt: skip
    summary["machine"] = {"cores": os.cpu_count(), "load_avg_start": load_start,
                          "load_avg_end": os.getloadavg()}  # fmt: skip
    write_file(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m medenv.training.learn", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="out/learn")
    p.add_argument("--quick", action="store_true", help="a small run (minutes)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a size, e.g. --set sft_steps=300")  # fmt: skip
    args = p.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in cfg:
            p.error(f"unknown setting {key!r}; known: {sorted(cfg)}")
        kind = type(FULL[key]) if FULL[key] is not None else float
        cfg[key] = None if value == "none" else kind(value)
    summary = run(Path(args.out), cfg)
    brief = {m: {k: summary[m].get(k) for k in ("parseable_turns", "tool_call_turns", "accuracy",
                                                "accuracy_ci", "reward_slope", "reward_slope_ci")}
             for m in ("untrained", "sft", "grpo")}  # fmt: skip
    print(json.dumps({"summary": str(Path(args.out) / "summary.json"), **brief,
                      "seconds": summary["seconds"]}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

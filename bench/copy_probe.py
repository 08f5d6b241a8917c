"""Copy probe: does an SFT recipe teach the small model to COPY the question's entity into its
first query? A dense signal (accuracy needs the copy first), measured on held-out test
questions, cheap enough to sweep.

Two steps, so the training half can run where only torch + transformers are installed (a
GPU host without medenv's other dependencies):

    python -m bench.copy_probe rows --data OUT/learn/data --qa OUT/learn/qa1 --dir probe
        # (medenv) renders the 1-hop SFT rows under make learn's prompt contract, adds up to
        # --swaps entity-swapped copies of each TRAINING row (`medenv.training.entity_swap`),
        # the held-out rows, the test questions' first prompts as `rollout --agent llm`
        # renders them, TRL's training chat template and the small model's config/tokenizer
    python bench/copy_probe.py starts probe MODEL_DIR
        # (torch + transformers) the same count for a trained checkpoint
    python bench/copy_probe.py train probe SWAPS LR STEPS BATCH MARKS [WARMUP [noshare]]
        # (torch + transformers) trains the small model from its built weights (a copy head,
        # `medenv.training.entity_embed`; from scratch when the folder has none) on the
        # real rows plus SWAPS swapped copies each, optionally after WARMUP steps of an
        # induction warm-up (random entity/BPE token sequences, repeated; loss on the repeat),
        # and prints one JSON line per step in MARKS: copy rate (`starts`: the first query
        # begins with a name the question quotes), distinct first queries, held-out loss

Training mirrors `medenv train sft` on CPU (AdamW, linear decay, no warm-up, grad-norm 1,
loss on the assistant tokens TRL's training template marks, rows cut at 448 tokens); it is
a probe, not the product path. No test question or answer is trained on: the prompts are
only generated from.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path


def build_rows(data: str, qa: str, out: str, swaps: int = 8) -> None:
    from medenv.agents.tiny import resolve_model
    from medenv.training.entity_swap import kg_names_by_type, swap_rows
    from medenv.training.sft import SFTTrainConfig
    from medenv.training.sft_rows import load_sft_rows, normalise_row, prepare_row, split_rows
    from transformers import AutoTokenizer
    from trl.chat_template_utils import qwen3_training_chat_template

    from medenv.synth.io import read_qa_set

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [r for r in load_sft_rows(data) if r.get("n_hops") == 1]
    cfg = SFTTrainConfig(data=data, model="small", max_tool_chars=400, template_tools=False,
                         keep_system=False, keep_thinking=False, task_prompt="question",
                         eval_fraction=0.05)  # fmt: skip
    train, held = split_rows(rows, cfg.eval_fraction, cfg.seed)
    names = kg_names_by_type(cfg.swap_kg)
    render = lambda r: normalise_row(prepare_row(r, cfg))["messages"]  # noqa: E731
    out_rows = {"train": [], "eval": [render(r) for r in held]}
    for i, row in enumerate(train):
        out_rows["train"].append({"copy": 0, "messages": render(row)})
        for c, s in enumerate(swap_rows([row], names, swaps, seed=i), start=1):
            out_rows["train"].append({"copy": c, "messages": render(s)})
    (folder / "rows.json").write_text(json.dumps(out_rows))
    (folder / "train_template.jinja").write_text(qwen3_training_chat_template)
    model = Path(resolve_model("small"))
    for name in (
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "medenv_tiny.json",
        "medenv_entities.json",
        "model.safetensors",
    ):
        if (model / name).exists():
            shutil.copy(model / name, folder / name)
    tok = AutoTokenizer.from_pretrained(model)
    prompts = []
    for item in read_qa_set(qa):
        if item.split != "test":
            continue
        msgs = [{"role": "user", "content": "Question: " + item.question}]
        ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True,
                                      return_dict=True)["input_ids"]  # fmt: skip
        prompts.append({"ids": list(ids), "quoted": re.findall(r'"([^"]+)"', item.question)})
    (folder / "prompts.json").write_text(json.dumps(prompts))
    print(f"{len(out_rows['train'])} training rows ({len(train)} real), {len(held)} held out, "
          f"{len(prompts)} test prompts -> {folder}")  # fmt: skip


def first_queries(model, tok, prompts: list[dict], dev: str = "cpu") -> dict:
    """Greedy first turns (40 tokens) on the test prompts: ``starts`` = first queries that
    begin with a name the question quotes, ``distinct`` first queries, three examples."""
    import torch

    starts, firsts = 0, []
    with torch.no_grad():
        for i in range(0, len(prompts), 45):
            chunk = prompts[i : i + 45]
            n = max(len(p["ids"]) for p in chunk)
            ids = torch.full((len(chunk), n), tok.pad_token_id)
            att = torch.zeros_like(ids)
            for j, p in enumerate(chunk):  # left padding
                ids[j, n - len(p["ids"]) :], att[j, n - len(p["ids"]) :] = torch.tensor(p["ids"]), 1
            out = model.generate(input_ids=ids.to(dev), attention_mask=att.to(dev), max_new_tokens=40,
                                 do_sample=False, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id)  # fmt: skip
            for j, p in enumerate(chunk):
                m = re.search(r'"query": "([^"]*)', tok.decode(out[j, n:]))
                query = m.group(1) if m else ""
                starts += any(query.startswith(x) for x in p["quoted"])
                firsts.append(query[:30])
    return {
        "starts": starts,
        "n": len(prompts),
        "distinct": len(set(firsts)),
        "examples": firsts[:3],
    }


def starts_of(folder: str, model_dir: str) -> dict:
    """`first_queries` of a trained checkpoint (e.g. ``make learn``'s SFT model) on the
    probe folder's test prompts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    prompts = json.loads((Path(folder) / "prompts.json").read_text())
    return {"model": model_dir, **first_queries(model, tok, prompts)}


def train(folder: str, swaps: int, lr: float, steps: int, bs: int, marks: list[int],
          warm: int = 0, share: bool = True) -> list[dict]:  # fmt: skip
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    here = Path(folder)
    tok = AutoTokenizer.from_pretrained(here)
    torch.manual_seed(0)
    if (here / "model.safetensors").exists():  # the built model's own initialisation
        model = Qwen2ForCausalLM.from_pretrained(here).to(dev)
    else:
        model = Qwen2ForCausalLM(Qwen2Config.from_pretrained(here)).to(dev)
    if share:  # entity rows = shared learned vector + fixed codes (medenv.training.entity_embed)
        from medenv.agents.copy_head import entity_rows
        from medenv.training.entity_embed import share_entity_rows

        share_entity_rows(model, entity_rows(here, tok))
    rows = json.loads((here / "rows.json").read_text())
    template = (here / "train_template.jinja").read_text()

    def enc(msgs):
        e = tok.apply_chat_template(msgs, chat_template=template, tokenize=True, return_dict=True,
                                    return_assistant_tokens_mask=True)  # fmt: skip
        return list(e["input_ids"])[:448], list(e["assistant_masks"])[:448]

    data = [enc(r["messages"]) for r in rows["train"] if r["copy"] <= swaps]
    held = [enc(m) for m in rows["eval"]]
    prompts = json.loads((here / "prompts.json").read_text())
    g = torch.Generator().manual_seed(0)

    def loss_of(batch):
        n = max(len(x) for x, _ in batch)
        ids = torch.full((len(batch), n), tok.pad_token_id)
        lab = torch.full((len(batch), n), -100)
        att = torch.zeros((len(batch), n), dtype=torch.long)
        for i, (x, m) in enumerate(batch):
            x, m = torch.tensor(x), torch.tensor(m)
            ids[i, : len(x)], att[i, : len(x)] = x, 1
            lab[i, : len(x)] = torch.where(m == 1, x, -100)
        logits = model(input_ids=ids.to(dev), attention_mask=att.to(dev)).logits[:, :-1]
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 lab[:, 1:].reshape(-1).to(dev), ignore_index=-100)  # fmt: skip

    @torch.no_grad()
    def probe():
        model.eval()
        found = first_queries(model, tok, prompts, dev)
        held_loss = sum(loss_of(held[i : i + 8]).item() for i in range(0, len(held), 8))
        model.train()
        return {**found, "held_loss": round(held_loss / math.ceil(len(held) / 8), 3)}

    model.train()
    if warm:  # induction warm-up on random token sequences (70% entity tokens), repeated
        first_entity = tok.convert_tokens_to_ids("</answer>") + 1
        wopt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        for _ in range(warm):
            ent = torch.randint(first_entity, len(tok), (32, 24), generator=g)
            bpe = torch.randint(10, first_entity - 20, (32, 24), generator=g)
            x = torch.where(torch.rand(32, 24, generator=g) < 0.7, ent, bpe)
            seq = torch.cat([x, torch.full((32, 1), tok.eos_token_id), x], 1).to(dev)
            logits = model(input_ids=seq).logits[:, 24:-1]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                     seq[:, 25:].reshape(-1))  # fmt: skip
            wopt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            wopt.step()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    start, results, order, pos = time.time(), [], [], 0
    for step in range(1, steps + 1):
        if pos + bs > len(order):
            order, pos = torch.randperm(len(data), generator=g).tolist(), 0
        loss = loss_of([data[i] for i in order[pos : pos + bs]])
        pos += bs
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step in marks:
            r = {"swaps": swaps, "lr": lr, "batch": bs, "warmup": warm, "step": step,
                 "loss": round(loss.item(), 3), **probe(), "seconds": round(time.time() - start, 1)}  # fmt: skip
            results.append(r)
            print(json.dumps(r), flush=True)
    return results


if __name__ == "__main__":
    if sys.argv[1] == "rows":
        import argparse

        p = argparse.ArgumentParser(prog="python -m bench.copy_probe rows")
        p.add_argument("--data", required=True)
        p.add_argument("--qa", required=True)
        p.add_argument("--dir", required=True)
        p.add_argument("--swaps", type=int, default=8)
        a = p.parse_args(sys.argv[2:])
        build_rows(a.data, a.qa, a.dir, a.swaps)
    elif sys.argv[1] == "starts":
        print(json.dumps(starts_of(sys.argv[2], sys.argv[3])))
    else:
        folder, swaps, lr, steps, bs, marks = sys.argv[2:8]
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        train(folder, int(swaps), float(lr), int(steps), int(bs),
              [int(x) for x in marks.split(",")], int(sys.argv[8]) if len(sys.argv) > 8 else 0,
              sys.argv[9] != "noshare" if len(sys.argv) > 9 else True)  # fmt: skip

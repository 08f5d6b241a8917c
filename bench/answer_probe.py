"""Answer probe: what does an SFT checkpoint predict right after ``<answer>``? Teacher-forced on
the run's own VALIDATION rows (the held-out split `medenv train sft` carves from the training
questions by id: no test question), so a recipe can be chosen on it.

    python -m bench.answer_probe MODEL_DIR DATA [eval|train|swap]

``MODEL_DIR``: an SFT checkpoint (its ``medenv_sft.json`` gives the prompt contract, split
fraction and seed) or any model folder holding such a file; ``DATA``: the SFT data it trained
on; ``train`` probes 40 training rows, ``swap`` 40 entity-swapped training rows. Prints one
``medenv figures`` JSON line: rows, share whose gold answer token is in the context
(``gold_in_context``: the observation cut at ``max_tool_chars`` holds it), mean NLL of the
gold token at the answer position (``ln(#entities)`` ~ 10.5 is a uniform guess over the
36,078 entity tokens), share whose top-1 token is the gold / any token of the context, and
the five most common top-1 tokens (one token for every row: a memorised answer).
"""

from __future__ import annotations

import collections
import json
import sys
from types import SimpleNamespace


def probe(model_dir: str, data: str, which: str = "eval") -> dict:
    import torch
    from medenv.training.entity_swap import final_answer, kg_names_by_type, swap_rows
    from medenv.training.sft_rows import load_sft_rows, prepare_row, split_rows
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medenv.curriculum import parse_hops, select_hops

    torch.set_num_threads(1)
    with open(f"{model_dir}/medenv_sft.json") as fh:
        cfg = SimpleNamespace(**json.load(fh)["config"])
    rows = select_hops(load_sft_rows(data), parse_hops(cfg.hops or "1"), "SFT rows")
    train, held = split_rows(rows, cfg.eval_fraction, cfg.seed)
    chosen = {"eval": held, "train": train[:40],
              "swap": swap_rows(train[:40], kg_names_by_type(cfg.swap_kg), 1, cfg.seed)}[which]  # fmt: skip
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    answer_id = tok.convert_tokens_to_ids("<answer>")
    n = in_ctx = top_gold = top_ctx = 0
    nll = 0.0
    tops: collections.Counter = collections.Counter()
    for row in chosen:
        gold = final_answer(row)
        prepared = prepare_row(row, cfg)
        text = tok.apply_chat_template(prepared["messages"], tokenize=False,
                                       tools=prepared.get("tools") or None)  # fmt: skip
        ids = tok(text)["input_ids"]
        if answer_id not in ids or not gold:
            continue
        pos = max(i for i, t in enumerate(ids) if t == answer_id)
        gold_id = tok(gold, add_special_tokens=False)["input_ids"][0]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids[: pos + 1]])).logits[0, -1], -1)
        top = int(logp.argmax())
        n += 1
        in_ctx += gold_id in ids[:pos]
        nll -= float(logp[gold_id])
        top_gold += top == gold_id
        top_ctx += top in ids[:pos]
        tops[tok.decode([top])] += 1
    return {"model": model_dir, "rows": which, "n": n,
            "gold_in_context": round(in_ctx / max(n, 1), 3),
            "gold_nll": round(nll / max(n, 1), 3), "top1_gold": round(top_gold / max(n, 1), 3),
            "top1_in_context": round(top_ctx / max(n, 1), 3),
            "top1_most_common": tops.most_common(5)}  # fmt: skip


if __name__ == "__main__":
    figures = probe(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "eval")
    print("medenv figures", json.dumps(figures))

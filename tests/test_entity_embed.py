"""Entity-token rows train as one shared learned vector plus fixed codes
(`medenv.training.entity_embed`): a real locally built model with entity tokens, real AdamW
steps on real tool-call text; the codes are checked by recomputing the row differences, the
collapse they prevent by training the same model without the hook."""

from __future__ import annotations

import os
import random
import re
import shutil

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")


def _config():
    from medenv.agents.tiny import TinyConfig

    return TinyConfig(max_corpus_nodes=2000, entity_tokens=True, copy_head=True)


@pytest.fixture(scope="module")
def entity_model(tmp_path_factory):
    """A private copy of the built entity model (`tiny_model_path`: built once into the
    medenv cache, then reused; the tests below edit and train their copy)."""
    from medenv.agents.tiny import tiny_model_path

    folder = tmp_path_factory.mktemp("entity") / "model"
    shutil.copytree(tiny_model_path(_config()), folder)
    return folder


@pytest.fixture(scope="module")
def entity_tok(entity_model):
    """The built model's tokenizer, loaded once (~3 CPU-s a load: 30k+ added tokens)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(entity_model)


@pytest.fixture(scope="module")
def built_model(entity_model):
    """The built model, loaded once (read only: no test trains it)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(entity_model).eval()


def _train(model, tok, steps: int = 6) -> None:
    """A few AdamW steps (lr 3e-3: `make learn` trained at it until r10, now 1e-3) on tool calls
    naming entities."""
    texts = [
        f'<tool_call>\n{{"name": "medical_search", "arguments": {{"query": "{n}"}}}}\n</tool_call>'
        for n in ("Marfan syndrome", "Intention tremor", "Generalized amyotrophy", "Ataxia")
    ]
    batch = tok(texts, return_tensors="pt", padding=True)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        out = model(
            **batch, labels=batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        )
        opt.zero_grad()
        out.loss.backward()
        opt.step()


def test_entity_rows_are_the_kg_names_after_the_markup(entity_model, entity_tok):
    from medenv.agents.copy_head import ENTITY_FILE, entity_rows, save_entity_rows
    from medenv.agents.tiny import entity_names

    tok = entity_tok
    first, end = entity_rows(entity_model, tok)  # the build wrote the range ...
    assert tok.convert_ids_to_tokens(first - 1) == "</answer>" and end == len(tok)
    saved = (entity_model / ENTITY_FILE).read_text()
    (entity_model / ENTITY_FILE).unlink()  # ... and without the file it is found again
    assert entity_rows(entity_model, tok) == (first, end)
    (entity_model / ENTITY_FILE).write_text(saved)
    names = set(entity_names(_config()))
    # second reading: every token of the range is a KG name, and (almost) every name is one
    inside = set(tok.convert_ids_to_tokens(list(range(first, end))))
    assert inside <= names and len(names - inside) < 100
    assert not names & set(tok.convert_ids_to_tokens(list(range(first))[:200]))
    # a checkpoint carries the range (SFT -> GRPO); a model without entity tokens has none
    save_entity_rows(entity_model.parent, (first, end))
    assert entity_rows(entity_model.parent, tok) == (first, end)
    (entity_model.parent / ENTITY_FILE).unlink()
    assert entity_rows(entity_model.parent, tok) is None


def test_training_moves_entity_rows_together_and_keeps_their_codes(entity_model, entity_tok):
    from medenv.agents.copy_head import entity_rows
    from medenv.training.entity_embed import share_entity_rows
    from transformers import AutoModelForCausalLM

    # the hook `load_model_and_tokenizer` installs (that it does: the SFT checkpoint test
    # below); the module's tokenizer, not a second ~3 CPU-s load of it
    tok = entity_tok
    model = AutoModelForCausalLM.from_pretrained(entity_model)
    first, end = entity_rows(entity_model, tok)
    assert share_entity_rows(model, (first, end))
    weight = model.get_input_embeddings().weight
    assert model.get_output_embeddings().weight is weight  # tied: one hook covers both
    before = weight.detach().clone()
    _train(model, tok)
    after = weight.detach()
    shift = after[first:end] - before[first:end]
    # every entity row moved by the same vector (the shared part), which is not zero ...
    assert shift.norm(dim=1).min() > 1e-3
    assert torch.allclose(shift, shift[:1].expand_as(shift), atol=1e-6)
    # ... so the codes (differences between rows) are exactly the initial ones
    codes_before = before[first:end] - before[first:end].mean(0)
    codes_after = after[first:end] - after[first:end].mean(0)
    assert torch.allclose(codes_before, codes_after, atol=1e-5)
    # BPE rows still train one by one
    bpe_shift = (after[:first] - before[:first]).norm(dim=1)
    assert bpe_shift.max() > 1e-3 and bpe_shift.std() > 1e-4

    # without the hook the rows of the names in the batch train one by one: their codes move
    plain = AutoModelForCausalLM.from_pretrained(entity_model)
    _train(plain, tok)
    raw = plain.get_input_embeddings().weight.detach()[first:end] - before[first:end]
    moved = (raw - raw.median(0).values).norm(dim=1)
    named = [tok.convert_tokens_to_ids(n) - first for n in ("Marfan syndrome", "Intention tremor")]
    assert moved[named].min() > 2 * moved.median()  # measured: ~2.8x


def test_copy_head_copies_a_quoted_name_from_step_0(entity_tok, built_model):
    """The built model (no training) puts its top next-token score, after the opening quote
    of a query, on a name the question quotes -- for random KG names it never trained on
    (the quoted names are found again by a regex over the text)."""

    from medenv.agents.tiny import entity_names

    tok = entity_tok
    model = built_model
    names = [n for n in entity_names(_config())
             if len(tok.encode(n)) == 1 and '"' not in n]  # fmt: skip
    trials = 20
    assert quoted_name_copies(model, tok, names, trials, seed=3) >= 0.8 * trials


def test_sft_checkpoint_keeps_the_codes_and_carries_the_range(entity_model, built_model, tmp_path):
    """`medenv train sft` on the entity model (1 real step): the checkpoint names the entity
    range, its entity rows still differ exactly by the built codes, and loading it for the
    next trainer (GRPO) installs the hook again."""
    from medenv.agents.copy_head import ENTITY_FILE, entity_rows
    from medenv.training.lm import load_model_and_tokenizer
    from medenv.training.sft import SFTTrainConfig, train_sft

    def row(i: int, entity: str, answer: str) -> dict:
        call = {"type": "function", "function": {"name": "medical_search",
                                                 "arguments": {"query": f"{entity} is a clinical feature of"}}}  # fmt: skip
        return {"question_id": f"q{i}", "n_hops": 1, "messages": [
            {"role": "user", "content": f'Question: Which disease has the feature "{entity}"?'},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "name": "medical_search", "content": f"1. {answer} | url"},
            {"role": "assistant", "content": f"<answer>{answer}</answer>"},
        ]}  # fmt: skip

    rows = [row(0, "Intention tremor", "Marfan syndrome"), row(1, "Ataxia", "Generalized amyotrophy"),
            row(2, "Hypotonia", "Marfan syndrome"), row(3, "Seizure", "Ataxia")]  # fmt: skip
    out = tmp_path / "sft"
    config = SFTTrainConfig(data="", model=str(entity_model), out=str(out), max_steps=1,
                            batch_size=2, learning_rate=3e-3, eval_fraction=0.0, progress=False,
                            threads=1)  # fmt: skip
    train_sft(config, rows=rows)
    # the checkpoint as the next trainer loads it (its own tokenizer); the hook changes no weight
    model, tok = load_model_and_tokenizer(str(out))
    first, end = entity_rows(entity_model, tok)
    assert (out / ENTITY_FILE).is_file() and entity_rows(out, tok) == (first, end)
    built = built_model.get_input_embeddings().weight.detach()
    weight = model.get_input_embeddings().weight.detach()
    trained = weight.float().cpu()  # a GPU host loads the checkpoint in bf16
    assert not torch.allclose(built[first:end], trained[first:end])  # the shared part trained
    codes = lambda w: w[first:end] - w[first:end].mean(0)  # noqa: E731
    # exact up to the stored precision: float32 on CPU, bf16 (8 significant bits) on a GPU
    atol = 1e-5 if weight.dtype == torch.float32 else float(trained.abs().max()) * 2**-7
    assert torch.allclose(codes(built), codes(trained), atol=atol)
    assert getattr(model.get_input_embeddings().weight, "_medenv_entity_rows", None) == (first, end)


def quoted_name_copies(model, tok, names: list[str], trials: int, seed: int) -> int:
    """How many of ``trials`` questions quoting two random entity ``names`` get one of the
    quoted names as the model's top next token right after ``"query": "``."""
    rng = random.Random(seed)
    hits = 0
    for _ in range(trials):
        a, b = rng.sample(names, 2)
        question = f'Question: Which disease has the features "{a}" and "{b}"?'
        ids = tok.apply_chat_template([{"role": "user", "content": question}],
                                      add_generation_prompt=True, tokenize=True,
                                      return_dict=True)["input_ids"]  # fmt: skip
        ids = list(ids) + tok.encode(
            '<tool_call>\n{"name": "medical_search", "arguments": {"query": "'
        )
        with torch.no_grad():
            top = model(input_ids=torch.tensor([ids])).logits[0, -1].argmax().item()
        hits += tok.convert_ids_to_tokens(top) in re.findall(r'"([^"]+)"', question)
    return hits

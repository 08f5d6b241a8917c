"""The offline tiny model: loadable HF folder, TRL-recognised Qwen3 tool-calling template."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_tiny_model_loads_and_speaks_the_tool_format():
    from medenv.agents.tiny import tiny_model_path
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.chat_template_utils import (
        add_response_schema,
        get_training_chat_template,
        is_chat_template_stop_token_trained,
        supports_tool_calling,
    )

    from medenv.tools.parsing import parse_action

    path = tiny_model_path()
    assert tiny_model_path() == path  # cached
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert sum(p.numel() for p in model.parameters()) < 5_000_000
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert supports_tool_calling(tok)
    add_response_schema(tok)  # raises for a template TRL does not know
    assert is_chat_template_stop_token_trained(tok, get_training_chat_template(tok))
    call = '<tool_call>\n{"name": "medical_search", "arguments": {"query": "Marfan syndrome"}}\n</tool_call>'
    ids = tok(call)["input_ids"]
    assert len(ids) < 30  # BPE learned the tool-call syntax
    text = tok.decode(ids)
    assert text == call
    parsed = parse_action(text)
    assert parsed.error is None and parsed.calls[0].arguments == {"query": "Marfan syndrome"}


def test_tiny_build_is_deterministic(tmp_path):
    from medenv.agents.tiny import TinyConfig, _key, build_tiny_model

    small = TinyConfig(max_corpus_nodes=2000)
    a = build_tiny_model(tmp_path / "a", small)
    b = build_tiny_model(tmp_path / "b", small)
    for name in ("tokenizer.json", "model.safetensors"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert _key(TinyConfig()) != _key(small)  # the cache folder name moves with the config


def test_local_models_resolve_by_name():
    """``tiny`` and ``small`` name locally built models (separate cache folders); anything
    else is a folder or hub id, passed through."""
    from medenv.agents.tiny import SMALL_CONFIG, TinyConfig, _key, resolve_model, tiny_model_path

    assert resolve_model("tiny") == str(tiny_model_path())
    assert resolve_model("some/hub-id") == "some/hub-id"
    assert _key(SMALL_CONFIG) != _key(TinyConfig())
    assert SMALL_CONFIG.hidden_size > TinyConfig().hidden_size
    assert SMALL_CONFIG.num_hidden_layers > TinyConfig().num_hidden_layers


def _reference_names(text: str, names: set[str], longest: int) -> list[str]:
    """Second implementation of the entity-token rule: scanning left to right, at each
    word start the longest KG name that ends at a word end is one unit."""
    found, i = [], 0
    word = lambda c: c.isalnum() or c == "_"  # noqa: E731
    while i < len(text):
        if i == 0 or not word(text[i - 1]):
            for end in range(min(len(text), i + longest), i, -1):
                if text[i:end] in names and (end == len(text) or not word(text[end])):
                    found.append(text[i:end])
                    i = end
                    break
            else:
                i += 1
        else:
            i += 1
    return found


def test_entity_tokens_make_every_kg_name_one_token():
    """``entity_tokens``: a KG name in a question or a tool response is one token (round
    trip exact); the tokens found agree with an independent scan on sentences built from
    random KG names; a name inside a longer word stays plain BPE."""
    import random

    from medenv.agents.tiny import TinyConfig, build_tokenizer, entity_names

    config = TinyConfig(max_corpus_nodes=2000, entity_tokens=True)
    tok = build_tokenizer(config)
    names = entity_names(config)
    name_set, longest = set(names), max(map(len, names))
    # (a few short names, e.g. gene symbols, are BPE tokens already)
    assert len(names) > 30_000 and 0 <= 4096 + len(names) - len(tok) < 100
    rng = random.Random(7)
    plain = [n for n in names if n[0].isalnum() and n[-1].isalnum()]
    for _ in range(200):
        a, b, c, d = rng.sample(plain, 4)
        text = f'Which gene is associated with "{a}"?\n{b} is a clinical feature of: {c}; {d}.'
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text
        units = [t for t in tok.convert_ids_to_tokens(ids) if t in name_set]
        assert units == _reference_names(text, name_set, longest), text
        assert tok(f'"{a}"')["input_ids"][1:-1] == tok.convert_tokens_to_ids([a])
    gene = next(n for n in names if n.isupper() and len(n) == 3)
    pieces = tok.convert_ids_to_tokens(tok(f"{gene}XYZ")["input_ids"])
    assert gene not in pieces  # not matched inside a longer word
    # the tiny model (fast tests) keeps its plain BPE tokenizer and cache folder
    assert len(build_tokenizer(TinyConfig(max_corpus_nodes=2000))) == 4096

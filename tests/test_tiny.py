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

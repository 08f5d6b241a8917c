"""The copy path's layer and code norm (`TinyConfig.copy_layer` / ``code_norm``, built by
`medenv.agents.copy_head.init_copy_head` through `medenv.agents.tiny.random_model`): the
choice is a property of the saved weights, so it must survive save/load, the copy must work
from step 0 wherever it is built, and the cache key of a model built with the defaults must
not move (its cache folder is kept)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.test_entity_embed import _config, quoted_name_copies


@pytest.fixture(scope="module")
def tok():
    from medenv.agents.tiny import tiny_model_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_path(_config()))


def _copy_layers(model, rows) -> list[int]:
    """Second reading of where the copy heads are: the layers whose key projection has a
    row along the mean entity direction (the shared vector) and no other weight in it."""
    emb = model.get_input_embeddings().weight.detach()
    shared = emb[rows[0] : rows[1]].mean(0)
    shared = shared / shared.norm()
    found = []
    for i, layer in enumerate(model.model.layers):
        k = layer.self_attn.k_proj.weight.detach()
        cos = (k @ shared) / k.norm(dim=1).clamp_min(1e-9)
        if (cos > 0.99).any():
            found.append(i)
    return found


@pytest.mark.parametrize("layer,norm", [(0, 1.5), (-1, 3.0)])
def test_the_copy_layer_round_trips_through_save_and_load_and_copies(tok, tmp_path, layer, norm):
    from medenv.agents.copy_head import entity_rows, save_entity_rows
    from medenv.agents.tiny import entity_names, random_model
    from transformers import AutoModelForCausalLM

    config = dataclasses.replace(_config(), copy_layer=layer, code_norm=norm)
    model, rows = random_model(tok, config)
    model.save_pretrained(tmp_path)
    save_entity_rows(tmp_path, rows)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    n_layers = config.num_hidden_layers
    assert _copy_layers(loaded, entity_rows(tmp_path, tok)) == [layer % n_layers]
    codes = loaded.get_input_embeddings().weight.detach()[rows[0] : rows[1]]
    codes = codes - codes.mean(0)
    assert codes.norm(dim=1).mean().item() == pytest.approx(norm, rel=0.05)
    names = [n for n in entity_names(config) if len(tok.encode(n)) == 1 and '"' not in n]
    assert (
        quoted_name_copies(loaded, tok, names, 12, seed=5) >= 9
    )  # of 12: a quoted name after `"query": "`


def test_the_default_layer_and_norm_keep_the_cache_key():
    """The key of a config with the default layer and norm is the key computed as before
    the two fields existed (recomputed here from the config without them)."""
    import hashlib
    import json

    from medenv.agents.tiny import SMALL_CONFIG, TINY_VERSION, _key

    from medenv.kg.cache import load_kg

    kg = load_kg(SMALL_CONFIG.kg_source)
    before = {k: v for k, v in dataclasses.asdict(SMALL_CONFIG).items()
              if k not in ("copy_layer", "code_norm")}  # fmt: skip
    payload = json.dumps({"v": TINY_VERSION, "config": before, "kg": [kg.source, kg.version]},
                         sort_keys=True)  # fmt: skip
    assert _key(SMALL_CONFIG) == hashlib.sha256(payload.encode()).hexdigest()[:12]
    moved = dataclasses.replace(SMALL_CONFIG, copy_layer=-1)
    assert _key(moved) != _key(SMALL_CONFIG)
    assert _key(dataclasses.replace(SMALL_CONFIG, code_norm=3.0)) != _key(SMALL_CONFIG)
    assert _key(dataclasses.replace(moved, copy_layer=0)) == _key(SMALL_CONFIG)

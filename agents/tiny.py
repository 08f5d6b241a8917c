"""An offline tiny Qwen2-style causal LM with a locally trained tokenizer.

No weights can be downloaded in tests or in ``make demo``, so this builds one from scratch:
a byte-level BPE tokenizer trained on medical text (HPO names, synonyms and definitions,
plus the tool-call syntax), carrying the Qwen3 chat template that TRL ships (so TRL
recognises it for tool calling, swaps in its training variant with ``{% generation %}``
markers for assistant-only loss, and attaches its Qwen3 response parser), and a randomly
initialised ``Qwen2ForCausalLM`` (a few MB).

Contract: ``tiny_model_path()`` returns a folder that ``AutoModelForCausalLM`` and
``AutoTokenizer.from_pretrained`` load. It is built on first use (seconds) under
``$MEDENV_HOME/models/tiny-<hash>``, the hash covering the config, the tokenizer corpus
and this module's ``TINY_VERSION``; same inputs -> same folder, same weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from medenv.agents.copy_head import init_copy_head, save_entity_rows

from medenv.kg.cache import load_kg
from medenv.paths import build_lock, medenv_home, write_file

TINY_VERSION = "1"

# Tool names of the contract (medenv.tools.registry.TOOL_NAMES); kept here so the tokenizer
# corpus, hence the cache key, does not move when the registry module changes.
_TOOL_NAMES = ("medical_search", "web_search", "browse", "answer")

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Added, non-special tokens (kept when decoding, as in Qwen3's tokenizer).
MARKUP_TOKENS = (
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
)


@dataclass(frozen=True)
class TinyConfig:
    """Size of the tiny model and its tokenizer."""

    vocab_size: int = 4096
    hidden_size: int = 96
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 8192
    seed: int = 0
    kg_source: str = "hpo"
    max_corpus_nodes: int = 40000
    # True: every KG entity name is one added token (`entity_names`), so copying a name from
    # the question into a query, or from a tool response into the answer, is one token
    entity_tokens: bool = False
    # True (needs entity_tokens): entity rows = shared vector + fixed codes and a copy path
    # in layer `copy_layer` (`medenv.agents.copy_head.init_copy_head`), so the model copies
    # a name from step 0 and training learns when and which
    copy_head: bool = False
    # the layer holding the copy heads (negative: from the end) and the norm of the entity
    # codes (`medenv.agents.copy_head.init_copy_head`)
    copy_layer: int = 0
    code_norm: float = 1.5


# ``small``: the model ``make learn`` trains. Big enough to learn to copy (an entity name from
# the question into its query, a listed name from the tool response into its answer), which
# ``tiny`` (0.6 M parameters, kept for the fast tests) does not; a few M parameters.
SMALL_CONFIG = TinyConfig(
    vocab_size=8192,
    hidden_size=256,
    intermediate_size=768,
    num_hidden_layers=4,
    num_attention_heads=8,
    num_key_value_heads=4,
    entity_tokens=True,
    copy_head=True,
)
LOCAL_MODELS = {"tiny": TinyConfig(), "small": SMALL_CONFIG}


def qwen3_chat_template() -> str:
    """The Qwen3 chat template exactly as TRL ships it (so TRL recognises it)."""
    from trl.chat_template_utils import qwen3_chat_template as template

    return template


def _corpus_lines(config: TinyConfig) -> list[str]:
    """Deterministic medical training text: KG names/synonyms/definitions + tool syntax."""
    kg = load_kg(config.kg_source)
    lines: list[str] = []
    nodes = sorted(
        (n for t in sorted(kg.stats()["node_types"]) for n in kg.nodes(t)), key=lambda n: n.id
    )
    for node in nodes[: config.max_corpus_nodes]:
        lines.append(f"{node.name} ({node.id}) is a {node.type}.")
        lines.extend(node.synonyms)
        if node.definition:
            lines.append(node.definition)
    for rel in sorted(kg.relations):
        lines.append(str(kg.verbalise(rel)))
        lines.append(str(kg.verbalise(rel, inverse=True)))
    # Tool-call syntax, repeated so BPE learns compact merges for it.
    syntax = []
    for name in _TOOL_NAMES:
        for key in ("query", "url", "goal", "answer"):
            call = {"name": name, "arguments": {key: "Marfan syndrome"}}
            syntax.append("<tool_call>\n" + json.dumps(call) + "\n</tool_call>")
    lines.extend(syntax * 300)
    lines.append("<think>\nI should search for the entity.\n</think>\n\n<answer>FBN1</answer>")
    lines.append("<tool_response>\n1. Title (url) snippet\n</tool_response>")
    lines.append(qwen3_chat_template())
    return lines


def entity_names(config: TinyConfig) -> list[str]:
    """The KG's entity names that become single tokens (``entity_tokens``): every node's
    name of at least two characters that has no line break, sorted (deterministic). The KG is
    the domain vocabulary, the same for every split: no question or answer is read here."""
    kg = load_kg(config.kg_source)
    names = {n.name for t in kg.stats()["node_types"] for n in kg.nodes(t)}
    return sorted(n for n in names if len(n) >= 2 and "\n" not in n and n == n.strip())


def _key(config: TinyConfig) -> str:
    kg = load_kg(config.kg_source)
    fields = asdict(config)
    for name, default in (("entity_tokens", False), ("copy_head", False), ("copy_layer", 0),
                          ("code_norm", 1.5)):  # fmt: skip
        if fields[name] == default:  # models built before the field keep their cache folder
            del fields[name]
    payload = json.dumps(
        {"v": TINY_VERSION, "config": fields, "kg": [kg.source, kg.version]},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def build_tokenizer(config: TinyConfig):
    """Train the byte-level BPE tokenizer; returns a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size - len(MARKUP_TOKENS),
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus_lines(config), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>"],
        model_max_length=config.max_position_embeddings,
        padding_side="left",
    )
    fast.add_tokens(list(MARKUP_TOKENS), special_tokens=False)
    if config.entity_tokens:
        from tokenizers import AddedToken

        # single_word: a name is never matched inside a longer word ("CAT" in "CATALOG");
        # the longest name at a position wins ("Ataxia" inside a longer disease name).
        # Added on the backend tokenizer: the same file as `fast.add_tokens`, 7x faster.
        fast.backend_tokenizer.add_tokens([AddedToken(n, single_word=True, normalized=False)
                                           for n in entity_names(config)])  # fmt: skip
    fast.chat_template = qwen3_chat_template()
    return fast


def build_tiny_model(out_dir: str | Path, config: TinyConfig | None = None) -> Path:
    """Build the tokenizer and a randomly initialised Qwen2 model into ``out_dir``."""
    config = config or TinyConfig()
    out = Path(out_dir)
    tokenizer = build_tokenizer(config)
    model, rows = random_model(tokenizer, config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if rows is not None:
        save_entity_rows(out, rows)
    write_file(
        out / "medenv_tiny.json",
        json.dumps({"version": TINY_VERSION, "config": asdict(config)}, indent=2, sort_keys=True),
    )
    return out


def random_model(tokenizer, config: TinyConfig):
    """(the randomly initialised Qwen2 model of ``config`` for ``tokenizer``, its entity rows
    or None): seeded by ``config.seed``; with ``copy_head`` its copy path is built in layer
    ``config.copy_layer`` with codes of norm ``config.code_norm``."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    model_config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        dtype="float32",
    )
    torch.manual_seed(config.seed)
    model = Qwen2ForCausalLM(model_config)
    rows = None
    if config.copy_head and config.entity_tokens:
        rows = (tokenizer.convert_tokens_to_ids(MARKUP_TOKENS[-1]) + 1, len(tokenizer))
        init_copy_head(model, rows, tokenizer, seed=config.seed, code_norm=config.code_norm,
                       layer=config.copy_layer)  # fmt: skip
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
        temperature=1.0,
    )
    return model, rows


def tiny_model_path(config: TinyConfig | None = None) -> Path:
    """The cached tiny model folder, built on first use (atomic: tmp folder, then rename)."""
    config = config or TinyConfig()
    root = medenv_home() / "models"
    final = root / f"tiny-{_key(config)}"
    if (final / "medenv_tiny.json").exists():
        return final
    with build_lock(final):  # concurrent processes build it once
        if (final / "medenv_tiny.json").exists():
            return final
        tmp = root / f".{final.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        build_tiny_model(tmp, config)
        try:
            tmp.rename(final)
        except OSError:  # built by a process that held no lock: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def resolve_model(name_or_path: str) -> str:
    """``"tiny"`` / ``"small"`` -> the cached locally built model folder; anything else is
    passed through."""
    config = LOCAL_MODELS.get(name_or_path)
    return str(tiny_model_path(config)) if config is not None else name_or_path

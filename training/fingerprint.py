"""A cheap `datasets` fingerprint for a tokenizer with many added tokens.

TRL's trainers tokenise their datasets with `datasets.Dataset.map`, which hashes every
argument of the map, the tokenizer included, to name the result. `datasets` pickles the
tokenizer's state for that, and its ``init_kwargs["added_tokens_decoder"]`` holds one
`tokenizers.AddedToken` per added token: for the local ``small`` model (36,152 entity
tokens) that pickling takes ~3 CPU-s, once per map (measured with
`datasets.fingerprint.Hasher`).

`cheap_fingerprint(tokenizer)` registers, for the tokenizer's class, a reducer in
`datasets`' hashing pickler that writes the added tokens as one JSON string (id, content and
every flag of each) instead, and leaves the rest to `datasets`' own reducer. Contract: two
tokenizers with the same state hash the same, and any change to an added token (its text,
id or a flag) changes the hash, as before; only the time differs. Tokenizers with fewer
than `MANY` added tokens keep `datasets`' reducer untouched. A `datasets` release without
this (private) hook is left alone.
"""

from __future__ import annotations

import json
from typing import Any

MANY = 1000


def cheap_fingerprint(tokenizer: Any) -> bool:
    """Register the reducer for ``type(tokenizer)``; True when it is in place."""
    try:
        from datasets.utils import _dill
    except ImportError:  # pragma: no cover - datasets always ships it today
        return False
    save = getattr(_dill, "_save_transformersPreTrainedTokenizerBase", None)
    if save is None or not hasattr(_dill, "pklregister"):
        return False

    def _save(pickler: Any, obj: Any) -> None:
        decoder = getattr(obj, "init_kwargs", {}).get("added_tokens_decoder")
        if not isinstance(decoder, dict) or len(decoder) < MANY:
            save(pickler, obj)
            return
        obj.init_kwargs["added_tokens_decoder"] = _added_tokens_text(decoder)
        try:
            save(pickler, obj)
        finally:
            obj.init_kwargs["added_tokens_decoder"] = decoder

    _dill.pklregister(type(tokenizer))(_save)
    return True


def _added_tokens_text(decoder: dict) -> str:
    """Every added token as ``[id, content, single_word, lstrip, rstrip, normalized,
    special]``, in id order, as one JSON string."""
    return json.dumps(
        [
            [int(i), str(t.content), t.single_word, t.lstrip, t.rstrip, t.normalized, t.special]
            for i, t in sorted(decoder.items())
        ]
    )

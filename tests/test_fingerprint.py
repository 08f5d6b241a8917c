"""`cheap_fingerprint`: the same `datasets` hash for the same tokenizer state, a different one
for any change to an added token, and `datasets`' own hash for tokenizers with few added
tokens."""

from __future__ import annotations

import shutil

import pytest
from datasets.fingerprint import Hasher
from datasets.utils import _dill
from medenv.agents.tiny import tiny_model_path
from medenv.training.fingerprint import MANY, cheap_fingerprint
from transformers import AddedToken, AutoTokenizer


def _tokenizer(folder, extra: list[AddedToken]):
    """The tokenizer in ``folder`` with ``extra`` added, saved and loaded again (as a model
    folder holds it: the added tokens in ``init_kwargs``), always from one path: the path is
    part of a tokenizer's state (``name_or_path``)."""
    tok = AutoTokenizer.from_pretrained(folder)
    tok.add_tokens(extra)
    out = folder.parent / "with-added"
    shutil.rmtree(out, ignore_errors=True)
    tok.save_pretrained(out)
    return AutoTokenizer.from_pretrained(out)


def _names(n: int) -> list[AddedToken]:
    return [AddedToken(f"entity-{i:05d}", single_word=True) for i in range(n)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    AutoTokenizer.from_pretrained(str(tiny_model_path())).save_pretrained(out)
    return out


def test_small_tokenizers_keep_the_datasets_hash(folder):
    tok = _tokenizer(folder, _names(5))
    before = Hasher.hash(tok)
    assert cheap_fingerprint(tok)
    assert _dill.Pickler.dispatch[type(tok)].__qualname__.startswith("cheap_fingerprint")
    assert Hasher.hash(tok) == before == Hasher.hash(_tokenizer(folder, _names(5)))


def test_many_added_tokens_hash_by_their_state(folder):
    many = _names(MANY + 200)
    tok = _tokenizer(folder, many)
    assert cheap_fingerprint(tok)
    h = Hasher.hash(tok)
    assert h == Hasher.hash(_tokenizer(folder, _names(MANY + 200)))  # same state, new objects
    decoder = tok.init_kwargs["added_tokens_decoder"]
    assert isinstance(decoder, dict) and len(decoder) >= MANY  # put back after hashing
    # any change to one added token changes it: text, a flag, one more token
    renamed = many[:-1] + [AddedToken("entity-other", single_word=True)]
    flagged = many[:-1] + [AddedToken(many[-1].content, single_word=False)]
    changed = [
        _tokenizer(folder, renamed),
        _tokenizer(folder, flagged),
        _tokenizer(folder, many + [AddedToken("one-more")]),
    ]
    hashes = {Hasher.hash(t) for t in changed}
    assert h not in hashes and len(hashes) == 3

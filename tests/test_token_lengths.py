"""`row_token_lengths` counts prefixes from one encoding of the whole row where that is exact;
checked here against tokenising every prefix the way TRL does (apply_chat_template with
tokenize=True), on rows whose templates render earlier turns differently (Qwen3 drops the
reasoning of turns before the last user message) and with a tokenizer whose added tokens
strip whitespace (where one encoding cannot be reused)."""

from __future__ import annotations

import json

import pytest
from medenv.agents.tiny import tiny_model_path
from medenv.training.token_lengths import _clean_added_tokens, row_token_lengths
from transformers import AddedToken, AutoTokenizer

from medenv.tools.registry import tool_schemas


def _call(name: str, query: str) -> str:
    return (
        "<tool_call>\n"
        + json.dumps({"name": name, "arguments": {"query": query}})
        + "\n</tool_call>"
    )


def _rows() -> list[dict]:
    tools = tool_schemas()
    one_user = [
        {"role": "system", "content": "You are a medical research agent."},
        {"role": "user", "content": "Which gene is implicated in Sotos syndrome?"},
        {
            "role": "assistant",
            "content": "<think>\nsearch the disease first\n</think>\n\n"
            + _call("medical_search", "Sotos syndrome"),
        },
        {
            "role": "tool",
            "content": "1. Sotos syndrome | https://medref/x\n   is associated "
            "with the gene: NSD1.\n2. Weaver syndrome\n   ...  ",
        },
        {
            "role": "assistant",
            "content": "<think>\nthe first result names it\n</think>\n\n"
            + _call("browse", "https://medref/x"),
        },
        {"role": "tool", "content": "Sotos syndrome (OMIM:117550)\n\nGenes: NSD1.\n"},
        {"role": "assistant", "content": "<think>\nNSD1\n</think>\n\n<answer>NSD1</answer>"},
    ]
    # a second user message: Qwen3's template drops the reasoning of the turns before it,
    # so those turns' prefixes are not literal prefixes of the whole rendering
    two_users = one_user[:5] + [
        {"role": "user", "content": "Also: which inheritance?  \t\n"},
        {
            "role": "assistant",
            "content": "<think>\n\n</think>\n\n" + _call("web_search", "NSD1 inheritance "),
        },
        {"role": "tool", "content": "Autosomal dominant <b>inheritance</b>\n\n\n"},
        {"role": "assistant", "content": "<answer>Autosomal dominant</answer>"},
    ]
    no_tools = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "<answer>x</answer>"},
    ]
    only_prompt = [{"role": "user", "content": "no assistant turn"}]
    return [
        {"question_id": "a", "messages": one_user, "tools": tools},
        {"question_id": "b", "messages": two_users, "tools": tools},
        {"question_id": "c", "messages": no_tools, "tools": None},
        {"question_id": "d", "messages": only_prompt, "tools": tools},
    ]


def _direct(rows: list[dict], tok) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """Every count tokenised on its own, as SFTTrainer's tokenize_fn does."""
    out = []
    for row in rows:
        msgs = row["messages"]
        tools = json.loads(row["tools"]) if isinstance(row["tools"], str) else row["tools"]

        def n(messages, tools=tools, **kw):
            return len(tok.apply_chat_template(messages, tools=tools or None, tokenize=True,
                                               return_dict=True, **kw)["input_ids"])  # fmt: skip

        first = next((i for i, m in enumerate(msgs) if m["role"] == "assistant"), None)
        head = msgs if first is None else msgs[:first]
        ends = tuple(n(msgs[: i + 1]) for i, m in enumerate(msgs) if m["role"] == "assistant")
        out.append(
            (row["question_id"], n(head, add_generation_prompt=first is not None), n(msgs), ends)
        )
    return out


@pytest.fixture(scope="module")
def tiny_tokenizer():
    return AutoTokenizer.from_pretrained(str(tiny_model_path()))


def test_counts_equal_direct_tokenisation(tiny_tokenizer):
    rows = _rows()
    assert _clean_added_tokens(tiny_tokenizer)  # the one-encoding path is the one taken
    got = [
        (r.question_id, r.prompt, r.total, r.turn_ends)
        for r in row_token_lengths(rows, tiny_tokenizer)
    ]
    assert got == _direct(rows, tiny_tokenizer)
    # the two-user row really renders an earlier turn differently once later turns follow
    msgs, tools = rows[1]["messages"], rows[1]["tools"]
    full = tiny_tokenizer.apply_chat_template(msgs, tools=tools, tokenize=False)
    early = tiny_tokenizer.apply_chat_template(msgs[:3], tools=tools, tokenize=False)
    assert not full.startswith(early)


def test_whitespace_stripping_added_tokens_are_encoded_per_prefix(tiny_tokenizer, tmp_path):
    tiny_tokenizer.save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    tok.add_tokens([AddedToken("<b>", lstrip=True, rstrip=True)])
    assert not _clean_added_tokens(tok)
    rows = _rows()
    got = [(r.question_id, r.prompt, r.total, r.turn_ends) for r in row_token_lengths(rows, tok)]
    assert got == _direct(rows, tok)


def test_a_text_that_is_not_a_prefix_is_encoded_even_where_an_added_token_starts(tiny_tokenizer):
    from medenv.training.token_lengths import _added_token_starts, _prefix_length

    full = "Sotos syndrome<|im_end|>\n<|im_start|>user"
    encoded = tiny_tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    starts = _added_token_starts(_clean_added_tokens(tiny_tokenizer), encoded)
    other = "\u00f3\u00e6\u00df" * 4 + "??"  # as long as "Sotos syndrome", not its prefix
    assert len(other) == len("Sotos syndrome") and len(other) in starts
    direct = len(tiny_tokenizer(other, add_special_tokens=False)["input_ids"])
    assert direct != starts[len(other)]
    assert _prefix_length(tiny_tokenizer, full, len(encoded["input_ids"]), starts, other) == direct
    assert (
        _prefix_length(tiny_tokenizer, full, len(encoded["input_ids"]), starts, "Sotos syndrome")
        == starts[14]
    )

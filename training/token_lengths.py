"""Token lengths of SFT rows for a tokenizer, and the ``max_length`` that fits them.

TRL's ``SFTTrainer`` renders each row with the tokenizer's chat template (tools JSON-decoded,
as ``SFTTrainer``'s ``tokenize_fn`` does) and keeps the first ``max_length`` tokens: at its
default 1,024 an exported row (a >1,600-token prompt for the tiny tokenizer) keeps no
assistant token, and ``assistant_only_loss=True`` then drops the row. A row is trained
*whole* -- every assistant turn, the final answer included, gets loss -- exactly when
``max_length`` is at least its rendered length (the answer is its last turn).

- `row_token_lengths(rows, tokenizer, config)`: per row, ``prompt`` (tokens before the first
  assistant turn, with the generation prompt) and ``total`` (the whole rendered row), after
  the row preprocessing of ``config`` (`medenv.training.sft_rows.prepare_row`).
- `fit_max_length(lengths, context)`: the smallest ``max_length`` that keeps at least
  `COVERAGE` of the rows whole; `MedenvError` (one line) when that exceeds ``context``.
- `length_report(lengths)`: counts and percentiles for ``stats.json`` and the CLI.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path
from typing import Any

import msgspec
from medenv.agents.tiny import resolve_model
from medenv.training.sft_rows import normalise_row, prepare_row

from medenv.errors import MedenvError
from medenv.paths import write_file
from medenv.prompt import load_contract

COVERAGE = 0.95
SHORTEN_HINT = "shorten the rows (--max-tool-chars, --no-template-tools, --no-system)"


class RowTokens(msgspec.Struct, frozen=True):
    question_id: str
    prompt: int  # tokens before the first assistant turn (generation prompt included)
    total: int  # the whole rendered row: what max_length must reach to train every turn
    # token position where each assistant turn ends: the turn gets its whole loss when
    # max_length reaches it
    turn_ends: tuple[int, ...] = ()


def _render(tokenizer: Any, messages: list[dict], tools: Any, **kwargs: Any) -> str:
    return tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=False, **kwargs)


def _encode(tokenizer: Any, text: str, **kwargs: Any) -> Any:
    # tokenised as apply_chat_template(tokenize=True) does (no special tokens added), without
    # the "longer than the model's maximum" log line: lengths are the point
    return tokenizer(text, add_special_tokens=False, verbose=False, **kwargs)


def _added_token_starts(added: frozenset[int], encoded: Any) -> dict[int, int]:
    """Character offset -> token index of every added token (``<|im_start|>``, ...) in
    ``encoded`` (an encoding with offsets)."""
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    return {offsets[i][0]: i for i, token in enumerate(ids) if token in added}


def _prefix_length(
    tokenizer: Any, full: str, n_full: int, starts: dict[int, int], text: str
) -> int:
    """Token count of ``text`` (a rendering of the first turns of the row rendered as ``full``).

    Counted from ``full``'s encoding when ``text`` is a literal prefix of ``full`` that ends
    where an added token begins (``starts`` is empty unless `_clean_added_tokens` holds):
    the tokenizer splits the text at added tokens and encodes the pieces apart, so the
    prefix's tokens are then the first ones of ``full``'s. Otherwise (a template that
    renders earlier turns differently once later ones follow, or a cut inside a piece)
    ``text`` is encoded."""
    if text == full:
        return n_full
    if len(text) in starts and full.startswith(text):
        return starts[len(text)]
    return len(_encode(tokenizer, text)["input_ids"])


def _clean_added_tokens(tokenizer: Any) -> frozenset[int]:
    """The ids of ``tokenizer``'s added tokens when none strips the whitespace beside it
    (then the text before an added token is encoded the same whatever follows it); empty
    otherwise, or for a tokenizer without offsets (a slow one)."""
    if not getattr(tokenizer, "is_fast", False):
        return frozenset()
    tokens = tokenizer.added_tokens_decoder
    if any(t.lstrip or t.rstrip for t in tokens.values()):
        return frozenset()
    return frozenset(tokens)


def row_token_lengths(rows: list[dict], tokenizer: Any, config: Any = None) -> list[RowTokens]:
    """Prompt and total token counts of each row, rendered as ``SFTTrainer`` renders it."""
    lengths = []
    added = _clean_added_tokens(tokenizer)
    for row in rows:
        prepared = normalise_row(prepare_row(row, config) if config is not None else row)
        messages = prepared["messages"]
        tools = prepared.get("tools")
        tools = json.loads(tools) if isinstance(tools, str) else tools
        first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), None)
        head = messages if first is None else messages[:first]
        full = _render(tokenizer, messages, tools)
        encoded = _encode(tokenizer, full, return_offsets_mapping=bool(added))
        total = len(encoded["input_ids"])
        starts = _added_token_starts(added, encoded) if added else {}

        count = functools.partial(_prefix_length, tokenizer, full, total, starts)
        prompt = count(_render(tokenizer, head, tools, add_generation_prompt=first is not None))
        ends = tuple(
            total if i == len(messages) - 1 else count(_render(tokenizer, messages[: i + 1], tools))
            for i, m in enumerate(messages)
            if m["role"] == "assistant"
        )
        lengths.append(RowTokens(str(row.get("question_id", "")), prompt, total, ends))
    return lengths


def assistant_turn_share(lengths: list[RowTokens], max_length: int | None) -> float:
    """Share of all assistant turns that end within ``max_length`` (so receive their whole
    loss); 1.0 without a cut."""
    ends = [e for r in lengths for e in r.turn_ends]
    if not ends:
        return 0.0
    if max_length is None:
        return 1.0
    return sum(e <= max_length for e in ends) / len(ends)


def _quantile(values: list[int], q: float) -> int:
    """The smallest value ``v`` with at least ``q`` of ``values`` at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def fit_max_length(lengths: list[RowTokens], context: int | None, coverage: float = COVERAGE):
    """The smallest ``max_length`` keeping ``coverage`` of the rows whole (see the module
    docstring); raises `MedenvError` when it is over the model's ``context``."""
    if not lengths:
        raise MedenvError("no SFT rows to measure")
    needed = _quantile([r.total for r in lengths], coverage)
    if context is not None and needed > context:
        raise MedenvError(
            f"{coverage:.0%} of the SFT rows need up to {needed:,} tokens, over the model's "
            f"context of {context:,}: {SHORTEN_HINT} or use a longer-context model"
        )
    return needed


def whole_share(lengths: list[RowTokens], max_length: int | None) -> float:
    """Share of rows trained whole (every assistant turn gets loss) at ``max_length``."""
    if not lengths:
        return 0.0
    if max_length is None:
        return 1.0
    return sum(r.total <= max_length for r in lengths) / len(lengths)


def length_report(lengths: list[RowTokens]) -> dict:
    """Row count and prompt/total token percentiles (p50, p95, max), and the max_length
    that keeps `COVERAGE` of the rows whole."""
    if not lengths:
        return {"rows": 0}
    prompts, totals = [r.prompt for r in lengths], [r.total for r in lengths]
    return {
        "rows": len(lengths),
        "prompt": {"p50": _quantile(prompts, 0.5), "p95": _quantile(prompts, 0.95),
                   "max": max(prompts)},
        "total": {"p50": _quantile(totals, 0.5), "p95": _quantile(totals, 0.95),
                  "max": max(totals)},
        "max_length_for_95pct_whole": _quantile(totals, COVERAGE),
        "whole_at_1024": round(whole_share(lengths, 1024), 4),
        "assistant_turns_at_1024": round(assistant_turn_share(lengths, 1024), 4),
    }  # fmt: skip


def model_context(model: Any, tokenizer: Any) -> int | None:
    """The model's context length (``max_position_embeddings``), else the tokenizer's."""
    n = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if n is None:
        n = getattr(tokenizer, "model_max_length", None)
        n = n if isinstance(n, int) and n < 10**8 else None
    return n


def resolve_max_length(
    max_length: int | str | None,
    rows: list[dict],
    model: Any,
    tokenizer: Any,
    quiet=False,
    lengths: list[RowTokens] | None = None,
) -> int | None:
    """The ``max_length`` to give ``SFTConfig`` for (already prepared) ``rows``: ``"auto"``
    -> `fit_max_length` (one stderr line says what it chose); an int is kept, with a warning
    when under `COVERAGE` of the rows would be trained whole; None stays None (no cut)."""
    if max_length is None:
        return None
    lengths = row_token_lengths(rows, tokenizer) if lengths is None else lengths
    if max_length == "auto":
        chosen = fit_max_length(lengths, model_context(model, tokenizer))
        if not quiet:
            print(
                f"max_length {chosen:,} from the data: {whole_share(lengths, chosen):.0%} of "
                f"{len(lengths)} rows trained whole (longest {max(r.total for r in lengths):,})",
                file=sys.stderr,
            )
        return chosen
    share = whole_share(lengths, max_length)
    if share < COVERAGE and not quiet:
        print(
            f"warning: at --max-length {max_length} only {share:.0%} of the rows are trained "
            f"whole (every assistant turn, the answer included); {COVERAGE:.0%} need "
            f"{_quantile([r.total for r in lengths], COVERAGE):,}: use --max-length auto or "
            f"{SHORTEN_HINT}",
            file=sys.stderr,
        )
    return int(max_length)


def load_tokenizer(tokenizer_name: str) -> tuple[str, Any]:
    """``(folder or hub id, tokenizer)`` for ``tokenizer_name`` (a folder, hub id or
    ``tiny``); a name that is no tokenizer (a missing folder, a file, a folder without
    tokenizer files) is one `MedenvError` naming it."""
    from medenv.agents.backend_transformers import check_model_path

    folder = resolve_model(tokenizer_name)
    try:
        check_model_path(folder)
        from transformers import AutoTokenizer

        return folder, AutoTokenizer.from_pretrained(folder)
    except Exception as exc:  # transformers: OSError, ValueError, ...
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise MedenvError(
            f"--tokenizer {tokenizer_name}: cannot load a tokenizer: "
            f"{lines[0] if lines else type(exc).__name__}"
        ) from None


def write_token_report(rows: list[dict], tokenizer_name: str, out, loaded=None) -> dict:
    """``out/sft_token_lengths.jsonl`` (one `RowTokens` per SFT row) for the tokenizer
    ``tokenizer_name`` (a folder, hub id or ``tiny``; ``loaded``: its `load_tokenizer`, when
    the caller loaded it first): rows as exported, or, for a checkpoint with a saved prompt
    contract (`medenv.prompt`), as the contract renders them; returns `length_report` plus
    the tokenizer, the file (and the contract) for ``stats.json``."""
    folder, tokenizer = loaded or load_tokenizer(tokenizer_name)
    # a checkpoint medenv trained: measure the rows as its prompt contract renders them
    contract = load_contract(folder) if Path(folder).is_dir() else None
    lengths = row_token_lengths(rows, tokenizer, contract)
    path = Path(out) / "sft_token_lengths.jsonl"
    write_file(path, b"".join(msgspec.json.encode(r) + b"\n" for r in lengths))
    report = {"tokenizer": tokenizer_name, "file": str(path), **length_report(lengths)}
    if contract is not None:
        report["prompt_contract"] = msgspec.to_builtins(contract)
    return report

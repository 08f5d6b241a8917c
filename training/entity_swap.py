"""Entity-swap augmentation: counterfactual copies of SFT rows that teach a small model to
COPY names (from the question into its query, from a tool response into its answer)
instead of memorising them.

A 1-hop oracle row searches for an entity the question quotes and answers with a name the
tool response lists. A model trained from scratch on a few hundred such rows sees each
entity once or twice; it learns the format and the relation phrases, and memorises one
entity and one answer. A swapped copy of a row replaces, in every turn (question, tool-call
arguments, tool responses, answer), the searched entity and the answer by other KG names of
the same entity types, drawn at random. The trajectory keeps its shape and is consistent
with itself, but not with the KG: the only way to predict the query and the answer of a
swapped row is to copy them from the context, so the copy is what the loss rewards.

Contract: `swap_rows(rows, names_by_type, copies, seed)` returns ``copies`` swapped rows per
row it can swap (a row whose searched entity or answer is not found, or not a KG name, is
skipped), deterministic in ``seed``. Only TRAINING rows are passed in (`medenv.training.sft`
swaps after the held-out split); replacement names are drawn from the whole KG (the domain
vocabulary, the same for every split), never from questions or answers of other splits.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

_QUOTED = re.compile(r'"([^"]+)"')
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def kg_names_by_type(source: str = "hpo") -> dict[str, str]:
    """{entity name: entity type} of the KG ``source`` (names with one type only)."""
    from medenv.kg.cache import load_kg

    kg = load_kg(source, progress=False)
    types: dict[str, set[str]] = {}
    for node in kg.nodes():
        name = node.name
        if len(name) >= 2 and "\n" not in name and '"' not in name and name == name.strip():
            types.setdefault(name, set()).add(node.type)
    return {n: next(iter(t)) for n, t in types.items() if len(t) == 1}


def _arguments(call: dict) -> dict:
    args = call.get("function", {}).get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return {}
    return args if isinstance(args, dict) else {}


def searched_entity(row: dict) -> str | None:
    """The name of the row's first query that the question quotes (the longest such quoted
    name at the query's start); None when there is none."""
    question = next((m.get("content") or "" for m in row["messages"] if m["role"] == "user"), "")
    query = None
    for msg in row["messages"]:
        for call in msg.get("tool_calls") or []:
            query = _arguments(call).get("query")
            if isinstance(query, str):
                break
        if isinstance(query, str):
            break
    if not isinstance(query, str):
        return None
    quoted = sorted(
        set(_QUOTED.findall(question.rpartition("Question:")[2])), key=len, reverse=True
    )
    return next((q for q in quoted if query.startswith(q)), None)


def final_answer(row: dict) -> str | None:
    """The row's final answer: the last ``<answer>`` tag or ``answer`` tool call."""
    for msg in reversed(row["messages"]):
        if msg["role"] != "assistant":
            continue
        found = _ANSWER.findall(msg.get("content") or "")
        if found:
            return found[-1].strip()
        for call in msg.get("tool_calls") or []:
            if call.get("function", {}).get("name") == "answer":
                answer = _arguments(call).get("answer")
                return answer.strip() if isinstance(answer, str) else None
    return None


def _replace(value: Any, swaps: dict[str, str]) -> Any:
    if isinstance(value, str):
        pattern = "|".join(re.escape(k) for k in sorted(swaps, key=len, reverse=True))
        return re.sub(pattern, lambda m: swaps[m.group(0)], value)
    if isinstance(value, list):
        return [_replace(v, swaps) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, swaps) for k, v in value.items()}
    return value


def swap_row(row: dict, swaps: dict[str, str]) -> dict:
    """``row`` with every occurrence of each key of ``swaps`` replaced by its value, in every
    message's content and tool-call arguments (other row fields are kept; the question id
    gets a ``#swap`` suffix)."""
    messages = []
    for msg in row["messages"]:
        out = {**msg, "content": _replace(msg.get("content"), swaps)}
        if msg.get("tool_calls"):
            out["tool_calls"] = [
                {**c, "function": {**c["function"],
                                   "arguments": _replace(c["function"].get("arguments"), swaps)}}
                for c in msg["tool_calls"]
            ]  # fmt: skip
        messages.append(out)
    qid = row.get("question_id")
    return {**row, "messages": messages, "question_id": f"{qid}#swap" if qid else qid}


def swap_rows(rows: list[dict], names_by_type: dict[str, str], copies: int,
              seed: int = 0) -> list[dict]:  # fmt: skip
    """``copies`` counterfactual copies of each row whose searched entity and answer are
    KG names (see the module docstring), each with fresh names of the same types."""
    if copies <= 0:
        return []
    pools: dict[str, list[str]] = {}
    for name, kind in sorted(names_by_type.items()):
        pools.setdefault(kind, []).append(name)
    rng = random.Random(seed)
    out = []
    for row in rows:
        entity, answer = searched_entity(row), final_answer(row)
        if not entity or not answer or entity == answer:
            continue
        if entity not in names_by_type or answer not in names_by_type:
            continue
        if entity in answer or answer in entity:
            continue
        for _ in range(copies):
            new_entity = rng.choice(pools[names_by_type[entity]])
            new_answer = rng.choice(pools[names_by_type[answer]])
            if new_entity == new_answer:
                continue
            out.append(swap_row(row, {entity: new_entity, answer: new_answer}))
    return out

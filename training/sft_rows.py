"""SFT rows: reading and checking contract-format rows, rendering them under a prompt
contract, and the held-out split. The data half of `medenv.training.sft`.

Input rows follow the contract's training data format (``docs/CONTRACTS.md``)::

    {"messages": [...], "tools": [schemas...], "question_id", "specialty", "n_hops"}

read from an export folder (its ``sft.jsonl``), a folder of ``*.jsonl`` / ``*.parquet``
files, or one such file; a bad row is a `DataError` naming the file and line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from medenv.errors import DataError
from medenv.prompt import PromptContract, render_messages, template_hash

ROLES = ("system", "user", "assistant", "tool")


def _data_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        if (path / "sft.jsonl").is_file():  # a `medenv export` folder (also has rl_prompts.jsonl)
            return [path / "sft.jsonl"]
        files = sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".parquet"))
        if files:
            return files
        raise DataError(path, "no .jsonl or .parquet SFT files in this folder")
    raise DataError(path, "SFT data not found")


def _check_row(row: Any, path: Path, line: int | None) -> dict:
    if not isinstance(row, dict):
        raise DataError(path, "expected a JSON object per line", line)
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise DataError(path, "row has no 'messages' list", line)
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            raise DataError(path, f"message {i} has no valid role (one of {ROLES})", line)
        for key in ("content", "name"):
            if msg.get(key) is not None and not isinstance(msg[key], str):
                raise DataError(
                    path,
                    f"message {i}: '{key}' must be a string, got {type(msg[key]).__name__}",
                    line,
                )
        calls = msg.get("tool_calls")
        if calls is None:
            calls = []
        if not isinstance(calls, list):
            raise DataError(path, f"message {i}: 'tool_calls' must be a list", line)
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise DataError(path, f"message {i} has a tool call without function.name", line)
            if not isinstance(fn.get("arguments", {}), dict | str):
                raise DataError(
                    path, f"message {i}: tool call arguments must be an object or a string", line
                )
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(path, "row has no assistant turn to learn from", line)
    tools = row.get("tools", [])
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError:
            raise DataError(path, "'tools' is not valid JSON", line) from None
    if not isinstance(tools, list):
        raise DataError(path, "'tools' must be a list of function schemas", line)
    return {**row, "tools": tools}


def load_sft_rows(path: str | Path) -> list[dict]:
    """Read and validate contract-format SFT rows (``DataError`` names file and line)."""
    rows: list[dict] = []
    for file in _data_files(Path(path)):
        if file.suffix == ".parquet":
            try:
                table = pq.read_table(file)
            except (pa.ArrowException, OSError) as exc:
                raise DataError(file, f"cannot read Parquet: {str(exc).splitlines()[0]}") from None
            for i, row in enumerate(table.to_pylist()):
                rows.append(_check_row(row, file, i + 1))
            continue
        with file.open("rb") as fh:
            for i, raw in enumerate(fh, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(file, f"not valid UTF-8 ({exc.reason})", i) from None
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise DataError(file, f"invalid JSON: {exc.msg}", i) from None
                rows.append(_check_row(row, file, i))
    if not rows:
        raise DataError(path, "no SFT rows")
    return rows


def _arguments_text(arguments: Any) -> str:
    # Same text the template's `tojson` gives a dict; kept as a string so Arrow does not
    # merge differently-keyed argument dicts into one struct with null fields.
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def normalise_row(row: dict) -> dict:
    """A row ready for an Arrow dataset: tool-call arguments and tools as JSON strings."""
    messages = []
    for msg in row["messages"]:
        out = {"role": msg["role"], "content": msg.get("content") or ""}
        if msg.get("name"):
            out["name"] = msg["name"]
        if msg.get("tool_calls"):
            out["tool_calls"] = [
                {
                    "type": "function",
                    "function": {
                        "name": c["function"]["name"],
                        "arguments": _arguments_text(c["function"].get("arguments", {})),
                    },
                }
                for c in msg["tool_calls"]
            ]
        messages.append(out)
    tools = row.get("tools") or []
    if not tools:
        return {"messages": messages}
    return {"messages": messages, "tools": json.dumps(tools, ensure_ascii=False)}


def row_contract(row: dict, config: Any) -> PromptContract:
    """The prompt contract ``config`` (an `SFTTrainConfig` or alike) applies to ``row``:
    the row's own system turn unless ``keep_system=False``."""
    if isinstance(config, PromptContract):
        return config
    system = None
    if getattr(config, "keep_system", True):
        system = next((m.get("content") for m in row["messages"] if m["role"] == "system"), None)
    return PromptContract(
        system_prompt=system,
        template_tools=getattr(config, "template_tools", True),
        max_tool_chars=getattr(config, "max_tool_chars", None),
        keep_thinking=getattr(config, "keep_thinking", True),
        task_prompt=getattr(config, "task_prompt", "full"),
    )


def sft_contract(config: Any, rows: list[dict], tokenizer: Any = None) -> PromptContract:
    """The contract a run trains under (saved with the checkpoint): the rows' system turn
    (the first one found) unless ``keep_system=False``; tool schemas only when the config
    renders them and the rows carry them."""
    system = None
    if config.keep_system:
        system = next(
            (m.get("content") for r in rows for m in r["messages"] if m["role"] == "system"),
            None,
        )
    template = getattr(tokenizer, "chat_template", None)
    return PromptContract(
        system_prompt=system,
        template_tools=bool(config.template_tools and any(r.get("tools") for r in rows)),
        max_tool_chars=config.max_tool_chars,
        keep_thinking=config.keep_thinking,
        task_prompt=config.task_prompt,
        chat_template_sha256=template_hash(template if isinstance(template, str) else None),
    )


def prepare_row(row: dict, config: Any) -> dict:
    """``row`` rendered under the prompt contract of ``config`` (`row_contract`;
    `medenv.prompt.render_messages` is the one rendering rule):

    - ``max_tool_chars``: each ``tool`` turn's content cut to that many characters (the
      env's observations can be thousands of characters; the assistant turns, which carry
      the loss, are never cut);
    - ``template_tools=False``: the ``tools`` schemas are left out of the template (the
      env's prompt already lists the tools, so they are not described twice);
    - ``keep_system=False``: the system turn is dropped.

    The checkpoint saves the contract (`medenv.prompt.CONTRACT_FILE`); ``medenv rollout
    --agent llm`` and GRPO read it back and render the same way.
    """
    messages, tools = render_messages(row["messages"], row.get("tools"), row_contract(row, config))
    return {**row, "messages": messages, "tools": tools}


def prompt_for(row: dict, config: Any) -> tuple[list[dict], list[dict] | None]:
    """(messages up to and including the first user turn, tools) as the model saw them."""
    prepared = prepare_row(row, config)
    messages = prepared["messages"]
    first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    return messages[: first_user + 1], (prepared.get("tools") or None)


def split_rows(rows: list[dict], eval_fraction: float, seed: int = 0) -> tuple[list, list]:
    """Deterministic split by question id (all rows of a question on one side)."""
    if eval_fraction <= 0:
        return rows, []

    def bucket(row: dict, index: int) -> float:
        key = f"{seed}:{row.get('question_id') or index}"
        return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    train, held = [], []
    for i, row in enumerate(rows):
        (held if bucket(row, i) < eval_fraction else train).append(row)
    if not held or not train:  # tiny sets: keep at least one row on each side
        ordered = sorted(range(len(rows)), key=lambda i: bucket(rows[i], i))
        n_held = max(1, round(len(rows) * eval_fraction)) if len(rows) > 1 else 0
        held_idx = set(ordered[:n_held])
        train = [r for i, r in enumerate(rows) if i not in held_idx]
        held = [r for i, r in enumerate(rows) if i in held_idx]
    return train, held


def to_dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list([normalise_row(r) for r in rows])

"""The tool registry: names, OpenAI-style schemas, validated execution.

The tools are the ``TOOL`` declarations (`medenv.tools.tool.Tool`) of the modules of the
`medenv.tools` package, collected at import (sorted by ``order``, then name): adding a tool
is adding one module with a ``TOOL``; `TOOLS`, `TOOL_NAMES`, the schemas, the prompt and the
TRL adapter follow. `validate` (msgspec, against the tool's ``Args``) is the one argument
check; `run` executes already-checked arguments and `execute` does both.

`execute(world, name, arguments)` never raises for bad model input: an unknown tool, a
non-object, a missing or unknown argument, a wrong type, an empty query or an out-of-range
``top_k`` each give ``ToolResult(ok=False, error="bad_arguments" | "unknown_tool")`` whose
``text`` names the argument, what was expected and the tool's usage.
"""

from __future__ import annotations

import copy
import functools
import importlib
import pkgutil
import re
from typing import Any

import msgspec

import medenv.tools
from medenv.errors import MedenvError
from medenv.events.schema import clean
from medenv.tools.cache import run_cached
from medenv.tools.result import ToolResult, failure
from medenv.tools.tool import Tool

_NOT_TOOLS = {"registry", "parsing", "result", "tool", "cache"}


def _collect() -> dict[str, Tool]:
    """Every ``TOOL`` declared by a module of the `medenv.tools` package."""
    found: list[Tool] = []
    for info in pkgutil.iter_modules(medenv.tools.__path__):
        if info.ispkg or info.name.startswith("_") or info.name in _NOT_TOOLS:
            continue
        tool = getattr(importlib.import_module(f"medenv.tools.{info.name}"), "TOOL", None)
        if isinstance(tool, Tool):
            found.append(tool)
    found.sort(key=lambda t: (t.order, t.name))
    names = [t.name for t in found]
    if len(set(names)) != len(names):
        raise MedenvError(f"two tools share a name: {names}")
    return {t.name: t for t in found}


TOOLS: dict[str, Tool] = _collect()
TOOL_NAMES: tuple[str, ...] = tuple(TOOLS)
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "null": "null",
    "array": "a list",
    "object": "an object",
}


def _inline(schema: dict) -> dict:
    """A msgspec schema with its ``$ref``/``$defs`` resolved and titles dropped."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]]))
            return {k: resolve(v) for k, v in node.items() if k not in ("$defs", "title")}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    out = resolve(schema)
    out.pop("description", None)
    return out


@functools.lru_cache(maxsize=256)
def _parameters_json(args: type) -> bytes:
    """The inlined JSON schema of an argument struct, encoded once per struct type (building
    it is ~0.6 ms; an export renders the tool schemas of every row)."""
    return msgspec.json.encode(_inline(msgspec.json.schema(args)))


def tool_schema(name: str) -> dict:
    """One tool's OpenAI function schema (a fresh dict: callers may change it)."""
    tool = TOOLS[name]
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": tool.description,
            "parameters": msgspec.json.decode(_parameters_json(tool.args)),
        },
    }


def tool_schemas(names: tuple[str, ...] | list[str] | None = None) -> list[dict]:
    """OpenAI function schemas of ``names`` (all tools by default), in the given order."""
    names = TOOL_NAMES if names is None else tuple(names)
    unknown = [n for n in names if n not in TOOLS]
    if unknown:
        raise MedenvError(f"unknown tool(s) {unknown}; known: {', '.join(TOOL_NAMES)}")
    return [tool_schema(n) for n in names]


def usage(name: str) -> str:
    """``name(arg: type, ...)`` with ranges and defaults, for error messages."""
    params = tool_schema(name)["function"]["parameters"]
    required = set(params.get("required", ()))
    parts = []
    for arg, spec in params["properties"].items():
        kind = spec.get("type", "any")
        if "minimum" in spec and "maximum" in spec:
            kind += f" {spec['minimum']}-{spec['maximum']}"
        if arg not in required:
            kind += f" = {msgspec.json.encode(spec.get('default')).decode()}"
        parts.append(f"{arg}: {kind}")
    return f"{name}({', '.join(parts)})"


def _explain(error: str, arguments: dict) -> str:
    m = re.fullmatch(r"Object missing required field `(.+)`", error)
    if m:
        return f"missing required argument `{m[1]}`"
    m = re.fullmatch(r"Object contains unknown field `(.+)`", error)
    if m:
        return f"unknown argument `{m[1]}`"
    m = re.fullmatch(r"Expected `(\w+)`, got `(\w+)` - at `\$\.(\w+)`", error)
    if m:
        want, got = _TYPE_WORDS.get(m[1], m[1]), _TYPE_WORDS.get(m[2], m[2])
        return f"argument `{m[3]}` must be {want}, got {got}"
    m = re.fullmatch(r"Expected `str` of length >= 1 - at `\$\.(\w+)`", error)
    if m:
        return f"argument `{m[1]}` must not be empty"
    m = re.fullmatch(r"Expected `(\w+)` (.+) - at `\$\.(\w+)`", error)
    if m:
        value = arguments.get(m[3])
        shown = msgspec.json.encode(value).decode() if value is not None else "null"
        if len(shown) > 40:
            shown = shown[:40] + "..."
        return f"argument `{m[3]}` must be {_TYPE_WORDS.get(m[1], m[1])} {m[2]}, got {shown}"
    return error


def validate(name: str, arguments: Any) -> Any:
    """The tool's ``Args`` for ``arguments``, or a failing `ToolResult` explaining why."""
    if name not in TOOLS:
        return failure(
            "unknown_tool",
            f"unknown tool {name!r}. Available tools: {', '.join(TOOL_NAMES)}.",
        )
    if isinstance(arguments, str | bytes):
        try:
            arguments = msgspec.json.decode(arguments) if arguments.strip() else {}
        except msgspec.DecodeError:
            return failure(
                "bad_arguments", f"{name}: arguments are not valid JSON. Usage: {usage(name)}."
            )
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return failure(
            "bad_arguments", f"{name}: arguments must be a JSON object. Usage: {usage(name)}."
        )
    try:
        return msgspec.convert(arguments, TOOLS[name].args)
    except UnicodeEncodeError:  # a lone surrogate: check the text the event log holds
        return validate(name, clean(arguments))
    except msgspec.ValidationError as exc:
        return failure(
            "bad_arguments",
            f"{name}: {_explain(str(exc), arguments)}. Usage: {usage(name)}.",
        )


def run(world, name: str, args: msgspec.Struct) -> ToolResult:
    """Run tool ``name`` over ``world`` with arguments `validate` returned (a repeated call
    on the same world returns its stored result: `medenv.tools.cache`)."""
    return run_cached(world, name, args, TOOLS[name].run)


def execute(world, name: str, arguments: Any) -> ToolResult:
    """Validate ``arguments`` and run tool ``name`` over ``world``."""
    args = validate(name, arguments)
    if isinstance(args, ToolResult):
        return args
    return run(world, name, args)

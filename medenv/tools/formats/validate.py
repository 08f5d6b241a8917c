"""A parsed call checked against the tools' JSON schemas: name, argument names, types, ranges.

`check(raw, spec)` returns a `ToolCall`-shaped ``(name, arguments)`` or a `Failure` of kind
``bad_json`` (no name; arguments not JSON), ``unknown_tool`` or ``bad_arguments``. Raw-text
values (XML-like families) are converted by the declared type first, as vLLM's Qwen3-Coder and
GLM-4.5 parsers do: ``string`` keeps the text; other types take the JSON (or Python literal)
reading of it when that has the right type. Never raises.

With ``arguments=False`` only the name and the arguments' shape (a JSON object) are checked
and text values converted: the caller checks the arguments itself (the env: the tool's
msgspec ``Args`` in `medenv.tools.registry.validate`, so each fault gets one message).
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from typing import Any

from medenv.tools.formats.base import Failure, RawCall, json_message, json_type, shown
from medenv.tools.formats.invoke import JsonText

_JSON_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}
_INT = re.compile(r"[+-]?\d+")


def index_schemas(schemas: list[dict]) -> dict[str, dict]:
    """``{tool name: parameters schema}`` of OpenAI function schemas."""
    index = {}
    for schema in schemas:
        fn = schema.get("function", schema)
        index[fn["name"]] = fn.get("parameters") or {}  # no "properties": takes no arguments
    return index


def check(
    raw: RawCall, spec: dict[str, dict], arguments: bool = True
) -> tuple[str, dict] | Failure:
    check_arguments, (name, arguments) = arguments, (raw.name, raw.arguments)
    if not isinstance(name, str) or not name.strip():
        return Failure("bad_json", 'The tool call needs a "name" string.')
    name = name.strip()
    if arguments is None:
        arguments = {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError) as exc:
            return Failure("bad_json", json_message(exc, f'in the "arguments" of {name[:80]}'))
    if not isinstance(arguments, dict):
        return Failure(
            "bad_arguments",
            f"The arguments of {name[:80]} must be a JSON object, got {json_type(arguments)}.",
        )
    if name not in spec:
        names = sorted(spec)
        close = difflib.get_close_matches(name, names)  # best first
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return Failure(
            "unknown_tool",
            f"Unknown tool {name[:80]!r}.{hint} Available tools: {', '.join(names)}.",
        )
    params = spec[name]
    props: dict = params.get("properties", {})
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        if not check_arguments:
            if raw.text_args and isinstance(value, str):  # no type: kept as text
                value = convert_text(value, _types_of(props[key]) if key in props else [])
            out[key] = value
            continue
        if key not in props:
            return Failure(
                "bad_arguments",
                f"{name} has no argument {str(key)[:80]!r}; its arguments are: "
                f"{', '.join(props) or 'none'}.",
            )
        types = _types_of(props[key]) or ["string"]
        if raw.text_args and isinstance(value, str):
            value = convert_text(value, types)
        problem = _problem(name, key, value, props[key], types)
        if problem is not None:
            return Failure("bad_arguments", problem)
        out[key] = value
    missing = [key for key in params.get("required", []) if key not in out]
    if missing and check_arguments:
        return Failure(
            "bad_arguments", f"{name} is missing the required argument(s): {', '.join(missing)}."
        )
    return name, out


def _types_of(prop: dict) -> list[str]:
    """The JSON types ``prop`` declares (``anyOf``/``oneOf`` flattened), with the type names
    vLLM's XML parsers also accept (``float``, ``int``, ``bool``, ``dict``, ``list``, ...) read
    as the JSON type they mean."""
    if "type" in prop:
        types = prop["type"]
        return [_json_type_name(t) for t in ([types] if isinstance(types, str) else types)]
    types: list[str] = []
    for sub in prop.get("anyOf", []) + prop.get("oneOf", []):
        types.extend(_types_of(sub))
    return types


_ALIASES = {"str": "string", "text": "string", "bool": "boolean", "dict": "object", "list": "array"}


def _json_type_name(name: object) -> str:
    if not isinstance(name, str) or name in _JSON_TYPES:
        return name if isinstance(name, str) else str(name)
    low = name.lower()
    if low.startswith(("int", "uint", "long", "short")):
        return "integer"
    if low.startswith(("num", "float", "double")):
        return "number"
    return _ALIASES.get(low, name)


def _problem(tool: str, key: str, value: Any, prop: dict, types: list[str]) -> str | None:
    ok = any(
        isinstance(value, _JSON_TYPES.get(t, object))
        and not (t in ("integer", "number") and isinstance(value, bool))
        for t in types
    )
    if not ok:
        return (
            f"{tool}: argument {key!r} must be {' or '.join(types)}, "
            f"got {json_type(value)} {shown(value)}."
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = prop.get("minimum"), prop.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{tool}: argument {key!r} must be between {low} and {high}, got {shown(value)}."
    if isinstance(value, str):
        if "enum" in prop and value not in prop["enum"]:
            return f"{tool}: argument {key!r} must be one of {prop['enum']}, got {shown(value)}."
        if len(value) < prop.get("minLength", 0):
            return f"{tool}: argument {key!r} must not be empty."
        if "maxLength" in prop and len(value) > prop["maxLength"]:
            return f"{tool}: argument {key!r} is longer than {prop['maxLength']} characters."
    return None


def convert_text(text: str, types: list[str]) -> Any:
    """``text`` read as the first declared type it parses as (``string`` keeps it as is);
    ``null`` is ``None`` where the schema allows null. With no declared type, text stays
    text, except a `JsonText` (a value its family marks as JSON), read as JSON if it is."""
    stripped = text.strip()
    if not types and isinstance(text, JsonText):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            return str(text)
    if stripped == "null" and "null" in types:
        return None
    for t in types:
        if t == "string":
            return str(text)
        try:
            if t == "integer" and _INT.fullmatch(stripped):
                return int(stripped)
            if t == "number":
                return int(stripped) if _INT.fullmatch(stripped) else float(stripped)
        except ValueError:  # not a number, or an integer of more than 4,300 digits
            continue
        if t == "boolean" and stripped.lower() in ("true", "false"):
            return stripped.lower() == "true"
        if t in ("array", "object", "null"):
            value = _literal(stripped)
            if isinstance(value, _JSON_TYPES[t]):
                return value
    return str(text)


def _literal(text: str) -> Any:
    """JSON reading of ``text``, else its Python literal reading (GLM), else ``text``."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return text

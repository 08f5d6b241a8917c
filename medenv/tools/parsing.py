"""Turn a model's raw output (or a tool-call dict) into tool calls, or one precise error.

Accepted forms (text outside ``<think>`` blocks is searched; the think text is kept):

- Hermes/Qwen: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (a missing closing
  tag is tolerated: generation often stops on it), ``"arguments"`` as an object or a JSON
  string, ``"parameters"`` as a synonym (Llama 3).
- Qwen3-Coder / Qwen3.5 XML: ``<function=NAME><parameter=P>value</parameter></function>``,
  with or without a ``<tool_call>`` wrapper; values are converted by the tool's schema.
- Bare JSON: the whole reply (or a fenced ```json block) is a call object or a list of them;
  a call object embedded in prose; ``[TOOL_CALLS]`` (Mistral) and ``<|python_tag|>`` (Llama).
- OpenAI dicts: ``{"name", "arguments"}``, ``{"type": "function", "function": {...}}``, an
  assistant message ``{"content", "tool_calls": [...]}`` or a list of calls.
- ``<answer>X</answer>``: the final answer, parsed as ``ToolCall("answer", {"answer": X})``.

Errors come as a `ParseError` whose ``kind`` is one of `ERROR_KINDS` and whose message tells
the model what to fix. Parsing never raises for any input and is linear in the text length.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import msgspec

PARSER_VERSION = "1.0"
ERROR_KINDS = ("no_call", "bad_json", "unknown_tool", "bad_arguments", "several_calls")

FORMAT_HINT = (
    'Call exactly one tool as <tool_call>{"name": "TOOL", "arguments": {...}}</tool_call>, '
    "or give the final answer as <answer>ANSWER</answer>."
)


class ToolCall(msgspec.Struct, frozen=True):
    name: str
    arguments: dict[str, Any]


class ParseError(msgspec.Struct, frozen=True):
    kind: str  # one of ERROR_KINDS
    message: str


class ParsedAction(msgspec.Struct, frozen=True):
    calls: tuple[ToolCall, ...] = ()
    think: str | None = None
    error: ParseError | None = None


class _Fail(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_DEFAULT_SCHEMAS: list[dict] | None = None


def _default_schemas() -> list[dict]:
    global _DEFAULT_SCHEMAS
    if _DEFAULT_SCHEMAS is None:
        from medenv.tools.registry import tool_schemas

        _DEFAULT_SCHEMAS = tool_schemas()
    return _DEFAULT_SCHEMAS


def parse_action(
    action: str | dict | list,
    parallel_calls: bool = False,
    schemas: list[dict] | None = None,
) -> ParsedAction:
    """Parse one model action. ``schemas`` (OpenAI function format) default to all tools.

    Returns calls (one, or several when ``parallel_calls``) or an ``error``; never raises.
    """
    spec = _index_schemas(_default_schemas() if schemas is None else schemas)
    think: str | None = None
    try:
        if isinstance(action, str):
            think, attempts = _attempts_from_text(action)
        elif isinstance(action, dict | list):
            think, attempts = _attempts_from_object(action)
        else:
            raise _Fail(
                "no_call",
                f"The action must be text or a tool-call dict, not {type(action).__name__}.",
            )
        if not attempts:
            raise _Fail("no_call", "No tool call or answer found. " + FORMAT_HINT)
        if len(attempts) > 1 and not parallel_calls:
            raise _Fail(
                "several_calls",
                f"Found {len(attempts)} tool calls; make exactly one call per step. " + FORMAT_HINT,
            )
        calls = tuple(_validate(attempt(), spec) for attempt in attempts)
    except RecursionError:
        error = ParseError("bad_json", "The JSON is nested too deeply. " + FORMAT_HINT)
        return ParsedAction(calls=(), think=think, error=error)
    except ValueError:  # json: an integer over Python's 4,300-digit limit (issue 12)
        error = ParseError("bad_json", "A number in the call is too long. " + FORMAT_HINT)
        return ParsedAction(calls=(), think=think, error=error)
    except _Fail as fail:
        return ParsedAction(calls=(), think=think, error=ParseError(fail.kind, fail.message))
    return ParsedAction(calls=calls, think=think, error=None)


# ---------------------------------------------------------------- text ----------------------

_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.DOTALL)
_EMBEDDED = re.compile(r'\{\s*"(?:name|function|tool_calls)"\s*:')


def _split_think(text: str) -> tuple[str | None, str]:
    """Return (think text or None, the text outside think blocks)."""
    thinks: list[str] = []
    rest: list[str] = []
    close = text.find(_THINK_CLOSE)
    open_ = text.find(_THINK_OPEN)
    pos = 0
    if close != -1 and (open_ == -1 or close < open_):  # template opened <think> in the prompt
        thinks.append(text[:close])
        pos = close + len(_THINK_CLOSE)
    while True:
        start = text.find(_THINK_OPEN, pos)
        if start == -1:
            rest.append(text[pos:])
            break
        rest.append(text[pos:start])
        end = text.find(_THINK_CLOSE, start)
        if end == -1:  # unclosed: generation stopped while thinking
            thinks.append(text[start + len(_THINK_OPEN) :])
            break
        thinks.append(text[start + len(_THINK_OPEN) : end])
        pos = end + len(_THINK_CLOSE)
    think = "\n".join(t.strip() for t in thinks).strip() if thinks else None
    return think, "".join(rest)


def _blocks(text: str, open_tag: str, close_tag: str) -> tuple[list[str], str]:
    """Bodies of ``open..close`` blocks (an unclosed last block runs to the end) and the rest."""
    bodies: list[str] = []
    rest: list[str] = []
    pos = 0
    while True:
        start = text.find(open_tag, pos)
        if start == -1:
            rest.append(text[pos:])
            break
        rest.append(text[pos:start])
        end = text.find(close_tag, start + len(open_tag))
        if end == -1:
            bodies.append(text[start + len(open_tag) :])
            break
        bodies.append(text[start + len(open_tag) : end])
        pos = end + len(close_tag)
    return bodies, "".join(rest)


def _attempts_from_text(text: str) -> tuple[str | None, list]:
    think, rest = _split_think(text)
    attempts: list = []
    bodies, rest = _blocks(rest, "<tool_call>", "</tool_call>")
    for body in bodies:
        attempts.extend(_attempts_from_block(body))
    xml_bodies, rest = _blocks(rest, "<function=", "</function>")
    attempts.extend(_xml_attempt(body) for body in xml_bodies)
    answers, rest = _blocks(rest, "<answer>", "</answer>")
    attempts.extend(_answer_attempt(body) for body in answers)
    if attempts:
        return think, attempts
    return think, _bare_attempts(rest)


def _attempts_from_block(body: str) -> list:
    stripped = _unfence(body.strip())
    if stripped.startswith("<function="):
        inner, _ = _blocks(stripped, "<function=", "</function>")
        return [_xml_attempt(b) for b in inner]
    if not stripped:
        return [_failing("bad_json", "The <tool_call> block is empty. " + FORMAT_HINT)]
    return _json_attempts(stripped, where="inside <tool_call>")


def _bare_attempts(rest: str) -> list:
    stripped = _unfence(rest.strip())
    for prefix in ("[TOOL_CALLS]", "<|python_tag|>"):
        if stripped.startswith(prefix):
            stripped = stripped[len(prefix) :].strip()
    if stripped[:1] in ("{", "["):
        return _json_attempts(stripped, where="in the reply")
    attempts: list = []
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        match = _EMBEDDED.search(rest, pos)
        if match is None:
            break
        try:
            obj, end = decoder.raw_decode(rest, match.start())
        except json.JSONDecodeError as exc:
            attempts.append(_failing("bad_json", _json_message(exc, "in the reply")))
            break
        attempts.extend(_attempts_from_json_value(obj))
        pos = end
    return attempts


def _unfence(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def _json_attempts(text: str, where: str) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        try:  # valid JSON followed by trailing prose
            value, _ = json.JSONDecoder().raw_decode(text)
        except json.JSONDecodeError:
            return [_failing("bad_json", _json_message(exc, where))]
    except RecursionError:
        return [_failing("bad_json", f"The JSON {where} is nested too deeply.")]
    return _attempts_from_json_value(value)


def _json_message(exc: json.JSONDecodeError, where: str) -> str:
    if exc.pos >= len(exc.doc.rstrip()) - 1 or "Unterminated" in exc.msg:
        return (
            f"The JSON {where} is truncated ({exc.msg} at char {exc.pos}); "
            "close every brace and quote. " + FORMAT_HINT
        )
    return f"The JSON {where} is invalid: {exc.msg} at line {exc.lineno} column {exc.colno}. " + (
        FORMAT_HINT
    )


def _attempts_from_json_value(value: Any) -> list:
    if isinstance(value, list):
        if not value:
            return [_failing("no_call", "The list of tool calls is empty. " + FORMAT_HINT)]
        return [_object_attempt(item) for item in value]
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        return _attempts_from_json_value(value["tool_calls"])
    return [_object_attempt(value)]


# --------------------------------------------------------------- objects --------------------


def _attempts_from_object(action: dict | list) -> tuple[str | None, list]:
    if isinstance(action, list):
        return None, _attempts_from_json_value(action)
    think = action.get("reasoning_content") or action.get("reasoning") or None
    content = action.get("content")
    tool_calls = action.get("tool_calls")
    if "name" in action or "function" in action:
        return think, [_object_attempt(action)]
    if tool_calls:
        if isinstance(content, str):
            text_think, _ = _split_think(content)
            think = think or text_think
        return think, _attempts_from_json_value(tool_calls)
    if isinstance(content, str):
        text_think, attempts = _attempts_from_text(content)
        return think or text_think, attempts
    return think, [_failing("no_call", "The dict has no tool call or content. " + FORMAT_HINT)]


def _object_attempt(obj: Any):
    def attempt() -> ToolCall:
        if not isinstance(obj, dict):
            raise _Fail(
                "bad_json",
                f"A tool call must be a JSON object, got {_json_type(obj)}. " + FORMAT_HINT,
            )
        inner = obj.get("function")
        if isinstance(inner, dict):
            return _make_call(inner.get("name"), _pick_arguments(inner))
        return _make_call(obj.get("name", inner), _pick_arguments(obj))

    return attempt


def _pick_arguments(obj: dict) -> Any:
    for key in ("arguments", "parameters", "args"):
        if key in obj:
            return obj[key]
    return {}


def _make_call(name: Any, arguments: Any) -> ToolCall:
    if not isinstance(name, str) or not name.strip():
        raise _Fail("bad_json", 'The tool call object needs a "name" string. ' + FORMAT_HINT)
    if arguments is None:
        arguments = {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise _Fail("bad_json", _json_message(exc, f'in the "arguments" of {name}')) from None
    if not isinstance(arguments, dict):
        raise _Fail(
            "bad_arguments",
            f'The "arguments" of {name} must be a JSON object, got {_json_type(arguments)}.',
        )
    return ToolCall(name.strip(), arguments)


def _failing(kind: str, message: str):
    def attempt() -> ToolCall:
        raise _Fail(kind, message)

    return attempt


def _answer_attempt(body: str):
    def attempt() -> ToolCall:
        answer = body.strip()
        if not answer:
            raise _Fail("bad_arguments", "The <answer></answer> is empty; put the answer inside.")
        return ToolCall("answer", {"answer": answer})

    return attempt


_XML_PARAM_OPEN = "<parameter="


def _xml_attempt(body: str):
    """``body`` follows ``<function=``: ``NAME>`` then parameters."""

    def attempt() -> ToolCall:
        head, sep, params = body.partition(">")
        name = head.strip()
        if not sep or not name or "\n" in name:
            raise _Fail("bad_json", "Malformed <function=NAME> tag. " + FORMAT_HINT)
        arguments: dict[str, Any] = {}
        pos = 0
        while True:
            start = params.find(_XML_PARAM_OPEN, pos)
            if start == -1:
                break
            key_end = params.find(">", start)
            if key_end == -1:
                raise _Fail("bad_json", f"Malformed <parameter=...> tag in {name}.")
            key = params[start + len(_XML_PARAM_OPEN) : key_end].strip()
            end = params.find("</parameter>", key_end)
            if end == -1:
                nxt = params.find(_XML_PARAM_OPEN, key_end)
                if nxt != -1:
                    raise _Fail("bad_json", f"Unclosed <parameter={key}> in {name}.")
                end = len(params)  # truncated at the end: take the rest
            value = params[key_end + 1 : end]
            if value.startswith("\n"):
                value = value[1:]
            if value.endswith("\n"):
                value = value[:-1]
            arguments[key] = _XmlValue(value)
            pos = end + len("</parameter>")
        return ToolCall(name, arguments)

    return attempt


class _XmlValue(str):
    """A parameter value from XML: converted by the schema's declared type during validation."""


# ------------------------------------------------------------- validation -------------------


def _index_schemas(schemas: list[dict]) -> dict[str, dict]:
    index = {}
    for schema in schemas:
        fn = schema.get("function", schema)
        index[fn["name"]] = fn.get("parameters") or {"type": "object", "properties": {}}
    return index


def _validate(call: ToolCall, spec: dict[str, dict]) -> ToolCall:
    if call.name not in spec:
        names = sorted(spec)
        close = difflib.get_close_matches(call.name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise _Fail(
            "unknown_tool",
            f"Unknown tool {call.name[:80]!r}.{hint} Available tools: {', '.join(names)}.",
        )
    params = spec[call.name]
    props: dict = params.get("properties", {})
    required = params.get("required", [])
    out: dict[str, Any] = {}
    for key, value in call.arguments.items():
        if key not in props:
            raise _Fail(
                "bad_arguments",
                f"{call.name} has no argument {str(key)[:80]!r}; its arguments are: "
                f"{', '.join(props) or 'none'}.",
            )
        out[key] = _check_value(call.name, key, value, props[key])
    missing = [key for key in required if key not in out]
    if missing:
        raise _Fail(
            "bad_arguments",
            f"{call.name} is missing the required argument(s): {', '.join(missing)}.",
        )
    return ToolCall(call.name, out)


_JSON_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}


def _types_of(prop: dict) -> list[str]:
    if "type" in prop:
        types = prop["type"]
        return [types] if isinstance(types, str) else list(types)
    types: list[str] = []
    for sub in prop.get("anyOf", []) + prop.get("oneOf", []):
        types.extend(_types_of(sub))
    return types


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _check_value(tool: str, key: str, value: Any, prop: dict) -> Any:
    types = _types_of(prop) or ["string"]
    if isinstance(value, _XmlValue):
        value = _convert_xml(str(value), types)
    ok = any(
        isinstance(value, _JSON_TYPES.get(t, object))
        and not (t in ("integer", "number") and isinstance(value, bool))
        for t in types
    )
    if not ok:
        shown = json.dumps(value)[:60] if not isinstance(value, str) else repr(value[:60])
        raise _Fail(
            "bad_arguments",
            f"{tool}: argument {key!r} must be {' or '.join(types)}, got {_json_type(value)} {shown}.",
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = prop.get("minimum"), prop.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            raise _Fail(
                "bad_arguments",
                f"{tool}: argument {key!r} must be between {low} and {high}, got {value}.",
            )
    if isinstance(value, str):
        if "enum" in prop and value not in prop["enum"]:
            raise _Fail(
                "bad_arguments",
                f"{tool}: argument {key!r} must be one of {prop['enum']}, got {value[:60]!r}.",
            )
        if len(value) < prop.get("minLength", 0):
            raise _Fail("bad_arguments", f"{tool}: argument {key!r} must not be empty.")
        if "maxLength" in prop and len(value) > prop["maxLength"]:
            raise _Fail(
                "bad_arguments",
                f"{tool}: argument {key!r} is longer than {prop['maxLength']} characters.",
            )
    return value


def _convert_xml(text: str, types: list[str]) -> Any:
    """Qwen3-Coder convention: parameter text converted to the schema's type when it parses."""
    stripped = text.strip()
    for t in types:
        if t == "string":
            return text
        if t == "integer" and re.fullmatch(r"[+-]?\d+", stripped):
            return int(stripped)
        if t == "number":
            try:
                return float(stripped) if not re.fullmatch(r"[+-]?\d+", stripped) else int(stripped)
            except ValueError:
                continue
        if t == "boolean" and stripped.lower() in ("true", "false"):
            return stripped.lower() == "true"
        if t in ("array", "object", "null"):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError:
                continue
    return text

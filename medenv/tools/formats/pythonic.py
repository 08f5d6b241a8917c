"""Pythonic calls (Llama 4, vLLM's ``pythonic`` / ``llama4_pythonic`` parsers):
``[get_weather(city="Paris"), other(x=1)]``, optionally wrapped in Llama 4's
``<|python_start|>...<|python_end|>``.

The whole reply must be one Python list of calls, or, wrapped in ``<|python_start|>``, the
wrapped part must be (the text around it is content, as SGLang reads it). Arguments are
keyword arguments whose values are JSON-like literals (strings, finite numbers, booleans,
None, lists, dicts); a value JSON cannot hold (``b'z'``, ``1e999``, a set) is an error.
"""

from __future__ import annotations

import ast
import math
import re

from medenv.tools.formats.base import Attempt, Failure, RawCall

_START = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
START, END = "<|python_start|>", "<|python_end|>"


def split(text: str, marks: dict[str, int]) -> tuple[str, str]:
    """``(the call list's text, the text around it)``: inside ``<|python_start|>`` (to
    ``<|python_end|>`` or the end) when the reply has it, else the whole reply."""
    start = marks.get(START, -1)
    if start == -1:
        return text.strip(), ""
    end = text.find(END, start)
    body = text[start + len(START) : end if end != -1 else len(text)]
    after = text[end + len(END) :] if end != -1 else ""
    return body.replace(START, "").replace(END, "").strip(), text[:start] + after


def detect(text: str, marks: dict[str, int]) -> bool:
    """``marks``: `first_marks` of ``text``."""
    body = split(text, marks)[0]
    return body.endswith("]") and _START.match(body) is not None


def attempts(text: str, marks: dict[str, int]) -> tuple[list[Attempt], str]:
    """The calls of a pythonic reply (``detect`` is true), or one failure saying why not;
    and the text around the call list."""
    body, rest = split(text, marks)
    try:
        tree = ast.parse(body, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = str(exc)[:100] or "it is nested too deeply"
        return [Failure("bad_json", f"The call list is not valid Python: {reason}.")], rest
    if not isinstance(tree, ast.List) or not all(isinstance(c, ast.Call) for c in tree.elts):
        return [Failure("bad_json", "Write calls as [tool(arg=value), ...].")], rest
    return [_call(call) for call in tree.elts], rest


def _call(call: ast.Call) -> Attempt:
    try:
        name = ast.unparse(call.func) if isinstance(call.func, ast.Name | ast.Attribute) else ""
    except RecursionError:  # a dotted name of hundreds of parts parses but cannot unparse
        return Failure("bad_json", "The tool name is nested too deeply.")
    if not name:
        return Failure("bad_json", "Write calls as [tool(arg=value), ...].")
    if call.args or any(kw.arg is None for kw in call.keywords):
        return Failure("bad_arguments", f"{name}: pass every argument by name, as arg=value.")
    arguments = {}
    for kw in call.keywords:
        try:
            value = ast.literal_eval(kw.value)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            return Failure("bad_arguments", f"{name}: argument {kw.arg!r} must be a literal value.")
        try:
            arguments[kw.arg] = _json_value(value)
        except (TypeError, RecursionError):
            return Failure(
                "bad_arguments",
                f"{name}: argument {kw.arg!r} must be a JSON value (a string, a finite number, "
                "True/False, None, a list or a dict with string keys).",
            )
    return RawCall(name, arguments)


def _json_value(value: object) -> object:
    """``value`` as JSON holds it (tuples become lists); ``TypeError`` if JSON cannot."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)

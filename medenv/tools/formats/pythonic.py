"""Pythonic calls (Llama 4, vLLM's ``pythonic`` / ``llama4_pythonic`` parsers):
``[get_weather(city="Paris"), other(x=1)]``, optionally wrapped in Llama 4's
``<|python_start|>...<|python_end|>``.

The whole reply must be one Python list of calls with keyword arguments whose values are
literals (strings, numbers, booleans, None, lists, dicts); anything else is not a call.
"""

from __future__ import annotations

import ast
import re

from medenv.tools.formats.base import Attempt, Failure, RawCall

_START = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")


def strip_tokens(text: str) -> str:
    return text.replace("<|python_start|>", "").replace("<|python_end|>", "").strip()


def detect(text: str, marks: dict[str, int]) -> bool:
    """``marks``: `first_marks` of ``text``."""
    body = strip_tokens(text) if "<|python_start|>" in marks else text.strip()
    return body.endswith("]") and _START.match(body) is not None


def attempts(text: str) -> list[Attempt]:
    """The calls of a pythonic reply (``detect`` is true), or one failure saying why not."""
    try:
        tree = ast.parse(strip_tokens(text), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = str(exc)[:100] or "it is nested too deeply"
        return [Failure("bad_json", f"The call list is not valid Python: {reason}.")]
    if not isinstance(tree, ast.List) or not all(isinstance(c, ast.Call) for c in tree.elts):
        return [Failure("bad_json", "Write calls as [tool(arg=value), ...].")]
    return [_call(call) for call in tree.elts]


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
        arguments[kw.arg] = list(value) if isinstance(value, tuple) else value
    return RawCall(name, arguments)

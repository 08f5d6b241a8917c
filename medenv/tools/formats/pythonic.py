"""Pythonic calls (Llama 4, vLLM's ``pythonic`` / ``llama4_pythonic`` parsers):
``[get_weather(city="Paris"), other(x=1)]``, optionally wrapped in Llama 4's
``<|python_start|>...<|python_end|>`` or LFM2's ``<|tool_call_start|>...<|tool_call_end|>``
(vLLM ``lfm2``: the text after the block is content too); and Olmo 3's (vLLM ``olmo3``): one call per line
inside ``<function_calls>...</function_calls>`` (unclosed: to the end; every block is read,
vLLM reads the first), no list brackets,
values may also be JSON's ``null``/``true``/``false`` (under ``tool_format="olmo3"`` a reply
without the tag that opens with ``NAME(`` is read whole, as vLLM reads it).

The whole reply must be one Python list of calls, or, wrapped in ``<|python_start|>``, the
wrapped part must be (the text around it is content, as SGLang reads it). Arguments are
keyword arguments whose values are JSON-like literals (strings, finite numbers, booleans,
None, lists, dicts); a value JSON cannot hold (``b'z'``, ``1e999``, a set) is an error.
"""

from __future__ import annotations

import ast
import math
import re

from medenv.tools.formats.base import Attempt, Failure, RawCall, blocks

_START = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
START, END = "<|python_start|>", "<|python_end|>"
LFM2, LFM2_END = "<|tool_call_start|>", "<|tool_call_end|>"
OLMO, OLMO_END = "<function_calls>", "</function_calls>"
_JSON_NAMES = {"null": None, "true": True, "false": False}
_BARE = re.compile(r"[A-Za-z_][\w.]*\s*\(")  # a reply opening with a call


def split(text: str, marks: dict[str, int]) -> tuple[str, str]:
    """``(the call list's text, the text around it)``: inside ``<|python_start|>`` (to
    ``<|python_end|>`` or the end) when the reply has it, or LFM2's ``<|tool_call_start|>``
    (to ``<|tool_call_end|>``), else the whole reply."""
    if START in marks:
        opener, closer = START, END
    elif LFM2 in marks:
        opener, closer = LFM2, LFM2_END
    else:
        return text.strip(), ""
    start = marks[opener]
    end = text.find(closer, start)
    body = text[start + len(opener) : end if end != -1 else len(text)]
    after = text[end + len(closer) :] if end != -1 else ""
    return body.replace(opener, "").replace(closer, "").strip(), text[:start] + after


def detect(text: str, marks: dict[str, int]) -> bool:
    """``marks``: `first_marks` of ``text``."""
    body = split(text, marks)[0]
    return body.endswith("]") and _START.match(body) is not None


def attempts(text: str, marks: dict[str, int]) -> tuple[list[Attempt], str]:
    """The calls of a pythonic reply (``detect`` is true), or one failure saying why not;
    and the text around the call list."""
    body, rest = split(text, marks)
    return _call_list(body), rest


def olmo3_attempts(text: str, marks: dict[str, int]) -> tuple[list[Attempt], str]:
    """The calls of an Olmo 3 reply, one per non-empty line of its ``<function_calls>``
    blocks (a reply without one: the whole reply), and the text around the blocks. The
    lines are read as one call list (vLLM's rule): one malformed line is one error."""
    if OLMO not in marks:
        if _BARE.match(text.lstrip()) is None:
            return [], text  # prose (or an <answer>): no call
        bodies, rest = [text], ""
    else:
        bodies, rest = blocks(text, OLMO, OLMO_END, marks[OLMO])
    lines = [line.strip() for body in bodies for line in body.splitlines() if line.strip()]
    if lines and OLMO_END.startswith(lines[-1]):
        lines.pop()  # generation stopped inside the closing tag
    if not lines:
        return [], rest
    return _call_list("[" + ", ".join(lines) + "]", json_names=True), rest


def _call_list(body: str, json_names: bool = False) -> list[Attempt]:
    try:
        tree = ast.parse(body, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = str(exc)[:100] or "it is nested too deeply"
        return [Failure("bad_json", f"The call list is not valid Python: {reason}.")]
    if not isinstance(tree, ast.List) or not all(isinstance(c, ast.Call) for c in tree.elts):
        return [Failure("bad_json", "Write calls as [tool(arg=value), ...].")]
    return [_call(call, json_names) for call in tree.elts]


class _JsonNames(ast.NodeTransformer):
    """``null``/``true``/``false`` as the constants JSON means by them (Olmo 3)."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _JSON_NAMES:
            return ast.copy_location(ast.Constant(_JSON_NAMES[node.id]), node)
        return node


def _call(call: ast.Call, json_names: bool = False) -> Attempt:
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
            value = ast.literal_eval(_JsonNames().visit(kw.value) if json_names else kw.value)
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

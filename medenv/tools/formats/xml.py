"""Qwen3-Coder / Qwen3.5 XML calls and GLM-4.5 ``<arg_key>/<arg_value>`` calls.

Qwen3-Coder (vLLM ``qwen3_coder``): ``<function=NAME><parameter=P>value</parameter></function>``,
usually inside ``<tool_call>``; one value's leading and trailing newline are dropped. A value
whose ``</parameter>`` is missing ends where the next ``<parameter=KEY>`` or ``</function>``
begins, or at the end of the text (generation stopped), as vLLM's parser reads it.

Seed-OSS (vLLM ``seed_oss``): the same ``<function=...>`` calls inside ``<seed:tool_call>``
(reasoning in ``<seed:think>``, `medenv.tools.formats.reasoning`); a block without a
``<function=`` is an error.

GLM-4.5 (vLLM ``glm45``): ``<tool_call>NAME\\n<arg_key>K</arg_key>\\n<arg_value>V</arg_value>
</tool_call>``; values are kept as written (vLLM keeps a string's spaces; other types are
read from the stripped text). Both families' values are raw text, converted by the schema's
declared type during validation (`RawCall.text_args`).
"""

from __future__ import annotations

import re

from medenv.tools.formats.base import MAX_CALLS, TOO_MANY, Attempt, Failure, RawCall, blocks

_PARAM = "<parameter="
_NEXT_PARAM = re.compile(r"<parameter=[^<>\n]+>")  # a well-formed opening tag, not a quote


def qwen3_coder_attempts(text: str) -> tuple[list[Attempt], str]:
    """Every ``<function=...>`` call in ``text`` (bodies may be unclosed) and the rest."""
    bodies, rest = blocks(text, "<function=", "</function>")
    return [function_attempt(body) for body in bodies], rest


SEED, SEED_END = "<seed:tool_call>", "</seed:tool_call>"


def seed_attempts(text: str, first: int | None = None) -> tuple[list[Attempt], str]:
    """Every ``<function=...>`` call of every ``<seed:tool_call>`` block (the last may be
    unclosed) and the text outside the blocks; ``first``: where the first block opens."""
    bodies, rest = blocks(text, SEED, SEED_END, first)
    found: list[Attempt] = []
    for body in bodies:
        inner = body.split("<function=", MAX_CALLS + 1)
        if len(inner) == 1:
            found.append(Failure("bad_json", "A <seed:tool_call> block needs <function=NAME>."))
        found.extend(function_attempt(b.partition("</function>")[0]) for b in inner[1:])
        if len(found) > MAX_CALLS:
            return [*found[:MAX_CALLS], TOO_MANY], rest
    return found, rest


def function_attempt(body: str) -> Attempt:
    """``body`` follows ``<function=``: ``NAME>`` then parameters."""
    head, sep, params = body.partition(">")
    name = head.strip()
    if not sep or not name or "\n" in name or "<" in name:
        return Failure("bad_json", "Malformed <function=NAME> tag.")
    arguments: dict[str, str] = {}
    pos = 0
    ends = _Ends(params)
    while True:
        start = params.find(_PARAM, pos)
        if start == -1:
            break
        key_end = params.find(">", start)
        if key_end == -1:
            return Failure("bad_json", f"Malformed <parameter=...> tag in {name}.")
        key = params[start + len(_PARAM) : key_end].strip()
        end, close = ends.value_end(key_end + 1)
        value = params[key_end + 1 : end]
        if value.startswith("\n"):
            value = value[1:]
        if value.endswith("\n"):
            value = value[:-1]
        arguments[key] = value
        pos = end + close
    return RawCall(name, arguments, text_args=True)


class _Ends:
    """Where each value of ``params`` ends. The next ``</parameter>`` and ``</function>`` are
    searched again only once a value starts past them (a missing one stays missing), so a
    call with thousands of unclosed parameters is read in one pass."""

    def __init__(self, params: str):
        self.params = params
        self.close = params.find("</parameter>")
        self.function_end = params.find("</function>")

    def value_end(self, start: int) -> tuple[int, int]:
        """``(end of the value at start, length of its closing tag)``: ``</parameter>``, or,
        when that is missing before them, the next ``<parameter=KEY>`` or ``</function>``
        (length 0), or the end of the text."""
        params = self.params
        if -1 < self.close < start:
            self.close = params.find("</parameter>", start)
        limit = self.close if self.close != -1 else len(params)
        quoted = params.find(_PARAM, start, limit)  # a C search first: the regex rarely runs
        following = _NEXT_PARAM.search(params, quoted, limit) if quoted != -1 else None
        if following is not None:
            return following.start(), 0
        if self.close != -1:
            return self.close, len("</parameter>")
        if -1 < self.function_end < start:
            self.function_end = params.find("</function>", start)
        return (self.function_end if self.function_end != -1 else len(params)), 0


def is_glm_body(body: str) -> bool:
    """A ``<tool_call>`` body in GLM-4.5 form: a bare name, then ``<arg_key>`` pairs."""
    if "<arg_key>" in body:
        return True
    name = body.strip()
    return bool(name) and name.replace("_", "a").replace("-", "a").replace(".", "a").isalnum()


def glm_attempt(body: str) -> Attempt:
    """One GLM-4.5 call from the text between ``<tool_call>`` and ``</tool_call>``."""
    first = body.find("<arg_key>")
    name = (body if first == -1 else body[:first]).strip()
    if not name or "\n" in name or "<" in name:
        return Failure("bad_json", "Malformed GLM call: put the tool name right after <tool_call>.")
    arguments: dict[str, str] = {}
    pos = 0 if first == -1 else first
    while first != -1:
        start = body.find("<arg_key>", pos)
        if start == -1:
            break
        key_end = body.find("</arg_key>", start)
        value_start = body.find("<arg_value>", key_end) if key_end != -1 else -1
        if value_start == -1 or body[key_end + len("</arg_key>") : value_start].strip():
            return Failure("bad_json", f"In {name}, each <arg_key> needs its <arg_value> after it.")
        value_end = body.find("</arg_value>", value_start)
        if value_end == -1:
            value_end = len(body)  # truncated at the end: take the rest
        key = body[start + len("<arg_key>") : key_end].strip()
        arguments[key] = body[value_start + len("<arg_value>") : value_end]
        pos = value_end + len("</arg_value>")
    return RawCall(name, arguments, text_args=True)

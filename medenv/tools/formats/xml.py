"""Qwen3-Coder / Qwen3.5 XML calls and GLM-4.5 ``<arg_key>/<arg_value>`` calls.

Qwen3-Coder (vLLM ``qwen3_coder``): ``<function=NAME><parameter=P>value</parameter></function>``,
usually inside ``<tool_call>``; one value's leading and trailing newline are dropped; a value
left open at the end of the text (generation stopped) runs to the end.

GLM-4.5 (vLLM ``glm45``): ``<tool_call>NAME\\n<arg_key>K</arg_key>\\n<arg_value>V</arg_value>
</tool_call>``; values are stripped. Both families' values are raw text, converted by the
schema's declared type during validation (`RawCall.text_args`).
"""

from __future__ import annotations

from medenv.tools.formats.base import Attempt, Failure, RawCall, blocks

_PARAM = "<parameter="


def qwen3_coder_attempts(text: str) -> tuple[list[Attempt], str]:
    """Every ``<function=...>`` call in ``text`` (bodies may be unclosed) and the rest."""
    bodies, rest = blocks(text, "<function=", "</function>")
    return [function_attempt(body) for body in bodies], rest


def function_attempt(body: str) -> Attempt:
    """``body`` follows ``<function=``: ``NAME>`` then parameters."""
    head, sep, params = body.partition(">")
    name = head.strip()
    if not sep or not name or "\n" in name or "<" in name:
        return Failure("bad_json", "Malformed <function=NAME> tag.")
    arguments: dict[str, str] = {}
    pos = 0
    while True:
        start = params.find(_PARAM, pos)
        if start == -1:
            break
        key_end = params.find(">", start)
        if key_end == -1:
            return Failure("bad_json", f"Malformed <parameter=...> tag in {name}.")
        key = params[start + len(_PARAM) : key_end].strip()
        end = params.find("</parameter>", key_end)
        if end == -1:
            if params.find(_PARAM, key_end) != -1:
                return Failure("bad_json", f"Unclosed <parameter={key[:40]}> in {name}.")
            end = len(params)  # truncated at the end: take the rest
        value = params[key_end + 1 : end]
        if value.startswith("\n"):
            value = value[1:]
        if value.endswith("\n"):
            value = value[:-1]
        arguments[key] = value
        pos = end + len("</parameter>")
    return RawCall(name, arguments, text_args=True)


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
        arguments[key] = body[value_start + len("<arg_value>") : value_end].strip()
        pos = value_end + len("</arg_value>")
    return RawCall(name, arguments, text_args=True)

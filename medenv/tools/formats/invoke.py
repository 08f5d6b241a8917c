"""``<invoke name=...><parameter name=...>`` calls: DeepSeek-V3.2/V4 DSML and MiniMax-M2.

- DeepSeek-V3.2 / V4 (vLLM ``deepseek_v32`` / ``deepseek_v4``): ``<｜DSML｜function_calls>``
  (V4: ``<｜DSML｜tool_calls>``) holds ``<｜DSML｜invoke name="NAME">`` blocks, each with
  ``<｜DSML｜parameter name="P" string="true|false">value</｜DSML｜parameter>``; values are
  kept as written. ``string="false"`` marks a JSON value: converted by the schema's type like
  every XML-like value, and read as JSON where the schema declares no type (vLLM's rule).
- MiniMax-M2 (vLLM ``minimax_m2``, SGLang ``MinimaxM2Detector``): ``<minimax:tool_call>``
  holds ``<invoke name="NAME">`` blocks with ``<parameter name="P">value</parameter>``;
  values are stripped (vLLM strips them); a name may be quoted with ``"`` or ``'`` or bare.

Rules shared by both: a block opens at the family's wrapper tag and ends at its closing tag
(or, cut off, at the end of the text); each ``invoke`` ends at its closing tag, the next
``invoke`` or the block's end; a value ends at the *last* closing ``parameter`` tag before the
next parameter or the end of its ``invoke`` (a value holding a literal ``</parameter>`` keeps
it, as SGLang's test asks), else there (cut off). Values are raw text, typed by the schema
(`RawCall.text_args`). A wrapper with no ``invoke`` inside is no call (as vLLM reads it).
Every search is a ``str.find``/``rfind`` over a part not searched before: linear.
"""

from __future__ import annotations

from medenv.tools.formats.base import MAX_CALLS, TOO_MANY, Attempt, Failure, RawCall

DSML_FUNCTION_CALLS = "<｜DSML｜function_calls>"  # V3.2
DSML_TOOL_CALLS = "<｜DSML｜tool_calls>"  # V4
MINIMAX = "<minimax:tool_call>"
OPENERS = (DSML_FUNCTION_CALLS, DSML_TOOL_CALLS, MINIMAX)


class JsonText(str):
    """A raw value its family marks as JSON (DSML ``string="false"``): read as JSON when the
    schema declares no type for it (`medenv.tools.formats.validate`)."""

    __slots__ = ()


class _Family:
    def __init__(self, prefix: str, strip: bool, label: str):
        self.invoke, self.invoke_end = f"<{prefix}invoke name=", f"</{prefix}invoke>"
        self.param, self.param_end = f"<{prefix}parameter name=", f"</{prefix}parameter>"
        self.strip, self.label = strip, label


_DSML = _Family("｜DSML｜", strip=False, label="DSML")
_MINIMAX = _Family("", strip=True, label="MiniMax")


def dsml_attempts(text: str, marks: dict[str, int]) -> tuple[list[Attempt], str]:
    """Every DSML call in ``text`` (under the wrapper that opens first) and the rest;
    ``marks``: `medenv.tools.formats.marks.first_marks` of ``text``."""
    v32, v4 = marks.get(DSML_FUNCTION_CALLS, -1), marks.get(DSML_TOOL_CALLS, -1)
    opener = DSML_TOOL_CALLS if v32 == -1 or -1 < v4 < v32 else DSML_FUNCTION_CALLS
    return _attempts(text, opener, "</" + opener[1:], _DSML, marks.get(opener, -1))


def minimax_attempts(text: str, marks: dict[str, int]) -> tuple[list[Attempt], str]:
    """Every MiniMax-M2 call in ``text`` and the rest (``marks`` as for `dsml_attempts`)."""
    return _attempts(text, MINIMAX, "</minimax:tool_call>", _MINIMAX, marks.get(MINIMAX, -1))


def _attempts(
    text: str, opener: str, closer: str, family: _Family, first: int
) -> tuple[list[Attempt], str]:
    """The calls of every ``opener`` block, the first at ``first``."""
    found: list[Attempt] = []
    rest: list[str] = []
    pos, start = 0, first
    while True:
        if start == -1:
            rest.append(text[pos:])
            break
        rest.append(text[pos:start])
        end = text.find(closer, start + len(opener))
        stop = len(text) if end == -1 else end
        found.extend(_invokes(text[start + len(opener) : stop], family, MAX_CALLS - len(found)))
        if len(found) > MAX_CALLS or end == -1:
            break
        pos = end + len(closer)
        start = text.find(opener, pos)
    return found, "".join(rest)


def _invokes(block: str, family: _Family, room: int) -> list[Attempt]:
    """The calls of one wrapper block (at most ``room``, then `TOO_MANY`)."""
    found: list[Attempt] = []
    start = block.find(family.invoke)
    while start != -1:
        if len(found) >= room:
            return [*found, TOO_MANY]
        body_start = start + len(family.invoke)
        following = block.find(family.invoke, body_start)
        limit = len(block) if following == -1 else following
        close = block.find(family.invoke_end, body_start, limit)
        found.append(_invoke(block[body_start : limit if close == -1 else close], family))
        start = following
    return found


def _invoke(body: str, family: _Family) -> Attempt:
    """One call from the text after ``<invoke name=``: ``"NAME">`` then its parameters."""
    head, sep, params = body.partition(">")
    name = _quoted(head)
    if not sep or not name or "<" in head:
        return Failure("bad_json", f'Malformed {family.label} call: write {family.invoke}"TOOL">.')
    arguments: dict[str, str] = {}
    start = params.find(family.param)
    while start != -1:
        head_end = params.find(">", start)
        following = params.find(family.param, start + len(family.param))
        limit = len(params) if following == -1 else following
        key = _quoted(params[start + len(family.param) : max(head_end, start)])
        if head_end == -1 or head_end > limit or not key:
            return Failure(
                "bad_json", f'Malformed {family.label} parameter in {name}: {family.param}"ARG">.'
            )
        close = params.rfind(family.param_end, head_end + 1, limit)
        value = params[head_end + 1 : limit if close == -1 else close]
        if family.strip:
            value = value.strip()
        elif _attribute(params[start + len(family.param) : head_end], "string") == "false":
            value = JsonText(value)
        arguments[key] = value
        start = following
    return RawCall(name, arguments, text_args=True)


def _quoted(head: str) -> str | None:
    """The value a tag's head starts with: ``"..."``, ``'...'`` or bare up to a space."""
    head = head.lstrip()
    if head[:1] in ('"', "'"):
        end = head.find(head[0], 1)
        return (head[1:end].strip() or None) if end != -1 else None
    return head.split(None, 1)[0] if head.strip() else None


def _attribute(head: str, key: str) -> str | None:
    """The value of `` key=`` in a tag's head (after a space), or ``None``."""
    at = head.find(" " + key + "=")
    return None if at == -1 else _quoted(head[at + len(key) + 2 :])

"""Event payloads to and from JSON: `encode_payload` (never raises for a declared type:
text that UTF-8 cannot hold and values JSON cannot are made encodable by `clean`) and
`decode_payload` (a stored payload back to its Struct, or `UnknownPayload`)."""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from medenv.errors import MedenvError, is_utf8_text
from medenv.events.schema import EVENT_TYPES, SCHEMA_VERSION, Payload, UnknownPayload

_DECODERS = {name: msgspec.json.Decoder(cls) for name, cls in EVENT_TYPES.items()}
_ENCODER = msgspec.json.Encoder()

MAX_DEPTH = 64  # deeper values are logged as a marker string


def utf8_safe(text: str) -> str:
    """``text`` with every lone UTF-16 surrogate (which UTF-8, and so the event log, cannot
    hold) replaced by U+FFFD; surrogate pairs are joined. Other text is returned as is."""
    if text.isascii() or is_utf8_text(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clean(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-encodable builtins, by the log's one rule: strings through
    `utf8_safe`, dict keys as strings, tuples/sets as lists, Structs as dicts, other
    objects as their ``repr``; integers too long to print and anything nested deeper than
    `MAX_DEPTH` become marker strings."""
    if isinstance(value, str):
        return utf8_safe(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 12_000:
        return f"[integer of {value.bit_length()} bits]"  # over Python's 4,300-digit limit
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DEPTH:
        return f"[nested deeper than {MAX_DEPTH} levels]"
    if isinstance(value, msgspec.Struct):
        value = {f: getattr(value, f) for f in value.__struct_fields__}
    if isinstance(value, dict):
        return {utf8_safe(str(k)): clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean(v, depth + 1) for v in value]
    try:
        return utf8_safe(repr(value))
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break logging
        return f"<unprintable {type(value).__name__}>"


def encode_payload(payload: Payload) -> bytes:
    """The payload's JSON. Never raises for a Struct: a payload msgspec cannot encode as
    it is (lone surrogates, deep nesting, foreign objects) is encoded through `clean`."""
    try:
        return _ENCODER.encode(payload)
    except (UnicodeEncodeError, TypeError, ValueError, OverflowError, RecursionError):
        return _ENCODER.encode(clean(payload))


_GENERIC = msgspec.json.Decoder(dict[str, Any])


def decode_nested(decoder: msgspec.json.Decoder, data: bytes | str) -> Any:
    """``decoder.decode(data)``, also for JSON nested as deep as msgspec's encoder went.

    msgspec counts nesting against the interpreter's recursion limit, when it encodes and
    when it decodes, so a payload a writer encoded just under the limit (deep ``tags`` or
    ``arguments``) fails to decode one level deeper in its spool line, or from a reader
    already deeper in its own stack. Such data is decoded again with the limit raised by
    its bracket count (a bound on its depth); other errors are the decoder's."""
    try:
        return decoder.decode(data)
    except RecursionError:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + raw.count(b"[") + raw.count(b"{") + 64)
        try:
            return decoder.decode(data)
        finally:
            sys.setrecursionlimit(limit)


def decode_payload(type_name: str, payload: str | bytes) -> Payload:
    """Decode a stored payload.

    A declared type gives its Struct (a newer schema version of it, or a payload that does
    not fit it, raises MedenvError). An undeclared type gives `UnknownPayload` (``type`` and
    the JSON object as ``data``), so readers of a store holding other event types keep
    working; a payload that is not a JSON object raises MedenvError.
    """
    decoder = _DECODERS.get(type_name)
    if decoder is None:
        try:
            data = decode_nested(_GENERIC, payload)
        except msgspec.DecodeError as exc:
            raise MedenvError(f"bad {type_name} payload: {exc}") from None
        v = data.get("v")
        return UnknownPayload(
            type=type_name, data=data, v=v if isinstance(v, int) else SCHEMA_VERSION
        )
    try:
        value = decode_nested(decoder, payload)
    except msgspec.DecodeError as exc:
        raise MedenvError(f"bad {type_name} payload: {exc}") from None
    if value.v > SCHEMA_VERSION:
        raise MedenvError(
            f"{type_name} event has schema version {value.v}; this medenv reads up to "
            f"{SCHEMA_VERSION} (upgrade medenv)"
        )
    return value

"""The step path's encoding of a step's events: their raw spool lines, in as few Python
operations as possible (`encode_staged`, what `medenv.events.store.EventStore` calls at
``commit``).

A raw line is `medenv.events.spool.encode_line` of the event with its payload as
`encode_payload` gives it: no token count, no hash (those are added when the line becomes
a row: `medenv.events.sealer`). What is faster here: the parts that depend only on the
chain (run and episode ids) or on the event type are encoded once (`line_key`,
`EVENT_KINDS`).
"""

from __future__ import annotations

import msgspec

from medenv.events.codec import encode_payload
from medenv.events.schema import EVENT_TYPES

_ENC = msgspec.json.Encoder()
# event class -> (type name, its spool-line bytes)
EVENT_KINDS: dict[type, tuple[str, bytes]] = {
    cls: (name, _ENC.encode(name) + b",") for name, cls in EVENT_TYPES.items()
}


def line_key(run_id: str, episode_id: str | None) -> bytes:
    """The constant start of a chain's spool lines: ``[run_id,episode_id,``."""
    return _ENC.encode((run_id, episode_id))[:-1] + b","


# what msgspec may raise for a payload `encode_payload` then encodes through `clean`
_UNENCODABLE = (UnicodeEncodeError, TypeError, ValueError, OverflowError, RecursionError)


def payload_start(key: bytes, seq: int, ts_us: int, kind: tuple) -> int:
    """Where the payload begins in the spool line `encode_staged` writes for an event
    (``key``: its chain's `line_key`); it ends 2 bytes before the line does (``]\\n``)."""
    return len(key) + len(b"%d,%d," % (seq, ts_us)) + len(kind[1])


def encode_staged(staged: list[tuple], keys: dict, run_id: str) -> list[bytes]:
    """A step's events, ``staged`` as ``(episode_id, seq, ts_us, kind, payload)`` (``kind``
    = ``EVENT_KINDS[type(payload)]``), as raw spool lines (module docstring); ``keys``
    (chain -> `line_key`) is a cache filled as needed. Raises what `encode_payload` raises
    (nothing for declared types' usual values) before anything is returned."""
    lines: list[bytes] = []
    for episode_id, seq, ts_us, kind, payload in staged:
        key = keys.get(episode_id)
        if key is None:
            key = keys[episode_id] = line_key(run_id, episode_id)
        try:
            body = _ENC.encode(payload)
        except _UNENCODABLE:
            body = encode_payload(payload)
        lines.append(b"%b%d,%d,%b%b]\n" % (key, seq, ts_us, kind[1], body))
    return lines

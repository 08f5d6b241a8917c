"""The step path's encoding of a step's events: their raw spool lines, in one C call
(`encode_staged`, what `medenv.events.store.EventStore` calls at ``commit``).

A raw line is `medenv.events.spool.encode_line` of the event with its payload as
`encode_payload` gives it: no token count, no hash (those are added when the line becomes
a row: `medenv.events.sealer`). The writer stages each event as the tuple the line is the
JSON of, ``(run_id, episode_id, seq, ts_us, type, payload)``, so that msgspec's
``encode_lines`` writes every line of a step at once; a payload msgspec refuses (text no
UTF-8 can hold, an integer too large) takes `encode_payload`'s cleaning, line by line.
"""

from __future__ import annotations

import msgspec

from medenv.events.codec import encode_payload
from medenv.events.logged_step import event_rows
from medenv.events.schema import TYPE_NAMES

_ENC = msgspec.json.Encoder()
EVENT_KINDS = TYPE_NAMES  # event class -> its type name


def line_key(run_id: str, episode_id: str | None) -> bytes:
    """The constant start of a chain's spool lines: ``[run_id,episode_id,``."""
    return _ENC.encode((run_id, episode_id))[:-1] + b","


# what msgspec may raise for a payload `encode_payload` then encodes through `clean`
_UNENCODABLE = (UnicodeEncodeError, TypeError, ValueError, OverflowError, RecursionError)


def payload_start(key: bytes, seq: int, ts_us: int, type_: str) -> int:
    """Where the payload begins in the spool line `encode_staged` writes for an event
    (``key``: its chain's `line_key`); it ends 2 bytes before the line does (``]\\n``)."""
    return len(key) + len(b"%d,%d," % (seq, ts_us)) + len(_ENC.encode(type_)) + 1


def encode_staged(staged: list[tuple]) -> bytes:
    """A step's events, ``staged`` as ``(run_id, episode_id, seq, ts_us, type, payload)``
    (ids already checked as UTF-8 text, ``type`` = ``EVENT_KINDS[type(payload)]``, or
    a whole step: type ``"step"``, a `medenv.events.logged_step.LoggedStep`), as raw
    spool lines, joined (module docstring). Where msgspec refuses a value, every row is
    written event by event (a step's events each on its line) through `encode_payload`'s
    cleaning. Raises what `encode_payload` raises (nothing for declared types' usual
    values) before anything is returned."""
    try:
        return _ENC.encode_lines(staged)
    except _UNENCODABLE:
        return b"".join(
            _ENC.encode((*row[:5], msgspec.Raw(encode_payload(row[5])))) + b"\n"
            for staged_row in staged
            for row in event_rows(staged_row)
        )

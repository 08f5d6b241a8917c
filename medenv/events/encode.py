"""The step path's encoding of one event: its stored payload (token count and chain hash
included) and its spool line, in as few Python operations as possible.

The bytes are exactly those of the definitions elsewhere: the payload is `encode_payload`
of the payload with ``tokens`` filled in (`medenv.events.tokens`), sealed with the hash of
`medenv.events.chain.link` (`chain.seal`), and the line is `medenv.events.spool.encode_line`
of the event. What is faster here: the parts that depend only on the chain (run and
episode ids) or on the event type are encoded once (`chain_keys`, `EVENT_KINDS`); the token
count is spliced into the encoded payload instead of re-building the Struct; the hash is
one ``blake2b`` call over the concatenated input; repeated texts (a GRPO group's cached
tool observations, the same objects again) are counted once
(`medenv.events.tokens.token_count`).

`seal_staged` does a whole step's events in one loop (what `medenv.events.store.EventStore`
calls at ``commit``): the same bytes as `body_and_tokens` then `seal_event` per event, in
order, each event chained to the one before it in its chain.
"""

from __future__ import annotations

from binascii import hexlify
from hashlib import blake2b

import msgspec

from medenv.events.chain import ZERO
from medenv.events.codec import encode_payload
from medenv.events.schema import EVENT_TYPES, Payload
from medenv.events.tokens import TOKEN_FIELDS, token_count

_ENC = msgspec.json.Encoder()
_replace = msgspec.structs.replace
_NULL_TOKENS = b',"tokens":null}'
# event class -> (type name, its hash-input bytes, its spool-line bytes, its text field)
EVENT_KINDS: dict[type, tuple[str, bytes, bytes, str | None]] = {
    cls: (name, f"{name}\x1f".encode(), _ENC.encode(name) + b",", TOKEN_FIELDS.get(cls))
    for name, cls in EVENT_TYPES.items()
}


def chain_keys(run_id: str, episode_id: str | None) -> tuple[bytes, bytes]:
    """The constant parts of a chain's events: ``(hash-input prefix, spool-line prefix)``."""
    hkey = f"{run_id}\x1f{episode_id or ''}\x1f".encode("utf-8", "surrogatepass")
    return hkey, _ENC.encode((run_id, episode_id))[:-1] + b","


def event_type(payload: Payload) -> tuple[str, bytes, bytes, str | None] | None:
    """``(name, hash bytes, line bytes, text field)`` of a declared payload's type, or None."""
    return EVENT_KINDS.get(type(payload))


def body_and_tokens(payload: Payload, text_field: str | None) -> tuple[bytes, int | None]:
    """The payload's JSON with ``tokens`` filled in (types with a text field), and that
    count (None for other types)."""
    if text_field is None:
        return encode_payload(payload), None
    tokens = payload.tokens
    if tokens is not None:
        return encode_payload(payload), tokens
    tokens = token_count(getattr(payload, text_field))
    body = encode_payload(payload)
    if body.endswith(_NULL_TOKENS):  # ``tokens`` is the last field of every such type
        return b"%b%d}" % (body[:-5], tokens), tokens
    return encode_payload(msgspec.structs.replace(payload, tokens=tokens)), tokens


def seal_event(
    prev: bytes, keys: tuple[bytes, bytes], seq: int, ts_us: int, kind: tuple, body: bytes
) -> tuple[bytes, bytes, int]:
    """``(hash, spool line, where the sealed payload starts in it)`` of one event (module
    docstring); the sealed payload is ``line[start:-2]``."""
    hkey, lkey = keys
    h = blake2b(
        b"%b%b%d\x1f%d\x1f%b%b" % (prev, hkey, seq, ts_us, kind[1], body), digest_size=16
    ).digest()
    head = b"%b%d,%d,%b" % (lkey, seq, ts_us, kind[2])
    line = b"".join((head, memoryview(body)[:-1], b',"h":"', hexlify(h), b'"}]\n'))
    return h, line, len(head)


# what msgspec may raise for a payload `encode_payload` then encodes through `clean`
_UNENCODABLE = (UnicodeEncodeError, TypeError, ValueError, OverflowError, RecursionError)


def seal_staged(
    staged: list[tuple], heads: dict, keys: dict, run_id: str
) -> tuple[list[bytes], list[int | None]]:
    """A step's events, ``staged`` as ``(episode_id, seq, ts_us, kind, payload)`` (``kind``
    from `event_type`), encoded, counted and chained in order: ``(spool lines, token
    counts)``, each exactly what `body_and_tokens` and `seal_event` give. ``heads`` (chain
    -> last hash) is advanced only once every event is done (an error leaves it as it
    was); ``keys`` (chain -> `chain_keys`) is a cache filled as needed.

    Few copies of the payload: the count goes into the Struct before encoding (one JSON
    buffer, no splice), the hash reads the payload in place, and the line is the one
    copy."""
    lines: list[bytes] = []
    counts: list[int | None] = []
    new: dict = {}  # chain -> its head after the events so far
    for episode_id, seq, ts_us, kind, payload in staged:
        prev = new.get(episode_id)
        if prev is None:
            prev = heads.get(episode_id, ZERO)
        ck = keys.get(episode_id)
        if ck is None:
            ck = keys[episode_id] = chain_keys(run_id, episode_id)
        tokens = None
        field = kind[3]
        if field is not None:
            tokens = payload.tokens
            if tokens is None:
                tokens = token_count(getattr(payload, field))
                payload = _replace(payload, tokens=tokens)
        try:
            body = _ENC.encode(payload)
        except _UNENCODABLE:
            body = encode_payload(payload)
        h = blake2b(b"%b%b%d\x1f%d\x1f%b" % (prev, ck[0], seq, ts_us, kind[1]), digest_size=16)
        h.update(body)
        h = h.digest()
        new[episode_id] = h
        lines.append(
            b'%b%d,%d,%b%b,"h":"%b"}]\n'
            % (ck[1], seq, ts_us, kind[2], memoryview(body)[:-1], hexlify(h))
        )
        counts.append(tokens)
    heads.update(new)
    return lines, counts

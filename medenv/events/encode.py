"""The step path's encoding of a step's events: their stored payloads (token count and
chain hash included) and their spool lines, in as few Python operations as possible
(`seal_staged`, what `medenv.events.store.EventStore` calls at ``commit``).

The bytes are exactly those of the definitions elsewhere: the payload is `encode_payload`
of the payload with ``tokens`` filled in (`medenv.events.tokens.with_tokens`), sealed with
the hash of `medenv.events.chain.link` (`chain.seal`), and the line is
`medenv.events.spool.encode_line` of the event, each event chained to the one before it in
its chain (tests/test_event_encode.py derives them from those definitions). What is faster
here: the parts that depend only on the chain (run and episode ids) or on the event type
are encoded once (`chain_keys`, `EVENT_KINDS`); the hash is one ``blake2b`` call fed the
payload in place; repeated texts (a GRPO group's cached tool observations, the same
objects again) are counted once (`medenv.events.tokens.token_count`).
"""

from __future__ import annotations

from binascii import hexlify
from hashlib import blake2b

import msgspec

from medenv.events.chain import ZERO
from medenv.events.codec import encode_payload
from medenv.events.schema import EVENT_TYPES
from medenv.events.tokens import TOKEN_FIELDS, token_count

_ENC = msgspec.json.Encoder()
_replace = msgspec.structs.replace
# event class -> (type name, its hash-input bytes, its spool-line bytes, its text field)
EVENT_KINDS: dict[type, tuple[str, bytes, bytes, str | None]] = {
    cls: (name, f"{name}\x1f".encode(), _ENC.encode(name) + b",", TOKEN_FIELDS.get(cls))
    for name, cls in EVENT_TYPES.items()
}


def chain_keys(run_id: str, episode_id: str | None) -> tuple[bytes, bytes]:
    """The constant parts of a chain's events: ``(hash-input prefix, spool-line prefix)``."""
    hkey = f"{run_id}\x1f{episode_id or ''}\x1f".encode("utf-8", "surrogatepass")
    return hkey, _ENC.encode((run_id, episode_id))[:-1] + b","


# what msgspec may raise for a payload `encode_payload` then encodes through `clean`
_UNENCODABLE = (UnicodeEncodeError, TypeError, ValueError, OverflowError, RecursionError)


def payload_start(line_key: bytes, seq: int, ts_us: int, kind: tuple) -> int:
    """Where the sealed payload begins in the spool line `seal_staged` writes for an event
    (``line_key``: the second of its chain's `chain_keys`); it ends 2 bytes before the
    line does (``]\n``)."""
    return len(line_key) + len(b"%d,%d," % (seq, ts_us)) + len(kind[2])


def seal_staged(
    staged: list[tuple], heads: dict, keys: dict, run_id: str
) -> tuple[list[bytes], list[int | None]]:
    """A step's events, ``staged`` as ``(episode_id, seq, ts_us, kind, payload)`` (``kind``
    = ``EVENT_KINDS[type(payload)]``), encoded, counted and chained in order: ``(spool lines, token
    counts)``, each as the definitions give it (module docstring). ``heads`` (chain
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

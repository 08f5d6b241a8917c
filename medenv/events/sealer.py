"""Sealing: what turns the writer's raw event lines into the stored rows.

The writer (`medenv.events.store.EventStore`) spools each event as a raw line
``[run_id, episode_id, seq, ts_us, type, payload]``, the payload as `encode_payload` gives
it (``tokens`` still null), or a whole env step as one line that
`medenv.events.spool.read_spool` expands into such event rows
(`medenv.events.logged_step`). Whoever turns spool lines into rows seals them with a `Sealer`,
event by event in spool order: the ingest process (`medenv.events.ingest_child`), the next
writer's recovery of a killed writer's spool (`medenv.events.ingest.recover`), readers of
leftovers (`medenv.events.reader.connect`), and the writer itself at commit when it ingests
on a thread (``ingest="thread"``, durability ``"none"``). Sealing an event:

- ``tokens`` (`medenv.events.tokens.TOKEN_FIELDS` types, when null): `count_tokens` of its
  text, spliced in where the null was (``tokens`` is those types' last field, so the bytes
  are those of `encode_payload` of the payload with ``tokens`` set);
- ``episode_sealed`` placeholders (``hash`` empty: written by the writer at an episode's
  end, with its ``seq``, time and event count) are completed from the episode's chain: its
  last hash, token sums (all counted texts; ``action_received`` alone) and summary
  (`medenv.events.seal_summary.SummaryFold`);
- every event gets ``"h"``, its hash in its chain (`medenv.events.chain`).

The result is a pure function of each chain's events in order, so a `Sealer` keeps each
open chain's state (head, next seq, token sums, fold) across calls. A chain met at a
``seq`` other than 0 or the one it expects is rebuilt from the rows already stored
(``stored``: a `StoredChains`), which is how an episode straddling segments, a restarted
ingest process or a recovery continue exactly. A line that is already sealed (a spool
written before raw lines) is kept as it is and read into its chain's state.
"""

from __future__ import annotations

from binascii import hexlify
from hashlib import blake2b
from typing import Any

import msgspec

from medenv.events.chain import ZERO, chain_key
from medenv.events.codec import decode_nested, encode_payload
from medenv.events.schema import EVENT_TYPES, EpisodeSealed
from medenv.events.seal_summary import SummaryFold
from medenv.events.tokens import TOKEN_FIELDS, count_tokens, token_count

_ENC = msgspec.json.Encoder()
_NULL = b'"tokens":null}'
_H = b',"h":"'
_TAIL = len(_H) + 32 + 2  # ,"h":"<32 hex>"}
_UNENCODABLE = (UnicodeEncodeError, TypeError, ValueError, OverflowError, RecursionError)
# a payload the decoders cannot read (not JSON) is read as no object; one nested as deep as
# a writer's msgspec encoded it is read (`decode_nested`)
_UNDECODABLE = (msgspec.DecodeError, RecursionError)

# type name -> (decoder of its counted text and ``tokens``, the text's field name)
_TEXTS: dict[str, tuple[msgspec.json.Decoder, str]] = {
    name: (
        msgspec.json.Decoder(
            msgspec.defstruct(f"_{name}", [(TOKEN_FIELDS[cls], Any, None), ("tokens", Any, None)])
        ),
        TOKEN_FIELDS[cls],
    )
    for name, cls in EVENT_TYPES.items()
    if cls in TOKEN_FIELDS
}
_KINDS: dict[str, bytes] = {}  # type name -> its hash-input bytes
_PLACEHOLDER = msgspec.json.Decoder(
    msgspec.defstruct(
        "_Placeholder", [("episode_id", Any, None), ("events", Any, 0), ("hash", Any, None)]
    )  # fmt: skip
)


def is_sealed(payload: bytes) -> bool:
    """Whether a payload already ends with its hash (``,"h":"<32 hex digits>"}``). A raw
    payload never does: no event type has a field ``h``, and inside a JSON string every
    ``"`` is escaped."""
    return (
        len(payload) > _TAIL
        and payload[-_TAIL : -_TAIL + len(_H)] == _H
        and payload[-2:] == b'"}'
        and _hash_of(payload) is not None
    )


def _hash_of(payload: bytes) -> bytes | None:
    """The 16 bytes a sealed payload's ``"h"`` holds (None when they are not hex)."""
    try:
        h = bytes.fromhex(payload[-34:-2].decode("ascii"))
    except ValueError:  # (UnicodeDecodeError is one)
        return None
    return h if len(h) == 16 else None  # (``fromhex`` skips spaces)


class _Chain:
    """One chain's state: its last hash, the seq it expects next, and (episodes) the token
    sums ``[all, action_received]`` and the summary fold."""

    __slots__ = ("head", "next", "key", "sums", "fold")

    def __init__(self, key: bytes, episode: bool) -> None:
        self.head = ZERO
        self.next = 0
        self.key = key
        self.sums = [0, 0]
        self.fold = SummaryFold() if episode else None


class StoredChains:
    """The rows a store already holds, as a `Sealer` asks for them: ``con`` a DuckDB
    connection, ``table`` its events table (``"events"``, ``"s0.events"``)."""

    def __init__(self, con, table: str = "events") -> None:
        self.con, self.table = con, table

    def __call__(self, run_id: str, episode_id: str | None, before: int) -> list[tuple]:
        """``(type, payload)`` of the chain's events with ``seq < before`` in order (of the
        run chain: its last such event only)."""
        if episode_id is None:
            sql = (
                f"SELECT type, CAST(payload AS VARCHAR) FROM {self.table} WHERE run_id = ? "
                "AND episode_id IS NULL AND seq < ? ORDER BY seq DESC LIMIT 1"
            )
            return self.con.execute(sql, [run_id, before]).fetchall()
        sql = (
            f"SELECT type, CAST(payload AS VARCHAR) FROM {self.table} WHERE run_id = ? "
            "AND episode_id = ? AND seq < ? ORDER BY seq"
        )
        return self.con.execute(sql, [run_id, episode_id, before]).fetchall()


class Sealer:
    """Seals raw event payloads in order (module docstring). ``stored``: where chains met
    mid-way are rebuilt from (None: they start afresh, as a writer's own chains do)."""

    def __init__(self, stored: StoredChains | None = None) -> None:
        self.stored = stored
        self._chains: dict[tuple[str, str | None], _Chain] = {}

    def resume(self, run_id: str, episode_id: str | None, next_seq: int, head: bytes) -> None:
        """Continue a chain whose events up to ``next_seq`` end in ``head`` (a writer
        resuming its run chain)."""
        chain = self._chains[(run_id, episode_id)] = _Chain(
            chain_key(run_id, episode_id), episode_id is not None
        )
        chain.next, chain.head = next_seq, head

    def _chain(self, run_id: str, episode_id: str | None, seq: int) -> _Chain:
        """The chain's state before event ``seq`` (rebuilt from ``stored`` when this
        sealer has not seen the events before it)."""
        key = (run_id, episode_id)
        chain = self._chains.get(key)
        if chain is not None and chain.next == seq:
            return chain
        chain = self._chains[key] = _Chain(chain_key(run_id, episode_id), episode_id is not None)
        if seq and self.stored is not None:
            for type_, payload in self.stored(run_id, episode_id, seq):
                payload = payload.encode("utf-8", "surrogatepass")
                if is_sealed(payload):
                    chain.head = _hash_of(payload)
                if chain.fold is not None:
                    _absorb(chain, type_, payload, _tokens_of(type_, payload))
        chain.next = seq
        return chain

    def seal(
        self, run_id: str, episode_id: str | None, seq: int, ts_us: int, type_: str,
        payload: bytes, text: str | None = None,
    ) -> bytes:  # fmt: skip
        """The stored payload of one event (raw or already sealed), advancing its chain.
        ``text``: the counted text itself, when the caller holds it (the writer in thread
        mode: counted as it is, remembered by identity, `medenv.events.tokens.token_count`,
        without decoding it from the payload; the same count, since the text's JSON differs
        from it only where `encode_payload` replaced a lone surrogate by U+FFFD, a non-space
        character either way)."""
        chain = self._chain(run_id, episode_id, seq)
        if is_sealed(payload):  # sealed by a writer of an earlier version: kept
            h = _hash_of(payload)
            sealed = body = payload
            tokens = _tokens_of(type_, payload)
        else:
            tokens = None
            counted = _TEXTS.get(type_)
            if counted is not None:
                if isinstance(text, str) and payload.endswith(_NULL):
                    tokens = token_count(text)
                    body = b"%b%d}" % (memoryview(payload)[: -len(_NULL) + 9], tokens)
                else:
                    body, tokens = _count(payload, *counted)
            elif type_ == "episode_sealed" and episode_id is None:
                body = self._complete(run_id, payload)
            else:
                body = payload
            if body[:1] != b"{" or body[-1:] != b"}":  # not an object (no writer's): kept
                chain.next = seq + 1
                return payload
            kind = _KINDS.get(type_)
            if kind is None:
                kind = _KINDS[type_] = type_.encode("utf-8", "surrogatepass") + b"\x1f"
            h = blake2b(
                b"%b%b%d\x1f%d\x1f%b" % (chain.head, chain.key, seq, ts_us, kind), digest_size=16
            )
            h.update(body)
            h = h.digest()
            sep = b"," if len(body) > 2 else b""  # (``{}``: written by hand)
            sealed = b'%b%b"h":"%b"}' % (memoryview(body)[:-1], sep, hexlify(h))
        chain.head, chain.next = h, seq + 1
        if chain.fold is not None:
            _absorb(chain, type_, body, tokens)
        elif type_ == "episode_sealed":  # the episode is over: its state goes
            self._chains.pop((run_id, _placeholder(payload).episode_id), None)
        return sealed

    def _complete(self, run_id: str, payload: bytes) -> bytes:
        """An ``episode_sealed`` payload: the placeholder's, completed from its episode's
        chain (a seal of a writer's own making, with its hash given, is kept)."""
        data = _placeholder(payload)
        if data.hash != "" or not isinstance(data.episode_id, str):
            return payload
        events = data.events if isinstance(data.events, int) else 0
        chain = self._chain(run_id, data.episode_id, events)
        summary = chain.fold.summary()
        sealed = EpisodeSealed(
            episode_id=data.episode_id, events=events, hash=chain.head.hex(),
            tokens=chain.sums[0], action_tokens=chain.sums[1], summary=summary,
        )  # fmt: skip
        try:
            return _ENC.encode(sealed)
        except _UNENCODABLE:
            return encode_payload(sealed)


def _placeholder(payload: bytes):
    try:
        return decode_nested(_PLACEHOLDER, payload)
    except _UNDECODABLE:
        return _PLACEHOLDER.decode(b"{}")


def _count(payload: bytes, decoder, field: str) -> tuple[bytes, Any]:
    """``(payload with tokens, its tokens)``: a null ``tokens`` becomes the count of the
    text (spliced in at the end, where the field is); a given one is kept."""
    try:
        data = decode_nested(decoder, payload)
    except _UNDECODABLE:
        return payload, None
    tokens = data.tokens
    if tokens is None and payload.endswith(_NULL):
        text = getattr(data, field)
        tokens = count_tokens(text) if isinstance(text, str) else 0
        return b"%b%d}" % (memoryview(payload)[: -len(_NULL) + 9], tokens), tokens
    return payload, tokens


def _tokens_of(type_: str, payload: bytes) -> Any:
    """The ``tokens`` a stored payload holds (None for types that count no text)."""
    text = _TEXTS.get(type_)
    if text is None:
        return None
    try:
        return decode_nested(text[0], payload).tokens
    except _UNDECODABLE:
        return None


def _absorb(chain: _Chain, type_: str, body: bytes, tokens: Any) -> None:
    """An episode's event into its token sums and summary fold."""
    if tokens is not None:
        try:
            sums = chain.sums
            sums[0] += tokens
            if type_ == "action_received":
                sums[1] += tokens
        except TypeError:  # a given count that is no number: not summed
            pass
    chain.fold.add(type_, body)


def seal_rows(rows, stored: StoredChains | None = None) -> list[tuple]:
    """`medenv.events.spool` rows (in spool order) with their payloads sealed by a new
    `Sealer` (``stored``: the rows a store already holds)."""
    seal = Sealer(stored).seal
    return [(*row[:5], seal(*row[:5], bytes(row[5]))) for row in rows]

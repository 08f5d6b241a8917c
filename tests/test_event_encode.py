"""The step path's encoding (`medenv.events.encode.encode_staged`: raw spool lines) and
the sealing of those lines (`medenv.events.sealer.Sealer`) give exactly the bytes of the
definitions they shortcut, re-derived here from them: `with_tokens` + `encode_payload`
for the payload, `chain.link` + `chain.seal` for its hash, `spool.encode_line` for its
line. Tried on generated payloads of every declared type (any text: lone surrogates,
newlines, non-ASCII, vertical tabs; token counts given or not) and on an `EventStore`'s
own spool. (Episode seals, summaries and chains met mid-way: tests/test_event_seal.py.)"""

from __future__ import annotations

import re

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from medenv.events import chain
from medenv.events import schema as ev
from medenv.events.codec import encode_payload
from medenv.events.encode import EVENT_KINDS, encode_staged, line_key, payload_start
from medenv.events.sealer import Sealer, is_sealed
from medenv.events.spool import encode_line, read_spool
from medenv.events.store import EventStore, connect
from medenv.events.tokens import count_tokens, token_count, with_tokens

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)
# ids a writer takes: text that encodes to UTF-8 (`EventStore.emit` refuses a lone surrogate)
IDS = st.one_of(st.none(), st.text(st.characters(codec="utf-8"), max_size=60))
COUNTS = st.one_of(st.none(), st.integers(0, 10**6))


def payloads():
    return st.one_of(
        st.builds(ev.ActionReceived, step=st.integers(0, 99), text=TEXT, think=st.none() | TEXT,
                  truncated_from=st.none() | st.integers(0, 10**6), tokens=COUNTS),
        st.builds(ev.ActionRejected, step=st.integers(0, 9), kind=TEXT, message=TEXT,
                  observation=TEXT, tokens=COUNTS),
        st.builds(ev.ToolReturned, step=st.integers(0, 9), name=TEXT, observation=TEXT,
                  latency_ms=st.floats(allow_nan=False), doc_ids=st.lists(TEXT, max_size=3),
                  error=st.none() | TEXT, tokens=COUNTS),
        st.builds(ev.ToolCalled, step=st.integers(0, 9), name=TEXT,
                  arguments=st.dictionaries(TEXT, TEXT | st.integers(), max_size=3)),
        st.builds(ev.EpisodeStarted, question_id=TEXT, seed=st.none() | st.integers(), split=TEXT,
                  specialty=TEXT, n_hops=st.integers(0, 5), optimal_calls=st.integers(0, 9),
                  answer=TEXT, aliases=st.lists(TEXT, max_size=2), prompt=TEXT, config_hash=TEXT,
                  tags=st.dictionaries(TEXT, TEXT, max_size=2), tokens=COUNTS),
        st.builds(ev.AnswerSubmitted, step=st.integers(0, 9), answer=TEXT),
        st.builds(ev.RunClosed, episodes=st.integers(0, 10**6)),
    )  # fmt: skip


def _words(text: str) -> int:
    """An independent count: RE2's ``\\S`` is anything but these five characters."""
    return len(re.findall(r"[^ \t\n\f\r]+", text))


def _defined(prev: bytes, run_id, episode_id, seq: int, ts_us: int, payload):
    """``(hash, sealed payload, token count)`` of one event by the definitions alone."""
    full = with_tokens(payload)
    body = encode_payload(full)
    type_ = EVENT_KINDS[type(payload)]
    h = chain.link(prev, run_id, episode_id, seq, ts_us, type_, body)
    return h, chain.seal(body, h), getattr(full, "tokens", None)


def _raw_of(staged_row: tuple) -> bytes:
    run_id, episode_id, seq, ts_us, _, payload = staged_row
    return _raw(run_id, episode_id, seq, ts_us, payload)


def _raw(run_id, episode_id, seq, ts_us, payload) -> bytes:
    """The raw spool line of one event by the definitions."""
    type_ = EVENT_KINDS[type(payload)]
    return encode_line(run_id, episode_id, seq, ts_us, type_, encode_payload(payload))


@settings(max_examples=150, deadline=None)
@given(payloads(), st.text(max_size=12), IDS, st.integers(1, 2**31), st.integers(0, 2**62),
       st.binary(min_size=16, max_size=16))  # fmt: skip
def test_raw_lines_and_their_sealing_equal_the_definitions(
    payload, run_id, episode_id, seq, ts_us, prev
):
    kind = EVENT_KINDS[type(payload)]
    line = encode_staged([(run_id, episode_id, seq, ts_us, kind, payload)])
    assert line == _raw(run_id, episode_id, seq, ts_us, payload)
    start = payload_start(line_key(run_id, episode_id), seq, ts_us, kind)
    raw = line[start:-2]
    assert raw == encode_payload(payload) and not is_sealed(raw)
    sealer = Sealer()
    sealer.resume(run_id, episode_id, seq, prev)  # the chain so far ends in ``prev``
    sealed = sealer.seal(run_id, episode_id, seq, ts_us, kind, raw)
    h, expected, tokens = _defined(prev, run_id, episode_id, seq, ts_us, payload)
    assert sealed == expected and is_sealed(sealed)
    field = ev.TOKEN_FIELDS.get(type(payload))
    if field is not None:  # the text given as it is (the writer's thread mode): the same
        hinted = Sealer()
        hinted.resume(run_id, episode_id, seq, prev)
        text = getattr(payload, field)
        assert hinted.seal(run_id, episode_id, seq, ts_us, kind, raw, text) == expected
    if type(payload) in ev.TOKEN_FIELDS and payload.tokens is None:  # the words of the text
        field = ev.TOKEN_FIELDS[type(payload)]
        text = getattr(payload, field).encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        assert tokens == _words(text)
    assert msgspec.json.decode(sealed)["h"] == h.hex()
    # an already sealed payload (a spool of an earlier writer) is kept as it is
    again = Sealer()
    again.resume(run_id, episode_id, seq, prev)
    assert again.seal(run_id, episode_id, seq, ts_us, kind, sealed) == sealed


def test_remembered_counts_are_the_counts():
    texts = ["a b", "a  b\tc", "", " x ", "\x0bword", "ünïcode wörds here"] * 3
    assert [token_count(t) for t in texts] == [count_tokens(t) for t in texts]
    assert [token_count(t) for t in texts] == [_words(t) for t in texts]


def test_a_stores_spool_holds_raw_lines_and_its_rows_the_sealed_ones(tmp_path):
    """Each spooled line is the raw line of its payload; each stored row its sealing, by
    the definitions."""
    payloads = [
        (None, ev.RunClosed(episodes=0)),
        ("e1", ev.ActionReceived(step=0, text="one  two\nthree\ud800")),
        ("e1", ev.ToolReturned(step=0, name="browse", observation="x y", latency_ms=0.5,
                               doc_ids=["d"], tokens=7)),  # given: kept
    ]  # fmt: skip
    path = tmp_path / "e.duckdb"
    store = EventStore(path, run_id="r\u00e9", durability="step")
    for episode_id, payload in payloads:
        store.emit(payload, episode_id)
    store.commit()
    rows = read_spool(store._spool_path).rows
    assert [r[4] for r in rows] == ["run_closed", "action_received", "tool_returned"]
    for (episode_id, payload), row in zip(payloads, rows, strict=True):
        line = _raw("r\u00e9", episode_id, row[2], row[3], payload)
        assert msgspec.json.encode(row[:5])[:-1] + b"," + bytes(row[5]) + b"]\n" == line
    store.close()
    con = connect(path)
    stored = con.execute(
        "SELECT episode_id, seq, epoch_us(ts), CAST(payload AS VARCHAR) FROM events "
        "ORDER BY episode_id NULLS FIRST, seq"
    ).fetchall()
    con.close()
    logged = [payloads[0], (None, ev.RunClosed(episodes=0)), *payloads[1:]]  # + close's
    prev: dict = {}
    for (episode_id, seq, ts_us, text), (_, payload) in zip(stored, logged, strict=True):
        h, sealed, _ = _defined(prev.get(episode_id, chain.ZERO), "r\u00e9", episode_id, seq,
                                ts_us, payload)  # fmt: skip
        prev[episode_id] = h
        assert text.encode("utf-8") == sealed
    assert ev.decode_payload("action_received", stored[2][3]).tokens == 3
    assert ev.decode_payload("tool_returned", stored[3][3]).tokens == 7


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(payloads(), st.sampled_from([None, "e1", "e\u00e92"])), max_size=8),
       st.text(max_size=12), st.integers(0, 2**62))  # fmt: skip
def test_a_step_sealed_in_order_equals_each_event_sealed_alone(events, run_id, ts_us):
    """A step's raw lines sealed in order by one `Sealer` give each event sealed alone by
    the definitions, each chained to the one before it in its chain (chains begun at
    seq 0, and a run chain resumed at seq 5)."""
    seqs: dict = {None: 4}
    staged = []
    for payload, episode_id in events:
        seq = seqs[episode_id] = seqs.get(episode_id, -1) + 1
        staged.append((run_id, episode_id, seq, ts_us + seq, EVENT_KINDS[type(payload)], payload))
    lines = [line + b"\n" for line in encode_staged(staged).split(b"\n")[:-1]]
    assert b"".join(map(_raw_of, staged)) == b"".join(lines)  # one call: each line's bytes
    sealer = Sealer()
    sealer.resume(run_id, None, 5, bytes(range(16)))
    prev = {None: bytes(range(16))}
    for (_, episode_id, seq, ts, _kind, payload), line in zip(staged, lines, strict=True):
        row = read_line(line)
        got = sealer.seal(*row[:5], bytes(row[5]))
        h, expected, _ = _defined(prev.get(episode_id, chain.ZERO), run_id, episode_id, seq,
                                  ts, payload)  # fmt: skip
        prev[episode_id] = h
        assert got == expected


def read_line(line: bytes):
    return msgspec.json.decode(line, type=tuple[str, str | None, int, int, str, msgspec.Raw])


def test_a_text_that_is_not_text_is_logged_with_no_words(tmp_path):
    """The step path no longer counts: an event whose counted text is not a string is
    logged as it is (``tokens`` 0 where it is sealed) and its chain stays whole."""
    store = EventStore(tmp_path / "f.duckdb", run_id="r", durability="step")
    store.emit(ev.ActionReceived(step=0, text="kept words"), "e1")
    store.commit()
    store.emit(ev.ActionReceived(step=1, text=None), "e1")  # not text
    store.commit()
    store.end_episode("e1")
    store.close()
    con = connect(tmp_path / "f.duckdb")
    assert chain.check_chains(con).episodes == {}
    tokens = con.execute(
        "SELECT CAST(payload->>'$.tokens' AS INTEGER) FROM events WHERE episode_id = 'e1' "
        "ORDER BY seq"
    ).fetchall()
    assert tokens == [(2,), (0,)]
    seal = con.execute(
        "SELECT CAST(payload->>'$.tokens' AS INTEGER) FROM events WHERE type = 'episode_sealed'"
    ).fetchall()
    assert seal == [(2,)]
    con.close()

"""The step path's one-pass encoding (`medenv.events.encode.seal_staged`) gives exactly the
bytes of the definitions it shortcuts, re-derived here from them: `with_tokens` +
`encode_payload` for the payload, `chain.link` + `chain.seal` for its hash,
`spool.encode_line` for its line. Tried on generated payloads of
every declared type (any text: lone surrogates, newlines, non-ASCII, vertical tabs; token
counts given or not) and on an `EventStore`'s own spool."""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medenv.events import chain
from medenv.events import schema as ev
from medenv.events.codec import encode_payload
from medenv.events.encode import EVENT_KINDS, chain_keys, payload_start, seal_staged
from medenv.events.spool import encode_line, read_spool
from medenv.events.store import EventStore, connect
from medenv.events.tokens import count_tokens, token_count, with_tokens

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)
IDS = st.one_of(st.none(), TEXT)
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
    """``(hash, spool line, token count)`` of one event by the definitions alone."""
    full = with_tokens(payload)
    body = encode_payload(full)
    type_ = EVENT_KINDS[type(payload)][0]
    h = chain.link(prev, run_id, episode_id, seq, ts_us, type_, body)
    line = encode_line(run_id, episode_id, seq, ts_us, type_, chain.seal(body, h))
    return h, line, getattr(full, "tokens", None)


@settings(max_examples=150, deadline=None)
@given(payloads(), st.text(max_size=12), IDS, st.integers(0, 2**31), st.integers(0, 2**62),
       st.binary(min_size=16, max_size=16))  # fmt: skip
def test_one_pass_encoding_equals_the_definitions(payload, run_id, episode_id, seq, ts_us, prev):
    kind = EVENT_KINDS[type(payload)]
    heads = {episode_id: prev}
    lines, counts = seal_staged([(episode_id, seq, ts_us, kind, payload)], heads, {}, run_id)
    h, line, tokens = _defined(prev, run_id, episode_id, seq, ts_us, payload)
    assert (lines, counts, heads) == ([line], [tokens], {episode_id: h})
    if kind[3] is not None and payload.tokens is None:  # counted here: the words of the text
        text = (
            getattr(payload, kind[3]).encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        )
        assert tokens == _words(text)
    sealed = msgspec.json.decode(line)[5]
    assert sealed["h"] == h.hex()
    # the store reads the sealed payload out of the line: the definition's sealed payload
    start = payload_start(chain_keys(run_id, episode_id)[1], seq, ts_us, kind)
    body = encode_payload(with_tokens(payload))
    assert lines[0][start:-2] == chain.seal(body, h)


def test_remembered_counts_are_the_counts():
    texts = ["a b", "a  b\tc", "", " x ", "\x0bword", "ünïcode wörds here"] * 3
    assert [token_count(t) for t in texts] == [count_tokens(t) for t in texts]
    assert [token_count(t) for t in texts] == [_words(t) for t in texts]


def test_a_stores_spool_holds_the_defined_lines(tmp_path):
    """Each spooled line re-derived from its decoded payload by the definitions."""
    store = EventStore(tmp_path / "e.duckdb", run_id="r\u00e9", durability="step")
    store.emit(ev.RunClosed(episodes=0))
    store.emit(ev.ActionReceived(step=0, text="one  two\nthree\ud800"), "e1")
    store.emit(ev.ToolReturned(step=0, name="browse", observation="x y", latency_ms=0.5,
                               doc_ids=["d"], tokens=7), "e1")  # fmt: skip
    store.commit()
    rows = read_spool(store._spool_path).rows
    assert len(rows) == 3
    prev: dict = {}
    for run_id, episode_id, seq, ts_us, type_, raw in rows:
        body, hexhash = chain.split(bytes(raw).decode())
        h = chain.link(prev.get(episode_id, chain.ZERO), run_id, episode_id, seq, ts_us, type_,
                       body.encode())  # fmt: skip
        assert h.hex() == hexhash
        prev[episode_id] = h
        payload = ev.decode_payload(type_, body)
        assert encode_payload(payload) == body.encode()
    assert [r[4] for r in rows] == ["run_closed", "action_received", "tool_returned"]
    assert ev.decode_payload("action_received", bytes(rows[1][5])).tokens == 3
    assert ev.decode_payload("tool_returned", bytes(rows[2][5])).tokens == 7  # given: kept
    store.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(payloads(), st.sampled_from([None, "e1", "e\u00e92"])), max_size=8),
       st.text(max_size=12), st.integers(0, 2**62))  # fmt: skip
def test_a_step_sealed_in_one_loop_equals_each_event_sealed_alone(events, run_id, ts_us):
    """`seal_staged` (the store's commit) gives the lines and counts of each event sealed
    alone by the definitions, each chained to the one before it in its chain."""
    heads = {None: bytes(range(16)), "e1": bytes(16)}
    seqs: dict = {}
    staged = []
    for payload, episode_id in events:
        seq = seqs[episode_id] = seqs.get(episode_id, -1) + 1
        staged.append((episode_id, seq, ts_us + seq, EVENT_KINDS[type(payload)], payload))
    expected, counts, prev = [], [], dict(heads)
    for episode_id, seq, ts, _kind, payload in staged:
        h, line, tokens = _defined(prev.get(episode_id, chain.ZERO), run_id, episode_id, seq,
                                   ts, payload)  # fmt: skip
        prev[episode_id] = h
        expected.append(line)
        counts.append(tokens)
    assert seal_staged(staged, heads, {}, run_id) == (expected, counts)
    assert heads == prev  # advanced to each chain's last hash


def test_a_step_that_fails_to_seal_leaves_the_chains_as_they_were(tmp_path):
    """An event that cannot be counted (its text is not text) fails the whole step before
    any chain moves: the env discards the step, and the next one chains on the last
    committed event."""
    store = EventStore(tmp_path / "f.duckdb", run_id="r", durability="step")
    store.emit(ev.ActionReceived(step=0, text="kept words"), "e1")
    store.commit()
    head, size = dict(store._head), store._spool.size
    store.emit(ev.ToolCalled(step=1, name="browse", arguments={}), "e1")
    store.emit(ev.ActionReceived(step=1, text=None), "e1")  # not text: counting fails
    with pytest.raises((AttributeError, KeyError, TypeError)):
        store.commit()
    store.discard()  # as the env does when a step raises
    assert store._head == head and store._spool.size == size
    store.emit(ev.ActionReceived(step=1, text="again"), "e1")
    store.end_episode("e1")
    store.close()
    con = connect(tmp_path / "f.duckdb")
    assert chain.check_chains(con).episodes == {}
    rows = con.execute(
        "SELECT seq, type FROM events WHERE episode_id = 'e1' ORDER BY seq"
    ).fetchall()
    assert rows == [(0, "action_received"), (1, "action_received")]

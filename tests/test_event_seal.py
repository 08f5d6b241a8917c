"""Sealing raw lines where they become rows (`medenv.events.sealer`) stores exactly what
the writer stored when it sealed on the step path (round 15): every column of every row,
episode seals (hash, token sums, summary) included. The reference (`_Reference`) is that
writer's sealing re-derived from the definitions: `with_tokens` + `encode_payload`,
`chain.link` + `chain.seal`, and the summary folded from the logged Structs themselves
(`_StructFold`, round 15's `SummaryFold`). Tried on generated episodes (hypothesis) and on
real stores: the ingest process, the ingest thread, durability ``"none"``, episodes
straddling segments, a killed ingest process, a killed writer's spool recovered by the
next writer and read by `connect`, and a spool of sealed lines left by an older writer."""

from __future__ import annotations

import numbers
import os
import signal

import duckdb
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medenv.events import chain
from medenv.events import schema as ev
from medenv.events.codec import encode_payload
from medenv.events.encode import EVENT_KINDS, encode_staged
from medenv.events.files import read_spools, sidecar
from medenv.events.sealer import Sealer
from medenv.events.spool import encode_line
from medenv.events.store import EventStore, connect
from medenv.events.tokens import with_tokens


class _StructFold:
    """Round 15's `SummaryFold`: the episode's figures from the logged Structs."""

    def __init__(self) -> None:
        self.started = self.ended = self.reward = self.prediction = None
        self.n_actions = self.n_called = self.n_rejected = 0

    def add(self, p) -> None:
        kind = type(p)
        if kind is ev.ActionReceived:
            self.n_actions += 1
        elif kind is ev.ToolCalled:
            self.n_called += 1
        elif kind is ev.ActionRejected:
            self.n_rejected += 1
        elif kind is ev.AnswerSubmitted:
            self.prediction = p.answer
        elif kind is ev.RewardAssigned:
            self.reward = p
        elif kind is ev.EpisodeEnded:
            self.ended = p
        elif kind is ev.EpisodeStarted:
            self.started = p

    def summary(self):
        s = self.started
        if s is None:
            return None
        item = s.item if isinstance(s.item, dict) else {}
        external = item.get("kg_source") == "external"
        rarity = item.get("rarity")
        rarity = (
            None if isinstance(rarity, bool) or not isinstance(rarity, numbers.Real)
            else float(rarity)
        )  # fmt: skip
        end, reward = self.ended, self.reward
        return ev.EpisodeSummary(
            question_id=s.question_id,
            specialty="general" if s.specialty is None else s.specialty,
            external=external,
            n_hops=None if external else s.n_hops,
            optimal_calls=None if external else s.optimal_calls,
            rarity=None if external else rarity,
            tags=dict(s.tags),
            ended=end is not None,
            n_tool_calls=end.n_tool_calls if end is not None else self.n_called,
            n_actions=self.n_actions or (end.steps if end is not None else 0),
            n_format_errors=end.n_format_errors if end is not None else self.n_rejected,
            has_actions=self.n_actions > 0,
            correct=bool(reward is not None and reward.correct),
            reward=None if reward is None else reward.total,
            evidence_recall=None if reward is None or external else reward.evidence_recall,
            components={} if reward is None else dict(reward.components),
            prediction=self.prediction,
        )


class _Reference:
    """Round 15's writer-side sealing, event by event, from the definitions."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.heads: dict = {}
        self.sums: dict = {}
        self.folds: dict = {}
        self.seqs: dict = {}

    def event(self, episode_id, ts_us: int, payload) -> tuple[int, str, bytes]:
        """``(seq, type, sealed payload)`` of the next event of its chain."""
        seq = self.seqs.get(episode_id, 0)
        self.seqs[episode_id] = seq + 1
        full = with_tokens(payload)
        body = encode_payload(full)
        type_ = EVENT_KINDS[type(payload)]
        h = chain.link(self.heads.get(episode_id, chain.ZERO), self.run_id, episode_id, seq,
                       ts_us, type_, body)  # fmt: skip
        self.heads[episode_id] = h
        if episode_id is not None:
            self.folds.setdefault(episode_id, _StructFold()).add(payload)
            tokens = getattr(full, "tokens", None)
            if tokens is not None:
                sums = self.sums.setdefault(episode_id, [0, 0])
                sums[0] += tokens
                sums[1] += tokens if type_ == "action_received" else 0
        return seq, type_, chain.seal(body, h)

    def seal_of(self, episode_id) -> ev.EpisodeSealed:
        """The ``episode_sealed`` the writer emitted at the episode's end (its state goes)."""
        fold = self.folds.pop(episode_id, None)
        tokens, action_tokens = self.sums.pop(episode_id, (0, 0))
        return ev.EpisodeSealed(
            episode_id=episode_id, events=self.seqs.pop(episode_id),
            hash=self.heads.pop(episode_id, chain.ZERO).hex(), tokens=tokens,
            action_tokens=action_tokens, summary=None if fold is None else fold.summary(),
        )  # fmt: skip


# -- generated episodes -----------------------------------------------------------------
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)  # surrogates too
SAFE = st.text(max_size=20)  # texts the summary copies (see the last test for surrogates)
NUMBER = st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.booleans())
COUNTS = st.one_of(st.none(), st.integers(0, 10**6))
JSONISH = st.recursive(
    st.none() | NUMBER | SAFE,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["tokens", "h", "v", "x", "\u00e9"]) | SAFE, inner, max_size=3
        )
    ),  # fmt: skip
    max_leaves=8,
)
ITEMS = st.fixed_dictionaries(
    {},
    optional={
        "kg_source": st.sampled_from(["external", "hpo", ""]),
        "rarity": NUMBER | SAFE,
        "tokens": JSONISH,
        "h": SAFE,
    },  # fmt: skip
)


def _episode_payloads():
    started = st.builds(
        ev.EpisodeStarted, question_id=SAFE, seed=st.none() | st.integers(), split=SAFE,
        specialty=SAFE, n_hops=st.integers(0, 5), optimal_calls=st.integers(0, 9), answer=TEXT,
        aliases=st.lists(TEXT, max_size=2), prompt=TEXT, config_hash=SAFE,
        tags=st.dictionaries(st.sampled_from(["tokens", "h", "agent"]) | SAFE, JSONISH,
                             max_size=3),
        item=ITEMS, tokens=COUNTS,
    )  # fmt: skip
    step = st.one_of(
        st.builds(ev.ActionReceived, step=st.integers(0, 9), text=TEXT, think=st.none() | TEXT,
                  tokens=COUNTS),
        st.builds(ev.ActionRejected, step=st.integers(0, 9), kind=SAFE, message=TEXT,
                  observation=TEXT, tokens=COUNTS),
        st.builds(ev.ToolCalled, step=st.integers(0, 9), name=TEXT,
                  arguments=st.dictionaries(st.sampled_from(["h", "tokens"]) | SAFE, JSONISH,
                                            max_size=3)),
        st.builds(ev.ToolReturned, step=st.integers(0, 9), name=TEXT, observation=TEXT,
                  latency_ms=st.floats(), doc_ids=st.lists(TEXT, max_size=2), tokens=COUNTS),
        st.builds(ev.AnswerSubmitted, step=st.integers(0, 9), answer=SAFE),
        st.builds(ev.RewardAssigned, accuracy=NUMBER, format=NUMBER, efficiency=NUMBER,
                  total=NUMBER, correct=st.booleans(), evidence_recall=NUMBER,
                  weights=st.dictionaries(SAFE, NUMBER, max_size=2),
                  components=st.dictionaries(SAFE, NUMBER, max_size=3)),
        st.builds(ev.EpisodeEnded, steps=st.integers(0, 9), terminated=st.booleans(),
                  truncated=st.booleans(), n_tool_calls=st.integers(0, 9),
                  n_format_errors=st.integers(0, 9)),
    )  # fmt: skip
    return st.tuples(st.booleans(), started, st.lists(step, max_size=6))


def _interleave(episodes) -> list[tuple]:
    """Ops ``(episode_id, payload)`` / ``(episode_id, "end")``, episodes interleaved."""
    queues = []
    for k, (has_start, started, steps) in enumerate(episodes):
        eid = f"e{k}\u00e9"
        events = ([started] if has_start else []) + steps
        queues.append([(eid, p) for p in events] + [(eid, "end")])
    ops = []
    while any(queues):
        for q in queues:
            if q:
                ops.append(q.pop(0))
    return ops


def _raw_line(run_id, episode_id, seq, ts_us, payload) -> tuple:
    """The raw row the writer spools for an event (its line, decoded)."""
    line = encode_staged([(run_id, episode_id, seq, ts_us, EVENT_KINDS[type(payload)], payload)])
    return msgspec.json.decode(line, type=tuple[str, str | None, int, int, str, msgspec.Raw])


@settings(max_examples=80, deadline=None)
@given(st.lists(_episode_payloads(), min_size=1, max_size=3), st.text(max_size=8))
def test_sealing_raw_lines_stores_what_the_writer_sealed(episodes, run_id):
    """Generated episodes, interleaved, their seals placeholders completed by the sealer:
    every sealed payload is the reference's bytes (run chain resumed at seq 3)."""
    ref = _Reference(run_id)
    ref.seqs[None], ref.heads[None] = 3, bytes(range(16))
    sealer = Sealer()
    sealer.resume(run_id, None, 3, bytes(range(16)))
    ts = 1_000
    for episode_id, op in _interleave(episodes):
        ts += 7
        if op == "end":
            events = ref.seqs.get(episode_id, 0)
            payload = ref.seal_of(episode_id) if events else None
            if payload is None:
                continue
            seq, type_, expected = ref.event(None, ts, payload)
            placeholder = ev.EpisodeSealed(episode_id=episode_id, events=events, hash="")
            row = _raw_line(run_id, None, seq, ts, placeholder)
        else:
            seq, type_, expected = ref.event(episode_id, ts, op)
            row = _raw_line(run_id, episode_id, seq, ts, op)
        assert sealer.seal(*row[:5], bytes(row[5])) == expected


def test_a_summary_with_unencodable_text_reads_back_the_same():
    """The one difference: a summary whose own values hold lone surrogates (question id,
    tags, answer) was stored by round 15's writer with every field (its encoding went
    through `clean`); sealed from the line's JSON (already made UTF-8) it is stored
    compact (defaults omitted). Both decode to the same `EpisodeSummary`."""
    ref = _Reference("r")
    sealer = Sealer()
    started = ev.EpisodeStarted(question_id="q\ud800", seed=1, split="s", specialty="x",
                                n_hops=1, optimal_calls=1, answer="a", aliases=[], prompt="p",
                                config_hash="c", tags={"t": "\udfff"})  # fmt: skip
    answer = ev.AnswerSubmitted(step=0, answer="b\ud800")
    for ts, payload in enumerate([started, answer]):
        seq, _, expected = ref.event("e", ts, payload)
        assert (
            sealer.seal(
                *_raw_line("r", "e", seq, ts, payload)[:5],
                bytes(_raw_line("r", "e", seq, ts, payload)[5]),
            )
            == expected
        )
    old = ref.seal_of("e")
    seq, _, expected = ref.event(None, 9, old)
    row = _raw_line("r", None, seq, 9, ev.EpisodeSealed(episode_id="e", events=2, hash=""))
    got = sealer.seal(*row[:5], bytes(row[5]))
    decode = msgspec.json.Decoder(ev.EpisodeSealed)
    assert decode.decode(chain.split(got.decode())[0]) == decode.decode(
        chain.split(expected.decode())[0]
    )
    assert decode.decode(got).summary.prediction == "b\ufffd"


# -- real stores ------------------------------------------------------------------------
def _script(n_episodes: int, steps: int):
    """Ops for a store: a run_started, episodes of ``steps`` steps (one tool call each)."""
    ops = [(None, ev.RunStarted(config={"tokens": None, "h": "x"}, kg_source="k",
                                kg_version="1", corpus_hash="c", parser_version="p",
                                reward_weights={"accuracy": 1}, seed=3)), "commit"]  # fmt: skip
    for k in range(n_episodes):
        eid = f"ep{k:03d}"
        ops += [(eid, ev.EpisodeStarted(
            question_id=f"q{k}", seed=k, split="test", specialty="neuro" if k % 2 else None,
            n_hops=2, optimal_calls=3, answer="Ans", aliases=["a"],
            prompt=f"Which disease {k}? \u00e9\ud800 " * (k % 3 + 1), config_hash="ch",
            tags={"agent": "oracle", "tokens": {"h": 1}}, item={"rarity": k, "kg_source": "hpo"},
        )), "commit"]  # fmt: skip
        for step in range(steps):
            ops += [
                (eid, ev.ActionReceived(step=step, text="" if step == 1 else f"browse {step} x")),
                (eid, ev.ToolCalled(step=step, name="browse", arguments={"h": step})),
                (eid, ev.ToolReturned(step=step, name="browse", observation="obs \u2028 " * step,
                                      latency_ms=0.1 * step, doc_ids=["d"])),
                "commit",
            ]  # fmt: skip
        ops += [(eid, ev.AnswerSubmitted(step=steps, answer="Ans")),
                (eid, ev.RewardAssigned(accuracy=1.0, format=1, efficiency=0.5, total=1,
                                        correct=True, evidence_recall=0.25,
                                        weights={"accuracy": 1.0}, components={"accuracy": 1})),
                (eid, ev.EpisodeEnded(steps=steps, terminated=True, truncated=False,
                                      n_tool_calls=steps, n_format_errors=0)),
                ("end", eid)]  # fmt: skip
    return ops


def _run(store: EventStore, ops, stop: int | None = None) -> list[tuple]:
    """Play ``ops`` on ``store`` (up to ``stop``); returns what was logged, in order."""
    logged = []
    for op in ops[:stop]:
        if op == "commit":
            store.commit()
        elif op[0] == "end":
            store.end_episode(op[1])
            logged.append(("end", op[1]))
        else:
            store.emit(op[1], op[0])
            logged.append(op)
    return logged


def _expected(run_id: str, logged, times: dict, closed: int | None = None) -> dict:
    """The reference's rows for ``logged`` (times read from the store: ``(episode, seq) ->
    ts``), keyed ``(episode, seq)``; ``closed``: the writer closed after that many seals."""
    ref, rows = _Reference(run_id), {}
    for episode_id, payload in [*logged, *([(None, "close")] if closed is not None else [])]:
        if episode_id == "end":
            payload, episode_id = ref.seal_of(payload), None
        elif payload == "close":
            payload = ev.RunClosed(episodes=closed)
        seq = ref.seqs.get(episode_id, 0)
        rows[(episode_id, seq)] = ref.event(episode_id, times[(episode_id, seq)], payload)
    return rows


def _stored(path) -> dict:
    con = connect(path)
    rows = con.execute(
        "SELECT run_id, episode_id, seq, epoch_us(ts), type, CAST(payload AS VARCHAR) FROM events"
    ).fetchall()
    con.close()
    assert len(rows) == len({(r[1], r[2]) for r in rows})  # none twice
    return {(r[1], r[2]): r for r in rows}


def _check(path, run_id, logged, closed=None) -> None:
    stored = _stored(path)
    times = {key: row[3] for key, row in stored.items()}
    expected = _expected(run_id, logged, times, closed)
    assert sorted(stored, key=str) == sorted(expected, key=str)
    for key, (seq, type_, payload) in expected.items():
        assert stored[key] == (run_id, key[0], seq, times[key], type_, payload.decode()), key


@pytest.mark.parametrize(
    "durability, ingest, batch",
    [("step", "process", 7), ("episode", "process", 5), ("step", "thread", 7),
     ("none", "thread", 7), ("sync", "process", 4000)],
)  # fmt: skip
def test_a_store_holds_what_the_writer_sealed(tmp_path, durability, ingest, batch):
    """Every row of a real store, ingested by each mode, equals the reference's; small
    batches make episodes straddle segments (``"episode"``: mid-episode spooling and
    ingests past `HOLD_BATCHES`, episodes of 12 steps)."""
    path = tmp_path / "s.duckdb"
    ops = _script(6, 12 if durability == "episode" else 3)
    with EventStore(path, run_id="r\u00e9", durability=durability, batch_events=batch,
                    ingest=ingest) as store:  # fmt: skip
        logged = _run(store, ops)
    _check(path, "r\u00e9", logged, closed=6)


def test_a_killed_ingest_process_is_succeeded_by_one_that_rebuilds_the_open_episodes(tmp_path):
    path = tmp_path / "k.duckdb"
    ops = _script(8, 4)
    store = EventStore(path, run_id="r", durability="step", batch_events=6, ingest="process")
    half = len(ops) // 2 + 3  # mid-episode
    logged = _run(store, ops, half)
    store.drain()
    os.kill(store._child.pid, signal.SIGKILL)
    store._child._proc.wait(10)
    logged += _run(store, ops[half:])
    store.close()
    assert len(store.ingest_notes) == 1
    _check(path, "r", logged, closed=8)


def _abandon(store: EventStore) -> None:
    """Leave ``store`` as a killed writer does (spool and segments on disk, no close)."""
    if store._child is not None:
        store._child.close()  # (its answers stay unread; the segments it took are ingested)
    store._spool.close()
    if store.con is not None:
        store.con.close()
    store._lock.release()
    store.closed = True


def test_a_killed_writers_spool_is_sealed_by_readers_and_the_next_writer(tmp_path):
    """Killed after an episode's first events were handed off (mid-episode: past
    `HOLD_BATCHES` x 2 events) and its last ones and its seal were spooled, but not handed
    off (as a kill right after the spool write leaves them), a few events into the next
    episode: `connect` and the next writer's recovery seal the leftovers as the writer
    would have (the episode's head, token sums and summary, and the run chain's head,
    rebuilt from the stored rows)."""
    path = tmp_path / "w.duckdb"
    ops = _script(5, 4)
    store = EventStore(path, run_id="r", durability="step", batch_events=2, ingest="process")
    end = ops.index(("end", "ep003"))
    logged = _run(store, ops, end - 6)  # ep003's first events: handed off mid-episode
    store.drain()  # (and ingested)
    store._ingest_in_background = lambda wait=True: None  # no hand-off from here on
    logged += _run(store, ops[end - 6 : end + 3])  # to ep004's first commit
    _abandon(store)
    con = duckdb.connect(str(path), read_only=True)
    in_db = con.execute("SELECT count(*) FROM events WHERE episode_id = 'ep003'").fetchall()
    con.close()
    spooled = read_spools(path)[0]
    assert in_db[0][0] > 0 and any(r[1] == "ep003" for r in spooled)  # it straddles
    assert any(r[4] == "episode_sealed" for r in spooled)
    _check(path, "r", logged)  # read with the leftovers
    EventStore(path, run_id="next").close()  # recovers them
    assert not sidecar(path, ".spool").exists()
    stored = {k: v for k, v in _stored(path).items() if v[0] == "r"}
    times = {key: row[3] for key, row in stored.items()}
    expected = _expected("r", logged, times)
    assert {k: v[5] for k, v in stored.items()} == {k: v[2].decode() for k, v in expected.items()}


def test_a_spool_of_sealed_lines_from_an_older_writer_is_recovered_as_it_is(tmp_path):
    """A spool written before raw lines (every line sealed) is ingested byte for byte,
    and an episode continued in raw lines after it chains on its sealed events."""
    path = tmp_path / "o.duckdb"
    ops = _script(2, 2)
    logged = [op for op in ops if op != "commit"]
    ref, lines, times = _Reference("old"), [], {}
    raw_from = len(logged) - 4  # the last episode's last events: raw lines (a newer writer)
    for n, (episode_id, payload) in enumerate(logged):
        if episode_id == "end":
            events = ref.seqs[payload]
            placeholder = ev.EpisodeSealed(episode_id=payload, events=events, hash="")
            payload, episode_id = ref.seal_of(payload), None
        seq = ref.seqs.get(episode_id, 0)
        times[(episode_id, seq)] = 10_000 + n
        _, type_, sealed = ref.event(episode_id, 10_000 + n, payload)
        if n >= raw_from:
            raw = placeholder if type_ == "episode_sealed" else payload
            sealed = encode_payload(raw)
        lines.append(encode_line("old", episode_id, seq, 10_000 + n, type_, sealed))
    sidecar(path, ".spool").write_bytes(b"".join(lines))
    EventStore(path, run_id="next").close()
    stored = {k: v for k, v in _stored(path).items() if v[0] == "old"}
    expected = _expected("old", logged, times)
    assert {k: v[5] for k, v in stored.items()} == {k: v[2].decode() for k, v in expected.items()}
    con = connect(path)
    assert chain.check_chains(con).episodes == {}
    con.close()


def test_lines_no_writer_wrote_are_sealed_or_kept_and_never_stop_the_sealer(tmp_path):
    """Lines written by hand into a killed writer's spool: an ``"h"`` that is not 32 hex
    digits, an empty object, a payload that is not an object, a text that is no text, a
    placeholder without its fields. The next writer ingests them all (nothing raises), and
    the writer's own events after them still chain."""
    path = tmp_path / "h.duckdb"
    lines = [
        b'["r","e",0,1,"episode_started",{"v":2,"question_id":"q","h":"zz%s"}]\n' % (b"0" * 30),
        b'["r","e",1,2,"action_received",{"v":2,"step":0,"text":7,"tokens":null}]\n',
        b'["r","e",2,3,"action_received",{}]\n',
        b'["r","e",3,4,"tool_called",[1,2]]\n',
        b'["r","e",4,5,"action_rejected",{"v":2,"h":"00 11 22 33 44 55 66 77 88 99 aa"}]\n',
        b'["r",null,0,6,"episode_sealed",{"v":2,"hash":""}]\n',
        b'["r",null,1,7,"episode_sealed",{"v":2,"episode_id":"e","events":5,"hash":""}]\n',
    ]
    sidecar(path, ".spool").write_bytes(b"".join(lines))
    with EventStore(path, run_id="next") as store:
        store.emit(ev.ActionReceived(step=0, text="after them"), "n")
        store.commit()
        store.end_episode("n")
    con = connect(path)
    rows = con.execute(
        "SELECT episode_id, seq, CAST(payload AS VARCHAR) FROM events WHERE run_id = 'r' "
        "ORDER BY episode_id NULLS FIRST, seq"
    ).fetchall()
    report = chain.check_chains(con)
    con.close()
    assert len(rows) == len(lines)
    payloads = {(r[0], r[1]): msgspec.json.decode(r[2]) for r in rows}
    assert payloads[("e", 1)]["tokens"] == 0  # not text: no words
    assert payloads[("e", 3)] == [1, 2]  # not an object: kept as it is
    seal = payloads[(None, 1)]
    assert (seal["events"], seal["tokens"]) == (5, 0) and seal["summary"]["question_id"] == "q"
    assert "n" not in report.episodes and not any("next" in r for r in report.runs)

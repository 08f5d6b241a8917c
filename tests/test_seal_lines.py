"""Lines the sealer (`medenv.events.sealer`, `medenv.events.seal_summary`) meets that no
writer of this version writes, read through real stores: a killed writer's spool written by
hand, recovered by the next writer. What is stored must decode as the schema says, and an
episode's summary in its seal must be what the SQL projection of its events gives
(`medenv.events.summaries`, ``from_seals=False``)."""

from __future__ import annotations

import msgspec

from medenv.events.chain import check_chains, split
from medenv.events.files import sidecar
from medenv.events.schema import decode_payload
from medenv.events.sealer import Sealer
from medenv.events.store import EventStore, connect
from medenv.events.summaries import summaries

_STARTED = (
    b'{"v":2,"question_id":"q","seed":1,"split":"s","specialty":"neuro","n_hops":2,'
    b'"optimal_calls":3,"answer":"A","aliases":[],"prompt":"two words","config_hash":"c",'
    b'"tags":{"agent":"x"},"item":%b,"tokens":null}'
)


def _recovered(tmp_path, lines: list[bytes]):
    """A store whose killed writer left ``lines`` in its spool, after the next writer's
    recovery; a reading connection."""
    path = tmp_path / "s.duckdb"
    sidecar(path, ".spool").write_bytes(b"".join(lines))
    EventStore(path, run_id="next").close()
    return connect(path)


def test_an_item_that_is_not_an_object_is_summarised_as_the_projection_reads_it(tmp_path):
    """``item`` is a list, a string, a number: no rarity, not external, in the seal's
    summary as in the projection of the events."""
    lines = []
    for k, item in enumerate([b"[1,2]", b'"hpo"', b"7"]):
        eid = f"e{k}".encode()
        lines += [
            b'["r","%b",0,1,"episode_started",%b]\n' % (eid, _STARTED % item),
            b'["r","%b",1,2,"action_received",{"v":2,"step":0,"text":"a b","tokens":null}]\n' % eid,
            b'["r",null,%d,3,"episode_sealed",{"v":2,"episode_id":"%b","events":2,"hash":""}]\n'
            % (k, eid),
        ]
    con = _recovered(tmp_path, lines)
    sealed = [msgspec.structs.asdict(r) for r in summaries(con, runs=["r"])]
    projected = [msgspec.structs.asdict(r) for r in summaries(con, runs=["r"], from_seals=False)]
    seals = con.execute(
        "SELECT CAST(payload AS VARCHAR) FROM events WHERE type = 'episode_sealed' AND run_id = 'r'"
    ).fetchall()
    con.close()
    assert sealed == projected and len(sealed) == 3
    got = {(s.rarity, s.external, s.n_actions) for s in _summaries(seals)}
    assert len(seals) == 3 and got == {(None, False, 1)}


def _summaries(seals):
    return [decode_payload("episode_sealed", s[0]).summary for s in seals]


def test_a_placeholder_whose_count_is_not_a_number_is_sealed_as_a_seal_that_decodes(tmp_path):
    """A placeholder whose ``events`` is null or a string: sealed as a seal of 0 events (the
    empty chain's hash, no summary), which decodes as an `EpisodeSealed` and which the
    chain check reports as not matching the episode."""
    lines = [
        b'["r","e",0,1,"episode_started",%b]\n' % (_STARTED % b"{}"),
        b'["r","e",1,2,"action_received",{"v":2,"step":0,"text":"a b","tokens":null}]\n',
        b'["r",null,0,3,"episode_sealed",{"v":2,"episode_id":"e","events":null,"hash":""}]\n',
        b'["r","f",0,4,"episode_started",%b]\n' % (_STARTED % b"{}"),
        b'["r",null,1,5,"episode_sealed",{"v":2,"episode_id":"f","events":"1","hash":""}]\n',
    ]
    con = _recovered(tmp_path, lines)
    seals = con.execute(
        "SELECT CAST(payload AS VARCHAR) FROM events WHERE type = 'episode_sealed' "
        "AND run_id = 'r' ORDER BY seq"
    ).fetchall()
    report = check_chains(con)
    con.close()
    decoded = [decode_payload("episode_sealed", s[0]) for s in seals]
    assert [(d.episode_id, d.events, d.hash, d.tokens, d.summary) for d in decoded] == [
        ("e", 0, "0" * 32, 0, None),
        ("f", 0, "0" * 32, 0, None),
    ]
    assert {"e", "f"} <= set(report.episodes)


def test_only_a_run_level_seal_is_completed(tmp_path):
    """The placeholder's fields on a run-level event of another type, and on an
    ``episode_sealed`` inside an episode's own chain: neither is the writer's seal, so
    both are stored as written (with their hash in their chain)."""
    note = b'{"episode_id":"e","events":1,"hash":""}'
    lines = [
        b'["r","e",0,1,"episode_started",%b]\n' % (_STARTED % b"{}"),
        b'["r","e",1,2,"episode_sealed",{"v":2,"episode_id":"e","events":1,"hash":""}]\n',
        b'["r",null,0,3,"note",%b]\n' % note,
    ]
    con = _recovered(tmp_path, lines)
    rows = con.execute(
        "SELECT episode_id, CAST(payload AS VARCHAR) FROM events WHERE run_id = 'r' "
        "AND seq > 0 OR (run_id = 'r' AND type = 'note') ORDER BY episode_id NULLS FIRST"
    ).fetchall()
    con.close()
    assert [(e, split(p)[0]) for e, p in rows] == [
        (None, note.decode()),
        ("e", '{"v":2,"episode_id":"e","events":1,"hash":""}'),
    ]


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_payloads_nested_past_the_decoders_limit_never_stop_the_sealer():
    """JSON nested around the decoder's limit (about 1,000 levels in this stack) in an
    episode's start, a tool call, a reward, a placeholder: each is sealed and read as it
    is (`medenv.events.codec.decode_nested`): the start's prompt is counted, the summary
    holds its question id, and the episode's seal completes."""
    for depth in range(900, 1_040, 3):
        nest = _nested(depth)
        sealer = Sealer()
        started = b'{"v":2,"question_id":"q","tags":{"x":%b},"prompt":"a b","tokens":null}'
        sealer.seal("r", "e", 0, 1, "episode_started", started % nest)
        sealer.seal("r", "e", 1, 2, "tool_called", b'{"v":2,"step":0,"arguments":%b}' % nest)
        sealer.seal("r", "e", 2, 3, "reward_assigned", b'{"v":2,"components":%b}' % nest)
        sealer.seal("r", None, 0, 4, "episode_sealed", b'{"v":2,"x":%b,"hash":""}' % nest)
        seal = sealer.seal(
            "r", None, 1, 5, "episode_sealed", b'{"v":2,"episode_id":"e","events":3,"hash":""}'
        )
        decoded = msgspec.json.decode(seal)
        assert decoded["events"] == 3 and decoded["hash"] != "" and "h" in decoded, depth
        assert decoded["summary"]["question_id"] == "q" and decoded["tokens"] == 2, depth

"""Tamper evidence: events and whole episodes edited, inserted and deleted with SQL and by
editing the spool; `medenv replay --verify` must report each one, go on past it, and end with
a summary. The hash chain is recomputed here by a second, independent implementation."""

from __future__ import annotations

import hashlib
import json

import duckdb
import gymnasium as gym
import msgspec
import pytest

from medenv.cli import main
from medenv.errors import MedenvError
from medenv.events.chain import check_chains, link, seal
from medenv.events.store import EventStore, connect, read_episode
from medenv.verify import verify
from medenv.world import load_world
from tests.raw_events import private_copy
from tests.test_env import items, scripted_actions, world  # noqa: F401  (fixtures)


def resealed(rows, episode_id: str):
    """``(run_id, seq, ts_us, type, payload)`` rows re-hashed as a forger who knows the chain
    rule would, filed under ``episode_id``: each payload with a freshly computed ``h``, and
    the chain's value after it (the last one is what the episode's seal must name)."""
    prev = b"\0" * 16
    for run_id, seq, ts_us, type_, payload in rows:
        data = json.loads(payload)
        data.pop("h")
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        prev = link(prev, run_id, episode_id, seq, ts_us, type_, body)
        yield run_id, seq, ts_us, type_, seal(body, prev).decode(), prev


def _episodes(env, world, n, wrong=()):  # noqa: F811
    ids = []
    for seed in range(n):
        env.reset(seed=seed)
        ids.append(env.unwrapped.episode_id)
        actions = scripted_actions(world, env.unwrapped.item)
        if seed in wrong:
            actions = ["oops", actions[0], "<answer>Autosomal recessive inheritance</answer>"]
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
    return ids


@pytest.fixture(scope="module")
def written(tmp_path_factory, items, world):  # noqa: F811
    """Four ended episodes (one wrong) in a closed store, written once per module."""
    path = tmp_path_factory.mktemp("tamper") / "t.duckdb"
    env = gym.make("MedResearch-v0", qa=items, db=path, run_id="tp", max_steps=5)
    ids = _episodes(env.unwrapped, world, 4, wrong=(2,))
    env.close()
    return path, ids


@pytest.fixture
def store(written, tmp_path):
    """A copy of the written store of its own (tests edit it)."""
    return private_copy(written, tmp_path)


def independent_chain_problems(path) -> set[tuple[str | None, int]]:
    """A second implementation of the chain rule, straight from the stored rows: returns
    (episode_id, seq) of every event whose stored hash is not blake2b-16 over the previous
    stored hash and the event's fields (payload with its last key ``h`` removed)."""
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute(
        "SELECT run_id, episode_id, seq, epoch_us(ts), type, payload::VARCHAR FROM events "
        "ORDER BY run_id, episode_id NULLS FIRST, seq"
    ).fetchall()
    con.close()
    bad, prev_key, prev = set(), None, b"\0" * 16
    for run_id, episode_id, seq, ts_us, type_, payload in rows:
        if (run_id, episode_id) != prev_key:
            prev_key, prev = (run_id, episode_id), b"\0" * 16
        data = json.loads(payload)
        stored = data.get("h", "")
        cut = payload.rfind(',"h":"')
        body = payload[:cut] + "}" if cut > 0 else payload
        fields = "\x1f".join([run_id, episode_id or "", str(seq), str(ts_us), type_, ""])
        digest = hashlib.blake2b(prev + fields.encode() + body.encode(), digest_size=16)
        if digest.hexdigest() != stored:
            bad.add((episode_id, seq))
        prev = bytes.fromhex(stored) if len(stored) == 32 else b"\0" * 16
    return bad


def _rehash_episode(path, episode_id) -> None:
    """What a careful editor would do: recompute the episode's chain and its seal, so only
    the re-execution can tell the edit."""
    con = duckdb.connect(str(path))
    rows = con.execute(
        "SELECT run_id, seq, epoch_us(ts), type, payload::VARCHAR FROM events WHERE "
        "episode_id = ? ORDER BY seq",
        [episode_id],
    ).fetchall()
    chain = list(resealed(rows, episode_id))
    for _, seq, _, _, payload, _ in chain:
        con.execute(
            "UPDATE events SET payload = ? WHERE episode_id = ? AND seq = ?",
            [payload, episode_id, seq],
        )
    prev = chain[-1][5]
    # the run chain: fix the seal and every run-level event after it
    run = con.execute(
        "SELECT run_id, seq, epoch_us(ts), type, payload::VARCHAR FROM events WHERE "
        "episode_id IS NULL ORDER BY seq"
    ).fetchall()
    head = b"\0" * 16
    for run_id, seq, ts_us, type_, payload in run:
        data = json.loads(payload)
        data.pop("h")
        if type_ == "episode_sealed" and data["episode_id"] == episode_id:
            data["hash"] = prev.hex()
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        head = link(head, run_id, None, seq, ts_us, type_, body)
        con.execute(
            "UPDATE events SET payload = ? WHERE episode_id IS NULL AND seq = ?",
            [seal(body, head).decode(), seq],
        )
    con.close()


def _sql(path, sql, params=()):
    con = duckdb.connect(str(path))
    con.execute(sql, list(params))
    con.close()


def _verify_cli(path, capsys):
    code = main(["replay", "--db", str(path), "--verify"])
    out, err = capsys.readouterr()
    return code, out, err


def test_untouched_store_verifies_and_both_chain_implementations_agree(store, capsys):
    path, ids = store
    assert independent_chain_problems(path) == set()
    report = check_chains(connect(path))
    assert report.episodes == {} and report.runs == [] and report.open_runs == []
    assert report.checked == connect(path).execute("SELECT count(*) FROM events").fetchone()[0]
    code, out, err = _verify_cli(path, capsys)
    assert code == 0 and err == "" and "verified 4 episode(s): 4 ok, 0 failed" in out


@pytest.mark.parametrize(
    ("event", "patch", "field"),
    [
        ("reward_assigned", {"correct": True}, "reward_assigned.correct"),
        ("reward_assigned", {"evidence_recall": 0.5}, "reward_assigned.evidence_recall"),
        ("reward_assigned", {"efficiency": 1.0}, "reward_assigned.efficiency"),
        ("episode_ended", {"n_tool_calls": 3}, "episode_ended.n_tool_calls"),
        ("episode_ended", {"n_format_errors": 0}, "episode_ended.n_format_errors"),
        ("answer_submitted", {"answer": "Autosomal dominant inheritance"}, "answer"),
    ],
)
def test_edits_of_derived_fields_are_caught_by_the_chain_and_by_recomputation(
    store, capsys, event, patch, field
):
    path, ids = store
    victim = ids[2]  # the wrong episode: its numbers are the ones worth faking
    _sql(
        path,
        "UPDATE events SET payload = json_merge_patch(payload, ?) WHERE episode_id = ? AND "
        "type = ?",
        [json.dumps(patch), victim, event],
    )
    assert {e for e, _ in independent_chain_problems(path)} == {victim}
    result = verify(path, victim)
    assert not result.ok and "does not match the hash chain" in result.problems[0]
    _rehash_episode(path, victim)  # hide it from the chain: the re-execution still tells
    assert independent_chain_problems(path) == set()
    result = verify(path, victim)
    assert not result.ok
    assert any(field in p and "differs" in p for p in result.problems), result.problems
    code, out, err = _verify_cli(path, capsys)
    assert code == 1 and f"FAIL episode {victim}:" in err
    assert "verified 4 episode(s): 3 ok, 1 failed (re-execution differs: 1)" in out


def test_inserted_and_deleted_events_and_episodes_are_reported_and_verify_goes_on(store, capsys):
    path, ids = store
    con = duckdb.connect(str(path))
    # insert: a copy of step 0's action with the same seq, in episode 0
    con.execute(
        "INSERT INTO events SELECT run_id, episode_id, seq, ts, type, payload FROM events "
        "WHERE episode_id = ? AND type = 'action_received' ORDER BY seq LIMIT 1",
        [ids[0]],
    )
    # delete: episode 1's first tool_returned
    con.execute(
        "DELETE FROM events WHERE episode_id = ? AND seq = (SELECT min(seq) FROM events WHERE "
        "episode_id = ? AND type = 'tool_returned')",
        [ids[1], ids[1]],
    )
    # delete a whole episode, keeping its seal in the run chain
    con.execute("DELETE FROM events WHERE episode_id = ?", [ids[3]])
    con.close()
    code, out, err = _verify_cli(path, capsys)
    lines = err.strip().splitlines()
    assert code == 1
    assert any(ids[0] in line and "appears twice (inserted?)" in line for line in lines)
    assert any(ids[1] in line and "missing (deleted?)" in line for line in lines)
    assert any(ids[3] in line and "missing from the store (deleted?)" in line for line in lines), (
        err
    )
    # episode 2 is untouched and still verified: verify went on past the failures
    assert f"ok   episode {ids[2]}" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("verified 4 episode(s): 1 ok, 3 failed (")
    assert "deleted episode: 1" in summary and "inserted event: 1" in summary


def test_deleting_an_episode_and_its_seal_breaks_the_run_chain(store, capsys):
    path, ids = store
    _sql(path, "DELETE FROM events WHERE episode_id = ?", [ids[1]])
    _sql(
        path,
        "DELETE FROM events WHERE type = 'episode_sealed' AND payload->>'$.episode_id' = ?",
        [ids[1]],
    )
    code, out, err = _verify_cli(path, capsys)
    assert code == 1 and "FAIL run tp" in err and "missing (deleted?)" in err
    assert "run-chain problem(s)" in out


def test_a_whole_inserted_episode_is_not_sealed(store, capsys):
    """A forged episode with a valid chain of its own is still not in the run chain."""
    path, ids = store
    con = duckdb.connect(str(path))
    rows = con.execute(
        "SELECT run_id, seq, epoch_us(ts), type, payload::VARCHAR FROM events WHERE "
        "episode_id = ? ORDER BY seq",
        [ids[0]],
    ).fetchall()
    fake = "tp-s0-e999999"
    for run_id, seq, ts_us, type_, payload, _ in resealed(rows, fake):
        con.execute(
            "INSERT INTO events VALUES (?, ?, ?, make_timestamp(?), ?, ?)",
            [run_id, fake, seq, ts_us, type_, payload],
        )
    con.close()
    assert verify(path, ids[0]).ok
    result = verify(path, fake)
    assert not result.ok and "not sealed in its run's chain" in result.problems[0]
    code, _, err = _verify_cli(path, capsys)
    assert code == 1 and f"FAIL episode {fake}: ended but not sealed" in err


def _abandoned_writer(path, items, world):  # noqa: F811
    """Two episodes left in the spool only, as a killed writer leaves them."""
    env = gym.make("MedResearch-v0", qa=items, db=path, run_id="sp", max_steps=5)
    ids = _episodes(env.unwrapped, world, 2)
    store = env.unwrapped.store
    store._spool.close()
    store._lock.release()
    store.con.close()
    env.unwrapped.store = None
    return ids


def test_editing_the_spool_is_reported(tmp_path, items, world, capsys):  # noqa: F811
    path = tmp_path / "s.duckdb"
    ids = _abandoned_writer(path, items, world)
    spool = tmp_path / "s.duckdb.spool"
    assert verify(path, ids[0]).ok and verify(path, ids[1]).ok
    lines = spool.read_bytes().splitlines(keepends=True)
    edited = [
        line.replace(b"Autosomal", b"Autosomol", 1) if b'"step",[' in line else line
        for line in lines
    ]  # an observation in a step's line (`medenv.events.logged_step`)
    first = next(i for i, line in enumerate(lines) if ids[1].encode() in line)
    assert b'"step",[' in edited[first + 2]
    del edited[first + 2]  # a step of episode 1: its events
    extra = edited[first].replace(b'",0,', b'",40,', 1)  # a copy of its start, as seq 40
    assert extra != edited[first]
    edited.insert(first + 5, extra)
    spool.write_bytes(b"".join(edited))
    code, out, err = _verify_cli(path, capsys)
    assert code == 1
    # the spool holds raw lines (sealed where they become rows): an edit there is not a
    # chain break, but re-execution shows it; deletions and insertions break the sequence
    assert f"FAIL episode {ids[0]}: step " in err and "observation differs" in err
    tail = err.split(f"FAIL episode {ids[1]}:")[1]
    assert "missing (deleted?)" in tail and "event(s) seq" in tail and "seq 40" in tail
    # a writer ingests the spool as it is: the damage stays evident in DuckDB
    EventStore(path, run_id="next").close()
    assert not spool.exists()
    assert not verify(path, ids[0]).ok and not verify(path, ids[1]).ok


def test_verify_with_non_default_tools_weights_and_world(tmp_path, items, world):  # noqa: F811
    path = tmp_path / "cfg.duckdb"
    weights = {"accuracy": 2.0, "format": 0.5, "efficiency": 0.1}
    env = gym.make(
        "MedResearch-v0", qa=items, db=path, run_id="cfg", max_steps=4, world=world,
        tools=("medical_search", "browse"), reward_weights=weights,
    )  # fmt: skip
    env.reset(seed=0)
    episode = env.unwrapped.episode_id
    for action in scripted_actions(world, env.unwrapped.item):
        _, reward, *_ = env.step(action)
    env.close()
    assert reward == pytest.approx(2.0 + 0.5 + 0.1)
    # a world `load_world` built is recorded by its recipe: verify rebuilds it unasked
    assert verify(path, episode).ok
    assert verify(path, episode, world=world).ok
    # the replay env must use the logged tools and weights: a web_search step is rejected
    # only with the logged tool set, and the reward only matches with the logged weights
    con = duckdb.connect(str(path))
    cfg = con.execute("SELECT payload FROM events WHERE type = 'run_started'").fetchone()[0]
    con.close()
    assert json.loads(cfg)["config"]["tools"] == ["medical_search", "browse", "answer"]


@pytest.mark.parametrize(
    ("sql", "field"),
    [
        (
            'UPDATE events SET payload = json_merge_patch(payload, \'{"corpus_hash": "x"}\') '
            "WHERE type = 'run_started'",
            "world",
        ),
        (
            'UPDATE events SET payload = json_merge_patch(payload, \'{"prompt": "hello"}\') '
            "WHERE type = 'episode_started'",
            "prompt",
        ),
        (
            "UPDATE events SET payload = json_merge_patch(payload, "
            "'{\"terminated\": false, \"truncated\": true}') WHERE type = 'episode_ended'",
            "terminated",
        ),
        (
            "UPDATE events SET payload = json_merge_patch(payload, '{\"truncated\": true}') "
            "WHERE type = 'episode_ended'",
            "truncated",
        ),
    ],
    ids=["world", "prompt", "end-flag", "truncated-flag"],
)
def test_world_prompt_and_end_flag_mismatches_are_named(store, sql, field):
    path, ids = store
    _sql(path, sql)
    result = verify(path, ids[0])
    assert not result.ok and result.field == field, result.problems
    at_reset = field in ("world", "prompt")
    assert result.step == (-1 if at_reset else 2)
    assert (result.episode_id, result.steps_checked) == (ids[0], 0 if at_reset else 2)
    if field == "world":
        assert (result.expected, result.got) == ("x", load_world(progress=False).fingerprint)
    if field == "terminated":  # logged: truncated by finish(); re-executed: the answer ends it
        assert (result.expected, result.got) == (False, True)
    if field == "truncated":  # logged: both flags
        assert (result.expected, result.got) == (True, False)


def test_a_schema_v1_store_still_verifies_without_a_chain(store, capsys):
    """A store written before the hash chain: no "h", no seals, v = 1."""
    path, ids = store
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM events WHERE type IN ('episode_sealed', 'run_closed')")
    rows = con.execute("SELECT rowid, payload::VARCHAR FROM events").fetchall()
    for rowid, payload in rows:
        data = json.loads(payload)
        data.pop("h")
        data["v"] = 1
        con.execute("UPDATE events SET payload = ? WHERE rowid = ?", [json.dumps(data), rowid])
    con.close()
    assert independent_chain_problems(path) == {(e, s) for e, s in _all_keys(path)}
    result = verify(path, ids[0])
    assert result.ok and result.legacy and "schema v1: no hash chain" in result.message
    code, out, err = _verify_cli(path, capsys)
    assert code == 0 and err == "", err
    assert "verified 4 episode(s): 4 ok, 0 failed; 4 written before the hash chain" in out


def _all_keys(path):
    con = duckdb.connect(str(path), read_only=True)
    keys = con.execute("SELECT episode_id, seq FROM events").fetchall()
    con.close()
    return keys


def test_a_failed_step_is_dropped_whole_and_the_chain_goes_on(tmp_path):
    from medenv.events import schema as ev

    path = tmp_path / "d.duckdb"
    with EventStore(path, run_id="d") as store:
        store.emit(ev.ActionReceived(step=0, text="kept"), "e1")
        store.commit()
        store.emit(ev.ActionReceived(step=1, text="half"), "e1")
        store.emit(ev.ToolCalled(step=1, name="browse", arguments={}), "e1")
        store.discard()  # the step failed half-way
        store.emit(ev.ActionReceived(step=1, text="again"), "e1")
        store.commit()
        store.end_episode("e1")
    con = connect(path)
    rows = con.execute(
        "SELECT seq, payload->>'$.text' FROM events WHERE episode_id = 'e1' ORDER BY seq"
    ).fetchall()
    assert rows == [(0, "kept"), (1, "again")]
    assert independent_chain_problems(path) == set()
    report = check_chains(con)
    assert report.episodes == {} and report.runs == []


def _variant(path, episode_id, change):
    """The episode's logged events, changed in memory (the store stays as it is)."""
    return change(read_episode(connect(path), episode_id))


def test_events_added_or_dropped_are_named_by_position_and_type(store):
    path, ids = store
    mine = lambda evs: [e for e in evs if e.episode_id == ids[0]]  # noqa: E731
    # one more event after the end: the fresh env emits nothing there
    extra = _variant(path, ids[0], lambda evs: [*evs, mine(evs)[-1]])
    n = len(mine(extra)) - 1
    result = verify(path, ids[0], chain=False, events=extra)
    assert result.problems == [
        f"event {n}: logged episode_ended, re-executed nothing (events inserted or deleted?)"
    ]
    # a tool_called dropped: the logged episode still replays, its events do not line up
    first_call = lambda evs: next(e for e in mine(evs) if e.type == "tool_called")  # noqa: E731
    fewer = _variant(path, ids[0], lambda evs: [e for e in evs if e is not first_call(evs)])
    result = verify(path, ids[0], chain=False, events=fewer)
    assert result.problems == [
        "event 2: logged tool_returned, re-executed tool_called (events inserted or deleted?)"
    ]


def test_a_difference_shows_both_values_clipped_to_300_characters(store):
    path, ids = store

    def long_prompt(evs):
        return [
            msgspec.structs.replace(e, payload=msgspec.structs.replace(e.payload, prompt="x" * 400))
            if e.type == "episode_started" else e
            for e in evs
        ]  # fmt: skip

    result = verify(path, ids[0], chain=False, events=_variant(path, ids[0], long_prompt))
    assert (result.step, result.field, result.expected) == (-1, "prompt", "x" * 400)
    shown = repr(result.got)
    assert len(shown) > 300  # the real prompt, clipped too
    assert result.problems == [
        f"reset: prompt differs: logged '{'x' * 299} [... 102 more chars], re-executed "
        f"{shown[:300]} [... {len(shown) - 300} more chars]"
    ]


def test_reward_components_are_compared_unless_logged_before_named_terms(store):
    path, ids = store

    def components(value):
        def change(evs):
            return [
                msgspec.structs.replace(e, payload=msgspec.structs.replace(e.payload, components=value))
                if e.type == "reward_assigned" else e
                for e in evs
            ]  # fmt: skip

        return change

    legacy = _variant(path, ids[0], components({}))  # a log older than named terms
    assert verify(path, ids[0], chain=False, events=legacy).ok
    faked = _variant(path, ids[0], components({"accuracy": 1.0, "format": 0.0}))
    result = verify(path, ids[0], chain=False, events=faked)
    assert not result.ok and result.problems[0].startswith(
        "reward_assigned.components differs: logged {'accuracy': 1.0, 'format': 0.0}"
    ), result.problems


def test_a_custom_world_is_replayed_in_the_world_passed(tmp_path, world):  # noqa: F811
    """A world `World.for_kg` built has no recipe in the log: verify needs it passed, and
    replays in it (not in the default world of the logged source)."""
    from medenv.world import World
    from tests.test_env import make_items
    from tests.test_search import make_slice

    small = World.for_kg(make_slice(world.kg))
    path = tmp_path / "custom.duckdb"
    env = gym.make("MedResearch-v0", qa=make_items(small.kg, n=2), db=path, run_id="c", world=small)
    env.reset(seed=0)
    episode = env.unwrapped.episode_id
    for action in scripted_actions(small, env.unwrapped.item):
        env.step(action)
    env.close()
    assert small.fingerprint != world.fingerprint
    with pytest.raises(MedenvError, match=(
        r"^run c used a custom world \(World.for_kg \.\.\.\): pass world= to verify "
        r"\(CLI: the KG flags --source/--path\)$"
    )):  # fmt: skip
        verify(path, episode)
    result = verify(path, episode, world=small)
    assert result.ok and result.steps_checked == 3, result.problems
    wrong = verify(path, episode, world=world)  # the default world: the log names another
    assert (wrong.ok, wrong.step, wrong.field) == (False, -1, "world")


def test_a_difference_in_a_step_event_names_its_step(store):
    """An edit the re-execution does not depend on (the logged arguments of the second
    step's call) is found by the event comparison, named by step, event type and field."""
    path, ids = store

    def edit(evs):
        calls = [e for e in evs if e.episode_id == ids[0] and e.type == "tool_called"]
        changed = msgspec.structs.replace(calls[1].payload, arguments={"url": "forged"})
        return [msgspec.structs.replace(e, payload=changed) if e is calls[1] else e for e in evs]

    logged = read_episode(connect(path), ids[0])
    real = next(e for e in logged if e.type == "tool_called" and e.payload.step == 1)
    result = verify(path, ids[0], chain=False, events=edit(logged))
    assert result.problems == [
        "step 1: tool_called.arguments differs: logged {'url': 'forged'}, re-executed "
        f"{real.payload.arguments!r}"
    ], result.problems


def test_a_long_difference_in_an_event_shows_both_values_clipped_to_200_characters(store):
    """A key added to the logged question (the rebuilt env ignores unknown keys, so the
    re-execution matches): the event comparison shows both long values, clipped."""
    path, ids = store

    def edit(evs):
        return [
            msgspec.structs.replace(e, payload=msgspec.structs.replace(
                e.payload, item={**e.payload.item, "forged": 1}))
            if e.type == "episode_started" else e
            for e in evs
        ]  # fmt: skip

    logged = read_episode(connect(path), ids[0])
    real = repr(next(e for e in logged if e.type == "episode_started").payload.item)
    forged = real[:-1] + ", 'forged': 1}"
    assert len(real) > 200
    result = verify(path, ids[0], chain=False, events=edit(logged))
    assert result.problems == [
        f"episode_started.item differs: logged {forged[:200]} [... {len(forged) - 200} more "
        f"chars], re-executed {real[:200]} [... {len(real) - 200} more chars]"
    ], result.problems


def test_an_episode_without_its_run_started_cannot_be_replayed(store):
    path, ids = store
    events = [e for e in read_episode(connect(path), ids[0]) if e.type != "run_started"]
    with pytest.raises(MedenvError, match="^run tp has no run_started event: cannot rebuild"):
        verify(path, ids[0], chain=False, events=events)


def test_a_world_load_world_built_from_an_edge_list_is_rebuilt_from_its_recipe(
    tmp_path, monkeypatch
):
    """A world `load_world` built (not the env's default) is logged as its recipe: verify
    rebuilds that world unasked, and the re-execution runs in it."""
    from medenv.world import load_world
    from tests.test_env import make_items

    monkeypatch.setenv("MEDENV_HOME", str(tmp_path / "home"))
    rows = ["source,relation,target,source_type,target_type,source_name,target_name"]
    rows += [
        f"D{k},has_inheritance,I{k % 2},disease,inheritance,Syndrome {k},Pattern {k % 2}"
        for k in range(4)
    ]
    edges = tmp_path / "kg.csv"
    edges.write_text("\n".join(rows) + "\n", encoding="utf-8")
    small = load_world("edgelist", path=str(edges), progress=False)
    path = tmp_path / "recipe.duckdb"
    env = gym.make("MedResearch-v0", qa=make_items(small.kg), db=path, run_id="r", world=small)
    env.reset(seed=0)
    episode = env.unwrapped.episode_id
    for action in scripted_actions(small, env.unwrapped.item):
        env.step(action)
    env.close()
    con = duckdb.connect(str(path))
    cfg = json.loads(con.execute("SELECT payload FROM events WHERE type = 'run_started'").fetchone()[0])
    con.close()
    assert cfg["config"]["world"]["source"] == "edgelist"
    result = verify(path, episode)
    assert result.ok and result.steps_checked == 3, result.problems


def test_a_logged_question_that_is_not_a_question_is_one_error(store):
    path, ids = store
    events = [
        msgspec.structs.replace(e, payload=msgspec.structs.replace(e.payload, item={"id": 7}))
        if e.type == "episode_started" else e
        for e in read_episode(connect(path), ids[0])
    ]  # fmt: skip
    with pytest.raises(MedenvError, match=f"^episode {ids[0]}: the logged question is bad: "):
        verify(path, ids[0], chain=False, events=events)


def test_a_run_with_parallel_calls_is_replayed_with_them(tmp_path, items, world):  # noqa: F811
    path = tmp_path / "par.duckdb"
    env = gym.make("MedResearch-v0", qa=items, db=path, run_id="par", parallel_calls=True)
    env.reset(seed=0)
    episode = env.unwrapped.episode_id
    two = (
        '<tool_call>{"name": "medical_search", "arguments": {"query": "ataxia"}}</tool_call>'
        '<tool_call>{"name": "web_search", "arguments": {"query": "ataxia"}}</tool_call>'
    )
    _, _, _, _, info = env.step(two)
    assert info["error"] == ""  # both calls ran: a run without parallel calls rejects this
    env.step("<answer>x</answer>")
    env.close()
    result = verify(path, episode)
    assert result.ok and result.steps_checked == 2, result.problems


@pytest.mark.parametrize(("kind", "field"), [("tool_returned", "observation"),
                                             ("reward_assigned", "total")])  # fmt: skip
def test_an_observation_or_reward_difference_names_both_values(store, kind, field):
    """The first logged observation (step 1) or the final reward, forged in memory: the
    result names the step, both values and how many steps matched before it."""
    path, ids = store
    logged = read_episode(connect(path), ids[0])
    of_kind = [e for e in logged if e.episode_id == ids[0] and e.type == kind]
    target = of_kind[1] if kind == "tool_returned" else of_kind[-1]
    real = getattr(target.payload, field)
    forged = "forged page" if kind == "tool_returned" else 9.0
    events = [
        msgspec.structs.replace(e, payload=msgspec.structs.replace(e.payload, **{field: forged}))
        if e is target else e
        for e in logged
    ]  # fmt: skip
    result = verify(path, ids[0], chain=False, events=events)
    step = 1 if kind == "tool_returned" else 2
    name = "observation" if kind == "tool_returned" else "reward"
    assert (result.ok, result.step, result.field) == (False, step, name), result.problems
    assert (result.expected, result.got, result.steps_checked) == (forged, real, step)


def test_an_abandoned_episode_is_replayed_and_abandoned_the_same_way(tmp_path, items, world):  # noqa: F811
    """An episode left mid-way by a reset ends with neither flag; its replay ends the same."""
    path = tmp_path / "left.duckdb"
    env = gym.make("MedResearch-v0", qa=items, db=path, run_id="left")
    env.reset(seed=0)
    left = env.unwrapped.episode_id
    env.step(scripted_actions(world, env.unwrapped.item)[0])
    env.reset(seed=1)
    env.close()
    ended = [e for e in read_episode(connect(path), left) if e.type == "episode_ended"]
    assert [(e.payload.terminated, e.payload.truncated) for e in ended] == [(False, False)]
    result = verify(path, left)
    assert result.ok and result.steps_checked == 1, result.problems


def test_events_that_make_no_episode_are_one_problem_after_the_chains(store):
    """No episode_started among the events: verify reports it (after the chain's own
    problems) instead of raising, and checked no step."""
    path, ids = store
    events = [e for e in read_episode(connect(path), ids[1]) if e.type != "episode_started"]
    result = verify(path, ids[1], events=events)  # the stored chain is intact
    assert (result.ok, result.steps_checked, result.episode_id) == (False, 0, ids[1])
    assert result.problems == ["the events hold no episode_started event"]
    assert result.message == f"episode {ids[1]}: the events hold no episode_started event"
    _sql(path, "DELETE FROM events WHERE episode_id = ? AND type = 'tool_returned'", [ids[1]])
    broken = verify(path, ids[1], events=events)  # and now the chain is broken too
    assert not broken.ok and len(broken.problems) >= 2
    assert broken.problems[-1] == "the events hold no episode_started event"
    assert any("chain" in p or "seal" in p for p in broken.problems[:-1]), broken.problems


def test_one_schema_v1_episode_among_chained_ones_is_the_only_legacy_one(store):
    """A store holding an episode written before the hash chain (v = 1) and chained ones:
    only that episode is flagged as legacy."""
    path, ids = store
    con = duckdb.connect(str(path))
    rows = con.execute(
        "SELECT rowid, payload::VARCHAR FROM events WHERE episode_id = ?", [ids[0]]
    ).fetchall()
    for rowid, payload in rows:
        data = json.loads(payload)
        data["v"] = 1
        con.execute("UPDATE events SET payload = ? WHERE rowid = ?", [json.dumps(data), rowid])
    con.close()
    old = verify(path, ids[0], chain=False)
    assert old.ok and old.legacy and old.message.endswith("(schema v1: no hash chain)")
    for episode_id in ids[1:]:
        new = verify(path, episode_id)
        assert new.ok and not new.legacy, new.problems
        assert new.message.endswith("steps reproduced exactly")


def test_a_log_that_goes_on_after_its_step_limit_is_named_at_the_limit(tmp_path, items, world):  # noqa: F811
    """An episode truncated at its step limit (step 1 of max_steps=2, paid 0), its log
    forged to go on with one more step: the replay truncates at step 1, where the log says
    it did not (expected False, since the log's episode ends later)."""
    path = tmp_path / "limit.duckdb"
    weights = {"accuracy": 1.0, "format": 0.0, "efficiency": 0.0}  # no answer: reward 0
    env = gym.make(
        "MedResearch-v0", qa=items, db=path, run_id="lim", max_steps=2, reward_weights=weights
    )
    env.reset(seed=0)
    episode = env.unwrapped.episode_id
    search = scripted_actions(world, env.unwrapped.item)[0]
    steps = [env.step(search)[1:4] for _ in range(2)]
    env.close()
    assert steps == [(0.0, False, False), (0.0, False, True)]
    assert verify(path, episode).ok

    def one_more_step(events):
        last = [e for e in events if getattr(e.payload, "step", None) == 1]
        more = [
            msgspec.structs.replace(e, payload=msgspec.structs.replace(e.payload, step=2))
            for e in last
        ]
        at = max(events.index(e) for e in last) + 1
        return events[:at] + more + events[at:]

    result = verify(path, episode, chain=False, events=_variant(path, episode, one_more_step))
    assert (result.field, result.step, result.steps_checked) == ("truncated", 1, 1), result.problems
    assert (result.expected, result.got) == (False, True)

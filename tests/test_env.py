"""MedResearch-v0 over the default world (real KG, corpus and tantivy index), with questions
built from real KG edges, and a real DuckDB event store."""

from __future__ import annotations

import warnings

import gymnasium as gym
import msgspec
import pytest

import medenv  # noqa: F401  (registers MedResearch-v0)
from medenv.env import ACTION_MAX_CHARS, INFO_KEYS
from medenv.errors import MedenvError
from medenv.events.store import EventStore, connect
from medenv.synth.qa import Hop, QAItem
from medenv.tools.parsing import PARSER_VERSION


def make_items(kg, n: int = 24) -> list[QAItem]:
    """One-hop questions from real ``has_inheritance`` edges (diseases in id order)."""
    items = []
    for disease_id in sorted(node.id for node in kg.nodes("disease")):
        edges = kg.out_edges(disease_id, "has_inheritance")
        if len(edges) != 1:
            continue
        disease, target = kg.node(disease_id), kg.node(edges[0].target)
        k = len(items)
        items.append(
            QAItem(
                id=f"inh-{k:03d}",
                question=f"What is the mode of inheritance of {disease.name}?",
                answer=target.name,
                answer_id=target.id,
                aliases=tuple(target.synonyms),
                chain=(disease_id, target.id),
                hops=(Hop(disease_id, "has_inheritance", target.id),),
                n_hops=1,
                specialty=("neurology", "cardiology")[k % 2],
                optimal_calls=3,
                evidence=((f"med:{disease_id}",),),
                split="test" if k % 3 == 0 else "train",
            )
        )
        if len(items) == n:
            return items
    return items


def scripted_actions(world, item: QAItem) -> list:
    """An ideal agent: search the disease, browse its page, answer (three action forms)."""
    name = world.kg.node(item.chain[0]).name
    url = world.corpus.get(f"med:{item.chain[0]}").url
    return [
        f'<think>find {name}</think>\n<tool_call>\n{{"name": "medical_search", "arguments": '
        f'{{"query": "{name}"}}}}\n</tool_call>',
        {"name": "browse", "arguments": {"url": url, "goal": "mode of inheritance"}},
        f"<think>done</think>\n<answer>{item.answer}</answer>",
    ]


@pytest.fixture(scope="session")
def world():
    from medenv.world import load_world

    return load_world(progress=False)


@pytest.fixture(scope="session")
def items(world):
    return make_items(world.kg)


@pytest.fixture
def make_env(items, tmp_path):
    envs = []

    def make(**kwargs):
        kwargs.setdefault("qa", items)
        kwargs.setdefault("db", tmp_path / "events.duckdb")
        env = gym.make("MedResearch-v0", **kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def test_check_env_passes_without_warnings(make_env, world):
    from gymnasium.utils.env_checker import check_env

    env = make_env()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []
    space = env.observation_space
    for text in (' <tool_call>{"a": 1}</tool_call>\n\t', "α-synuclein ß Ménière → ≥ 5 µg", ""):
        assert space.contains(text) and env.action_space.contains(text)


def test_ideal_episode_reward_info_and_no_leak(make_env, world, items):
    env = make_env(tags={"agent": "scripted", "training_step": 3})
    prompt, info = env.reset(seed=0, options={"question_id": "inh-004"})
    item = env.unwrapped.item
    assert item.id == "inh-004" and item.question in prompt and "<tool_call>" in prompt
    assert tuple(info) == INFO_KEYS and info["budget"] == 12 and info["step"] == 0
    types = {k: type(v) for k, v in info.items()}
    infos, rewards = [info], []
    for action in scripted_actions(world, item):
        obs, reward, terminated, truncated, info = env.step(action)
        infos.append(info)
        rewards.append(reward)
        assert env.observation_space.contains(obs)
    assert terminated and not truncated
    assert rewards[:-1] == [0.0, 0.0] and rewards[-1] == pytest.approx(1.4)
    assert info["correct"] and info["accuracy"] == 1.0 and info["evidence_recall"] == 1.0
    assert [i["tool"] for i in infos[1:]] == ["medical_search", "browse", "answer"]
    for i in infos:  # same keys and types on every step; never the answer or the chain
        assert {k: type(v) for k, v in i.items()} == types
        flat = msgspec.json.encode(i).decode()
        assert item.answer not in flat and item.answer_id not in flat
        assert item.chain[0] not in flat
    with pytest.raises(MedenvError, match="reset"):
        env.step("<answer>again</answer>")
    env.close()
    con = connect(env.unwrapped.store_path)
    row = con.execute(
        "SELECT question_id, correct, reward, n_tool_calls, n_format_errors, steps, agent, "
        "training_step, specialty, n_hops, optimal_calls, prediction FROM episodes"
    ).fetchone()
    assert row == (
        "inh-004",
        True,
        pytest.approx(1.4),
        3,
        0,
        3,
        "scripted",
        3,
        item.specialty,
        1,
        3,
        item.answer,
    )
    run = con.execute("SELECT kg_source, corpus_hash, parser_version, seed FROM runs").fetchone()
    assert run == ("hpo", world.fingerprint, PARSER_VERSION, 0)


def test_reset_options_select_questions(make_env, items):
    env = make_env(db=None)
    for seed in range(6):
        _, info = env.reset(seed=seed, options={"split": "test", "specialty": "neurology"})
        item = env.unwrapped.item
        assert item.split == "test" and item.specialty == "neurology"
    env.reset(options={"hops": 1})
    picks = [env.reset(seed=s)[1]["question_id"] for s in (1, 2, 1)]
    assert picks[0] == picks[2]
    assert len({env.reset(seed=s)[1]["question_id"] for s in range(12)}) > 3
    with pytest.raises(MedenvError, match="no question 'nope'"):
        env.reset(options={"question_id": "nope"})
    with pytest.raises(MedenvError, match="no question matches"):
        env.reset(options={"hops": 5})
    with pytest.raises(MedenvError, match="unknown reset option"):
        env.reset(options={"difficulty": 1})


MALFORMED = [
    ("", "no_call"),
    ('<tool_call>{"name": "medical_search", "arguments": {"query": "atax', "bad_json"),
    ('<tool_call>{"name": "pubmed", "arguments": {"query": "x"}}</tool_call>', "unknown_tool"),
    ('{"name": "medical_search", "arguments": {"query": 42}}', "bad_arguments"),
    ('{"name": "medical_search", "arguments": {"query": "   "}}', "bad_arguments"),  # registry
    (
        '<tool_call>{"name": "medical_search", "arguments": {"query": "a"}}</tool_call>'
        '<tool_call>{"name": "web_search", "arguments": {"query": "b"}}</tool_call>',
        "several_calls",
    ),
    ("word " * 250_000, "no_call"),  # 1.25 MB
    ({"tool_calls": "nope"}, "bad_json"),
    ({"name": "medical_search", "arguments": {"query": 1, "extra": 2}}, "bad_arguments"),
    ("\ud83d lone surrogates cannot be UTF-8 \udc00", "no_call"),  # logged as U+FFFD
    (3.5, "no_call"),
]


def test_malformed_actions_never_raise(make_env):
    env = make_env(max_steps=len(MALFORMED))
    _, first = env.reset(seed=1)
    types = {k: type(v) for k, v in first.items()}
    for n, (action, kind) in enumerate(MALFORMED, start=1):
        obs, reward, terminated, truncated, info = env.step(action)
        assert {k: type(v) for k, v in info.items()} == types  # what Minari's DataCollector checks
        assert info["error"] == kind, (
            action if isinstance(action, str) and len(action) < 200 else kind
        )
        assert obs.startswith(f"Error ({kind}):") and env.observation_space.contains(obs)
        assert info["tool"] == "" and not terminated
        assert truncated == (n == len(MALFORMED))
    assert reward == 0.0 and info["format"] == 0.0 and info["budget"] == 0
    env.close()
    con = connect(env.unwrapped.store_path)
    kinds = [r[0] for r in con.execute("SELECT error_kind FROM steps ORDER BY step").fetchall()]
    assert kinds == [k for _, k in MALFORMED]
    assert con.execute("SELECT n_format_errors, truncated FROM episodes").fetchone() == (
        len(MALFORMED),
        True,
    )
    longest = con.execute(
        "SELECT action, payload->>'$.truncated_from' FROM steps JOIN events USING (episode_id, ts) "
        "WHERE type = 'action_received' ORDER BY length(action) DESC LIMIT 1"
    ).fetchone()
    # logged cut to what the env read, with a marker and the original length
    assert longest[0] == ("word " * 250_000)[:ACTION_MAX_CHARS] + (
        f"\n[... truncated: the action had 1250000 characters; the env read the first "
        f"{ACTION_MAX_CHARS}]"
    )
    assert longest[1] == "1250000"
    actions = [r[0] for r in con.execute("SELECT action FROM steps ORDER BY step").fetchall()]
    assert "\ufffd lone surrogates cannot be UTF-8 \ufffd" in actions


def test_make_kwargs_tools_weights_default_db_and_run_metadata(items, world, tmp_path, monkeypatch):
    import json

    home = tmp_path / "home"
    monkeypatch.setenv("MEDENV_HOME", str(home))
    weights = {"accuracy": 2.0, "format": 0.0, "efficiency": 0.0}
    env = gym.make(
        "MedResearch-v0", qa=items, world=world, tools=["medical_search"], reward_weights=weights
    )
    _, info = env.reset(seed=7, options={"question_id": "inh-004"})
    names = [s["function"]["name"] for s in json.loads(info["tools"])]
    assert names == ["medical_search", "answer"]  # `answer` is always kept
    obs, _, _, _, info = env.step(
        '<tool_call>{"name": "web_search", "arguments": {"query": "x"}}</tool_call>'
    )
    assert info["error"] == "unknown_tool" and "Available tools: answer, medical_search." in obs
    _, reward, terminated, _, info = env.step(f"<answer>{env.unwrapped.item.answer}</answer>")
    assert terminated and reward == 2.0 and info["format"] == 0.5
    env.close()
    path = home / "runs" / "events.duckdb"  # the default store, under MEDENV_HOME
    assert env.unwrapped.store_path == path and path.is_file()
    con = connect(path)
    run = con.execute(
        "SELECT kg_source, kg_version, corpus_hash, index_hash, parser_version, seed, "
        "reward_weights FROM runs"
    ).fetchone()
    assert run[:6] == (
        "hpo", world.kg.version, world.fingerprint, world.index_hash, PARSER_VERSION, 7
    )  # fmt: skip
    assert json.loads(run[6]) == {**weights, "evidence_recall": 0.0} and len(world.index_hash) == 16
    con.close()
    before = sorted(home.rglob("*"))
    off = gym.make("MedResearch-v0", qa=items, world=world, db=None)  # logging off
    off.reset(seed=0)
    off.step("<answer>x</answer>")
    off.close()
    assert off.unwrapped.store_path is None and sorted(home.rglob("*")) == before


def test_parallel_calls_option(make_env):
    env = make_env(db=None, parallel_calls=True)
    env.reset(seed=0)
    two = (
        '<tool_call>{"name": "medical_search", "arguments": {"query": "ataxia"}}</tool_call>'
        '<tool_call>{"name": "web_search", "arguments": {"query": "ataxia"}}</tool_call>'
    )
    obs, _, _, _, info = env.step(two)
    assert info["error"] == "" and info["tool"] == "medical_search,web_search"
    assert "medical_search results" in obs and "web_search results" in obs


def _event_rows(path):
    con = connect(path)
    rows = con.execute(
        "SELECT episode_id IS NULL, seq, type, json(payload) FROM events ORDER BY ts, seq"
    ).fetchall()
    out = []
    for is_run, seq, type_, payload in rows:
        p = msgspec.json.decode(payload)
        p.pop("latency_ms", None)
        p.pop("h")  # the hash chain covers ts and latency (medenv.events.chain)
        if type_ == "episode_sealed":
            p.pop("hash")
            p.pop("episode_id")
        if type_ == "run_started":
            p.pop("versions")
        out.append((is_run, seq, type_, p))
    return out


def test_same_seed_and_actions_give_same_observations_rewards_events(make_env, world, tmp_path):
    traces = []
    for k in range(2):
        env = make_env(db=tmp_path / f"det{k}.duckdb", run_id=f"det{k}")
        trace = []
        for seed in (3, 4):
            obs, info = env.reset(seed=seed)
            trace.append((obs, info["question_id"]))
            actions = scripted_actions(world, env.unwrapped.item)
            for action in ["oops", actions[0], actions[0].replace("query", "q"), *actions[1:]]:
                obs, reward, term, trunc, info = env.step(action)
                trace.append(
                    (obs, reward, term, trunc, {k: v for k, v in info.items() if k != "run_id"})
                )
        env.close()
        traces.append(trace)
    assert traces[0] == traces[1]
    assert _event_rows(tmp_path / "det0.duckdb") == _event_rows(tmp_path / "det1.duckdb")


def test_second_writer_gets_a_clear_error(make_env, tmp_path):
    path = tmp_path / "busy.duckdb"
    holder = EventStore(path)
    try:
        env = make_env(db=path, shard=None)
        with pytest.raises(MedenvError, match="already being written by process"):
            env.reset(seed=0)
        auto = make_env(db=path)  # the default shard="auto" writes beside it
        auto.reset(seed=0)
        assert auto.unwrapped.store.file.name == "busy.shard-1.duckdb"
    finally:
        holder.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_envs_write_shards_read_together(items, tmp_path, world, mode):
    path = tmp_path / "vec.duckdb"
    envs = gym.make_vec(
        "MedResearch-v0", num_envs=2, vectorization_mode=mode, qa=items, db=path, run_id="vec"
    )
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    obs, infos = envs.reset(seed=[10, 11])
    assert len(obs) == 2 and set(infos["question_id"]) <= {i.id for i in items}
    done = 0
    for _ in range(6):
        obs, rewards, terms, truncs, infos = envs.step(
            ("<answer>Autosomal dominant inheritance</answer>",) * 2
        )
        done += int(terms.sum())
        if "episode" in infos:
            finished = infos["_episode"]
            assert all(infos["episode"]["l"][finished] == 1)
            assert list(infos["episode"]["r"][finished]) == list(rewards[finished])
    envs.close()
    files = sorted(p.name for p in tmp_path.glob("vec*.duckdb"))
    assert files == ["vec.duckdb", "vec.shard-1.duckdb"]
    con = connect(path)
    # next-step autoreset: 3 answered episodes per env, then a 4th started by the last step
    counts = con.execute(
        "SELECT count(*), count(reward), count(DISTINCT episode_id) FROM episodes"
    ).fetchone()
    assert counts == (8, done, 8) and done == 6
    assert con.execute("SELECT DISTINCT run_id FROM episodes").fetchall() == [("vec",)]


def test_record_episode_statistics(make_env, world):
    env = gym.wrappers.RecordEpisodeStatistics(make_env(db=None))
    env.reset(seed=5)
    for action in scripted_actions(world, env.unwrapped.item):
        _, reward, terminated, _, info = env.step(action)
    assert (
        terminated and info["episode"]["r"] == pytest.approx(reward) and info["episode"]["l"] == 3
    )


def _episode_events(path, episode_id):
    con = connect(path)
    try:
        return con.execute(
            "SELECT type, payload FROM events WHERE episode_id = ? ORDER BY seq", [episode_id]
        ).fetchall()
    finally:
        con.close()


def test_finish_ends_an_open_episode_as_truncated_and_logs_its_reward(make_env, world):
    env = make_env(tags={"agent": "trainer"})
    with pytest.raises(MedenvError, match="reset"):
        env.unwrapped.finish()
    _, first = env.reset(seed=0, options={"question_id": "inh-002"})
    item = env.unwrapped.item
    env.step(scripted_actions(world, item)[0])  # one search
    env.step("no call here")  # one format error
    reward, info = env.unwrapped.finish()
    assert tuple(info) == INFO_KEYS and {k: type(v) for k, v in info.items()} == {
        k: type(v) for k, v in first.items()
    }
    # no answer: accuracy and efficiency are 0, format is half of 1 - 0.5 (medenv.reward)
    assert (info["accuracy"], info["format"], info["efficiency"]) == (0.0, 0.25, 0.0)
    assert reward == pytest.approx(0.2 * 0.25) and info["step"] == 2 and info["budget"] == 10
    assert info["evidence_recall"] == 1.0 and not info["correct"]
    with pytest.raises(MedenvError, match="reset"):
        env.step("<answer>late</answer>")
    again = env.unwrapped.finish()  # idempotent: nothing more is logged
    assert again == (reward, info)
    episode_id = env.unwrapped.episode_id
    env.close()
    rows = _episode_events(env.unwrapped.store_path, episode_id)
    types = [t for t, _ in rows]
    assert types[-2:] == ["reward_assigned", "episode_ended"]
    assert types.count("reward_assigned") == 1 and types.count("episode_ended") == 1
    ended = msgspec.json.decode(rows[-1][1])
    assert (ended["steps"], ended["terminated"], ended["truncated"]) == (2, False, True)
    assert (ended["n_tool_calls"], ended["n_format_errors"]) == (1, 1)
    con = connect(env.unwrapped.store_path)
    row = con.execute(
        "SELECT truncated, terminated, reward, n_tool_calls, n_format_errors, evidence_recall "
        "FROM episodes WHERE episode_id = ?",
        [episode_id],
    ).fetchone()
    assert row == (True, False, pytest.approx(0.05), 1, 1, 1.0)


def test_finish_after_the_answer_returns_the_final_reward(make_env, world):
    env = make_env(db=None)
    env.reset(seed=0, options={"question_id": "inh-004"})
    for action in scripted_actions(world, env.unwrapped.item):
        _, last, terminated, _, last_info = env.step(action)
    assert terminated
    reward, info = env.unwrapped.finish()
    assert reward == last == pytest.approx(1.4) and info["tool"] == "" and info["error"] == ""
    assert {**info, "tool": "answer"} == last_info


def test_gym_make_with_a_world_object_deep_copies_it_as_itself(items, world):
    import copy

    from gymnasium.utils.env_checker import check_env

    assert copy.deepcopy(world) is world and copy.copy(world) is world
    env = gym.make("MedResearch-v0", qa=items, db=None, world=world)
    assert env.spec.kwargs["world"] is world
    remade = env.spec.make()  # gymnasium deep-copies the spec's kwargs here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(remade.unwrapped)
    assert [str(w.message) for w in caught] == []
    obs, _ = remade.reset(seed=3)
    assert remade.unwrapped.world is world and "Question:" in obs
    env.close()
    remade.close()

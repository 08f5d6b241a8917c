"""Replay: trajectories, chat messages, transcripts, and `verify` (API and CLI) over
episodes logged by the real env; a tampered event must fail verification."""

from __future__ import annotations

import json

import duckdb
import gymnasium as gym
import pytest

from medenv.cli import main
from medenv.events.replay import to_messages, trajectory
from medenv.events.store import connect, read_episode
from medenv.verify import verify
from tests.cli import cli_error
from tests.raw_events import private_copy
from tests.test_env import items, scripted_actions, world  # noqa: F401  (fixtures)


@pytest.fixture
def logged(written, tmp_path):
    """A copy of the written store of its own (tests may edit it)."""
    return private_copy(written, tmp_path)


@pytest.fixture(scope="module")
def written(tmp_path_factory, items, world):  # noqa: F811
    """Three logged episodes: ideal, one with format errors and a wrong answer, truncated."""
    path = tmp_path_factory.mktemp("replay") / "replay.duckdb"
    env = gym.make("MedResearch-v0", qa=items, db=path, run_id="rp", max_steps=4,
                   tags={"agent": "scripted"})  # fmt: skip
    plans = [
        lambda a: a,
        lambda a: [
            "",
            '{"name": "medical_search", "arguments": {"query": 1}}',
            a[0],
            "<answer>Autosomal recessive inheritance</answer>",
        ],
        lambda a: [
            a[0],
            a[0],
            "oops",
            {"name": "web_search", "arguments": {"query": "ataxia", "top_k": 2}},
        ],
    ]
    ids = []
    for seed, plan in enumerate(plans):
        env.reset(seed=seed)
        ids.append(env.unwrapped.episode_id)
        for action in plan(scripted_actions(world, env.unwrapped.item)):
            _, _, terminated, truncated, _ = env.step(action)
        assert terminated or truncated
    env.close()
    return path, ids


def test_trajectory_and_messages(logged):
    path, ids = logged
    traj = trajectory(read_episode(path, ids[0]))
    assert traj.reward == pytest.approx(1.4) and traj.correct and traj.terminated
    assert [s.calls[0]["name"] for s in traj.steps] == ["medical_search", "browse", "answer"]
    assert traj.config["max_steps"] == 4 and traj.tags == {"agent": "scripted"}
    messages = to_messages(read_episode(path, ids[0]))
    assert [m["role"] for m in messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert messages[1]["tool_calls"][0]["function"]["name"] == "medical_search"
    assert messages[1]["content"].startswith("<think>find ")
    assert (
        messages[-1]["content"].endswith("</answer>")
        and "<think>done</think>" in messages[-1]["content"]
    )
    bad = trajectory(read_episode(path, ids[1]))
    assert [s.error_kind for s in bad.steps] == ["no_call", "bad_arguments", None, None]
    assert bad.correct is False and bad.components["format"] == 0.0
    assert trajectory(read_episode(path, ids[2])).truncated


def test_verify_reproduces_every_logged_episode(logged):
    path, ids = logged
    con = connect(path)
    for episode_id in ids:
        result = verify(con, episode_id)
        assert result.ok, result.message
        assert result.steps_checked == 4 - (episode_id == ids[0])


def test_cli_replay_verify_passes_then_fails_on_a_tampered_event(logged, capsys):
    path, ids = logged
    assert main(["replay", "--db", str(path), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "verified 3 episode(s)" in out
    with duckdb.connect(str(path)) as con:  # tamper: step 1's browse observation
        seq, payload = con.execute(
            "SELECT seq, payload FROM events WHERE episode_id = ? AND type = 'tool_returned' "
            "AND payload->>'$.step' = '1'",
            [ids[0]],
        ).fetchall()[0]
        data = json.loads(payload)
        data["observation"] = data["observation"].replace("inheritance", "inheritence")
        con.execute(
            "UPDATE events SET payload = ? WHERE episode_id = ? AND seq = ?",
            [json.dumps(data), ids[0], seq],
        )
    assert main(["replay", "--db", str(path), "--episode", ids[0], "--verify"]) == 1
    err = capsys.readouterr().err
    assert f"FAIL episode {ids[0]}: event seq 6 (tool_returned) does not match the hash" in err
    assert "; step 1: observation differs" in err
    assert main(["replay", "--db", str(path), "--episode", ids[1], "--verify"]) == 0
    with duckdb.connect(str(path)) as con:  # tamper: the final reward
        con.execute(
            "UPDATE events SET payload = json_merge_patch(payload, '{\"total\": 9.0}') "
            "WHERE episode_id = ? AND type = 'reward_assigned'",
            [ids[1]],
        )
    assert main(["replay", "--db", str(path), "--episode", ids[1], "--verify"]) == 1
    err = capsys.readouterr().err
    assert "(reward_assigned) does not match the hash chain" in err
    assert "step 3: reward differs: logged 9.0" in err


def test_cli_transcript_and_runs(logged, capsys):
    path, ids = logged
    assert main(["replay", "--db", str(path), "--episode", ids[1]]) == 0
    out = capsys.readouterr().out
    assert (
        "=== step 0 ===  REJECTED (no_call)" in out
        and "=== step 1 ===  REJECTED (bad_arguments)" in out
    )
    assert "correct=False" in out and "ended: terminated after 4 steps" in out
    assert main(["replay", "--db", str(path)]) == 0  # latest episode
    assert "ended: truncated after 4 steps" in capsys.readouterr().out
    assert main(["replay", "--db", str(path), "--episode", ids[0], "--messages"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["role"] == "user"
    assert main(["runs", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rp" in out and "3/3" in out and "scripted" in out
    assert main(["runs", "--db", str(path), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (
        row["run_id"] == "rp" and row["finished"] == 3 and row["accuracy"] == pytest.approx(1 / 3)
    )
    assert main(["replay", "--db", str(path / "missing.duckdb")]) == 2


def test_verify_an_episode_ended_early_by_finish(tmp_path, items, world):  # noqa: F811
    path = tmp_path / "finish.duckdb"
    env = gym.make("MedResearch-v0", qa=items, db=path, run_id="fin", max_steps=6)
    env.reset(seed=0)
    episode = env.unwrapped.episode_id
    env.step(scripted_actions(world, env.unwrapped.item)[0])
    reward, info = env.unwrapped.finish()
    env.close()
    traj = trajectory(read_episode(path, episode))
    assert traj.truncated and not traj.terminated and len(traj.steps) == 1
    assert traj.reward == reward
    assert verify(path, episode, world=world).ok


def test_verify_reproduces_dict_actions_in_any_key_order_and_lone_surrogates(
    tmp_path,
    items,  # noqa: F811
):
    """The live step parses what it logs: a dict's JSON (sorted keys, tuples as lists), and
    text with lone surrogates replaced by U+FFFD, so replay sees exactly the same input."""
    path = tmp_path / "odd.duckdb"
    env = gym.make("MedResearch-v0", qa=items, db=path, run_id="odd", max_steps=5)
    env.reset(seed=0)
    episode = env.unwrapped.episode_id
    actions = [
        {"name": "medical_search", "arguments": {"query": 1, "extra": 2}},  # 2 errors: which first?
        {"tool_calls": ({"name": "medical_search", "arguments": {"query": "seizure"}},)},
        '<tool_call>{"name": "medical_search", "arguments": {"query": "seizure \ud83d"}}</tool_call>',
        "\udc00 no call here",
        "<answer>x\ud800</answer>",
    ]
    observations = [env.step(action)[0] for action in actions]
    env.close()
    assert observations[0].startswith(  # one check (msgspec): the first fault it meets
        "Error (bad_arguments): medical_search: unknown argument `extra`"
    )
    assert observations[1].startswith('medical_search results for "seizure":')
    assert observations[2].startswith('medical_search results for "seizure \ufffd":')
    assert observations[3].startswith("Error (no_call)")
    traj = trajectory(read_episode(path, episode))
    assert traj.steps[1].action == {"tool_calls": [actions[1]["tool_calls"][0]]}
    assert traj.steps[3].action == "\ufffd no call here" and traj.prediction == "x\ufffd"
    result = verify(path, episode)
    assert result.ok and result.steps_checked == 5, result.message


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--episode", ""], "--episode is empty"),
        (["--episode", "x", "--run", "rp"], "give --episode or --run, not both"),
        (["--messages", "--verify"], "cannot be combined with --verify"),
        (["--episode", "ünï-missing"], "no episode 'ünï-missing' in the event store"),
        (["--run", "nope", "--verify"], "no episodes in the event store for run nope"),
    ],
    ids=["empty-episode", "episode-and-run", "messages-verify", "unknown-episode", "unknown-run"],
)
def test_cli_replay_bad_arguments_are_one_line(logged, capsys, flags, message):
    path, _ = logged
    _, err = cli_error(["replay", "--db", str(path), *flags], capsys)
    assert message in err, err

"""Hostile arguments to the env, the event store and the CLI (round 13 review): each is one
`MedenvError` that names the argument, or a clean result; never Python's own error from deep
inside, never a silently changed value, never events dropped without a word."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medenv.env import MedResearchEnv
from medenv.errors import MedenvError
from medenv.events.store import EventStore, connect
from tests.test_env import items, world  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_steps": "abc"}, "max_steps must be a whole number, got 'abc'"),
        ({"max_steps": float("nan")}, "max_steps must be a whole number, got nan"),
        ({"max_steps": float("inf")}, "max_steps must be a whole number, got inf"),
        ({"max_steps": 2.7}, "max_steps must be a whole number, got 2.7"),  # was cut to 2
        ({"max_steps": None}, "max_steps must be a whole number, got None"),
        ({"max_steps": True}, "max_steps must be a whole number, got True"),
        ({"world_seed": "x"}, "world_seed must be a whole number"),
        ({"tools": "medical_search"}, "tools must be a list of tool names"),  # was letters
        ({"tools": 5}, "tools must be a list of tool names, got 5"),
        ({"tags": [1, 2]}, "tags must be a dict, got list"),
        ({"parallel_calls": "no"}, "parallel_calls must be True or False"),  # "no" is true
        ({"world": "hpo"}, "world must be None, a world"),
        ({"world": {"sorce": "hetionet"}}, "world spec has unknown field(s) ['sorce']; fields: "),
        ({"db": 5}, "db must be a path, None or a Recorder, got int"),
        ({"run_id": 5}, "run_id must be a string of printable characters, got 5"),
        ({"run_id": "a\x00b"}, "run_id must be a string of printable characters"),
        # round 17: TypeErrors from deep inside (unhashable, not iterable) or an
        # OverflowError when the run config was logged
        ({"tools": [["medical_search"]]}, "tools must be a list of tool names, got [["),
        ({"source": None}, "source must be a KG source name (a string), got None"),
        ({"source": ["hpo"]}, "source must be a KG source name (a string), got ['hpo']"),
        ({"backend": ["tantivy"]}, "backend must be a search backend name, got ['tantivy']"),
        ({"reward_terms": 5}, "reward_terms must be None, a Rubric, a RewardTerm or a list"),
        ({"world_seed": 2**64}, "world_seed must be at most 2**63 - 1"),
        ({"world_seed": -1}, "world_seed must be >= 0, got -1"),
        # tags were logged changed, in silence: "1", U+FFFD, null, the object's repr
        ({"tags": {1: "x"}}, "tags has a key that is not text: 1"),
        ({"tags": {"a": "\ud800"}}, "tags['a'] holds a lone surrogate"),
        ({"tags": {"a": [float("nan")]}}, "tags['a'][0] must be a finite number, got nan"),
        ({"tags": {"a": object()}}, "tags['a'] must be a JSON value, got object"),
    ],
)
def test_gym_make_arguments_of_a_wrong_type_are_one_named_error(kwargs, message):
    with pytest.raises(MedenvError) as caught:
        MedResearchEnv(**{"db": None, **kwargs})
    assert message in str(caught.value)


def test_whole_numbers_in_other_clothes_are_still_taken():
    assert MedResearchEnv(db=None, max_steps=12.0).max_steps == 12
    assert MedResearchEnv(db=None, max_steps=np.int64(5)).max_steps == 5
    assert MedResearchEnv(db=None, max_steps="7", parallel_calls=np.bool_(True)).max_steps == 7
    assert MedResearchEnv(db=None, tools=("browse",), run_id="").tool_names == ("browse", "answer")


def test_an_int_run_or_episode_id_is_refused_not_dropped_by_every_reader(tmp_path):
    # a run id of 5 went to the spool as a JSON number, which no reader decodes: the run's
    # events vanished at ingest, with no error anywhere
    db = tmp_path / "ids.duckdb"
    with pytest.raises(MedenvError, match="run_id must be a string"):
        EventStore(db, run_id=5)
    store = EventStore(db, run_id="run-1")
    with pytest.raises(MedenvError, match="episode_id must be a string or None, got 7"):
        store.emit(_run_started({}), 7)
    store.emit(_run_started({}))
    store.commit()
    store.close()
    con = connect(db)
    rows = con.execute("SELECT DISTINCT run_id, type FROM events WHERE seq = 0").fetchall()
    assert rows == [("run-1", "run_started")]
    con.close()


def test_reset_options_not_a_dict_or_hops_not_a_number_are_one_error(items, world):  # noqa: F811
    env = MedResearchEnv(qa=items, world=world, db=None)
    for options, message in (
        ("split", "reset options must be a dict, got str"),  # was: unknown ['i', 'l', ...]
        ([1], "reset options must be a dict, got list"),
        ({"hops": "two"}, "the reset option hops must be a whole number, got 'two'"),
        ({1: "x", "y": 2}, "unknown reset option(s) [1, 'y']"),  # mixed keys sort
    ):
        with pytest.raises(MedenvError) as caught:
            env.reset(seed=0, options=options)
        assert message in str(caught.value)
    hops = items[0].n_hops
    _, info = env.reset(seed=0, options={"hops": float(hops)})
    assert env.item.n_hops == hops and info["step"] == 0
    env.close()


def test_rollout_of_zero_episodes_reports_no_accuracy_and_no_store(tmp_path, capsys):
    from medenv.cli import main

    db = tmp_path / "none.duckdb"
    assert main(["rollout", "--episodes", "0", "--db", str(db), "--no-progress"]) == 0
    out = capsys.readouterr().out  # was an IndexError traceback (no store file to name)
    assert out.strip() == "oracle: ran 0 episodes (0 already stored) in 0.0s; store (none written)"


def _limited(limit: int):
    def apply() -> None:  # in the child: files may not grow past ``limit`` bytes
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return apply


def _run_started(config: dict):
    from medenv.events import schema as ev

    return ev.RunStarted(
        config=config, kg_source="hpo", kg_version="v", corpus_hash="c", parser_version="p",
        reward_weights={}, seed=None,
    )  # fmt: skip


def _filled_store(path: Path) -> Path:
    store = EventStore(path, run_id="big-run")
    store.emit(_run_started({"padding": os.urandom(150_000).hex()}))  # does not compress
    store.commit()
    store.close()
    return path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics")
def test_an_output_write_that_fails_names_the_output_not_the_store(tmp_path):
    # DuckDB's Parquet write on a full disk read "... [event store X] (is the event store
    # damaged?)": the store was fine, the output was not
    db = _filled_store(tmp_path / "ok.duckdb")
    out = tmp_path / "pq"
    argv = [sys.executable, "-m", "medenv.cli", "events", "export", "--db", str(db), "--out",
            str(out), "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, preexec_fn=_limited(20_000)
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"medenv events: error: cannot write {out}/run_id=big-run/")
    assert "damaged" not in lines[0] and "disk full?" in lines[0], lines[0]
    assert list(out.iterdir()) == []  # no cut Parquet file (nor staging folder) is left
    # over an earlier export of the run: a failed one leaves it whole (it was left cut)
    from medenv.events.parquet import export_parquet

    export_parquet(db, out, progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, preexec_fn=_limited(20_000)
    )
    assert proc.returncode == 2 and "disk full?" in proc.stderr, proc.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_an_oserror_without_a_file_is_given_the_file_being_written(tmp_path):
    from medenv.cli import error_line
    from medenv.paths import writing

    path = tmp_path / "sft.jsonl"
    with pytest.raises(OSError) as caught, writing(path):
        raise OSError(28, "No space left on device")  # what ``write`` on a full disk raises
    assert error_line(caught.value) == f"{path}: No space left on device (disk full?)"
    with pytest.raises(OSError) as caught, writing(path):
        raise FileNotFoundError(2, "No such file or directory", "/elsewhere")
    assert caught.value.filename == "/elsewhere"  # an error that names its file keeps it


def test_spool_lines_recovery_cannot_take_are_warned_about_not_dropped_in_silence(tmp_path):
    # recovery ingests a killed writer's spool and then empties it: a damaged line was
    # gone with no word anywhere (`recovered_notes` was never shown)
    from medenv.events.store import SpoolRecoveryWarning

    db = tmp_path / "killed.duckdb"
    writer = (  # a writer that logs one event (to the spool: durability "step") and dies
        "import os, sys; from medenv.events.store import EventStore; "
        "from tests.test_hostile_args import _run_started; "
        "s = EventStore(sys.argv[1], run_id='run-k'); s.emit(_run_started({})); s.commit(); "
        "os._exit(0)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", writer, str(db)], cwd=ROOT, env=env, check=True)
    with open(f"{db}.spool", "ab") as f:  # a line damaged on disk
        f.write(b'["run-k", null, 1, 1, "run_started", {not json}]\n')
    with pytest.warns(SpoolRecoveryWarning, match=r"killed\.duckdb\.spool:2: not an event line"):
        again = EventStore(db, run_id="run-k")
    again.close()
    con = connect(db)
    assert con.execute("SELECT count(*) FROM events WHERE type = 'run_started'").fetchone()[0] == 1
    con.close()


@pytest.mark.parametrize("form", ["dicts", "json_array", "pythonic", "hermes"])
def test_more_than_64_parallel_calls_is_one_error_in_every_form(form):
    # text blocks stopped at 64 ("More than 64 calls."), a call list did not: a list of
    # 1,000 dicts ran 1,000 searches in one step
    from medenv.tools.parsing import parse_action

    def action(n: int):
        calls = [{"name": "medical_search", "arguments": {"query": f"q{i}"}} for i in range(n)]
        if form == "dicts":
            return calls
        if form == "json_array":
            return json.dumps(calls)
        if form == "pythonic":
            return "[" + ", ".join(f'medical_search(query="q{i}")' for i in range(n)) + "]"
        return "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls)

    assert len(parse_action(action(64), parallel_calls=True).calls) == 64
    parsed = parse_action(action(65), parallel_calls=True)
    assert parsed.error is not None and parsed.error.kind == "several_calls"
    assert "More than 64 calls." in parsed.error.message


@pytest.mark.parametrize("field", ["id", "question", "answer"])
def test_a_qa_item_with_a_blank_id_question_or_answer_is_named(tmp_path, items, field):  # noqa: F811
    # a blank question was played as "Question: " (and a blank id made an episode that
    # `replay --episode`/`question_id` cannot name)
    import msgspec

    from medenv.errors import DataError
    from medenv.synth.io import read_qa_set

    qa = tmp_path / "qa.jsonl"
    good, bad = items[0], msgspec.structs.replace(items[1], **{field: "  "})
    qa.write_bytes(msgspec.json.encode(good) + b"\n" + msgspec.json.encode(bad) + b"\n")
    with pytest.raises(DataError, match=rf"qa\.jsonl:2: bad item: `{field}` is empty"):
        read_qa_set(qa)


def test_an_error_quoting_a_huge_value_is_clipped_to_a_readable_line(capsys):
    from tests.cli import cli_error

    _, err = cli_error(["kg", "stats", "--source", "x" * 100_000], capsys)
    assert err.startswith("medenv kg: error: unknown KG source 'xxx")  # was 100,000 x's long
    assert len(err) < 2100 and err.endswith(" more characters]")


def test_replay_shows_terminal_control_characters_of_model_output_as_escapes(
    tmp_path,
    items,  # noqa: F811
    world,  # noqa: F811
    capsys,
):
    # a transcript printed the model's text raw: "\x1b[2J" cleared the reader's screen
    from medenv.cli import main

    db = tmp_path / "esc.duckdb"
    env = MedResearchEnv(qa=items, world=world, db=db)
    env.reset(seed=0)
    env.step("\x1b[2J\x1b]0;pwned\x07 <answer>\u202ex\u202c</answer>")
    env.close()
    assert main(["replay", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\x07\u202e\u202c")
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in out and "\\u202ex\\u202c" in out
    assert main(["replay", "--db", str(db), "--messages"]) == 0  # JSON keeps the text
    assert "<answer>\u202ex\u202c</answer>" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["corpus", "build", "--seed", str(10**23)], "--seed must be at most 2**63 - 1"),
        (["corpus", "search", "fever", "--seed", "-1"], "--seed must be >= 0, got -1"),
        (["synth", "--n", "2", "--seed", str(2**63), "--out", "{tmp}/o"], "--seed must be at most"),
        (["synth", "--n", "2", "--world-seed", "-3", "--out", "{tmp}/o"], "--world-seed must be >= 0"),
        (["rollout", "--seed", str(10**23), "--db", "{tmp}/r.duckdb"], "--seed must be at most"),
        (["train", "pool", "--model", "tiny", "--out", "{tmp}/p.json", "--seed", "-1"],
         "--seed must be >= 0"),
    ],
    ids=["corpus-build-huge", "corpus-search-negative", "synth", "synth-world", "rollout", "pool"],
)  # fmt: skip
def test_a_seed_out_of_range_is_one_line_before_any_work(argv, message, tmp_path, capsys):
    """A seed that cannot be kept as a signed 64-bit integer (a corpus seed of 10**23 was
    built for a minute, then its cache write raised OverflowError) or a negative one is
    refused by every command before it loads anything or writes."""
    from tests.cli import cli_error

    _, err = cli_error([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert message in err, err
    assert os.listdir(tmp_path) == []
    with pytest.raises(MedenvError, match="the corpus seed must be at most"):
        from medenv.worldspec import WorldSpec

        WorldSpec.of("hpo", seed=2**64)


def test_an_output_folder_that_is_a_link_to_nowhere_is_named_as_such(tmp_path, capsys):
    """``--out`` a broken symbolic link or a link loop: ``mkdir`` said only "File exists"."""
    from medenv.paths import check_out_dir
    from tests.cli import cli_error

    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(MedenvError, match="is a broken symbolic link"):
        check_out_dir(tmp_path / "broken")
    _, err = cli_error(["synth", "--n", "2", "--out", str(tmp_path / "loop")], capsys)
    assert err.endswith(f"--out {tmp_path / 'loop'}: is a symbolic link loop"), err
    assert sorted(os.listdir(tmp_path)) == ["broken", "loop"]


def test_synth_does_not_overwrite_a_qa_file_it_did_not_write(tmp_path, capsys):
    """``synth --out F`` with your own ``F/qa.jsonl`` (no set manifest beside it) replaced
    it silently; now it is refused before any work, and a set synth wrote is replaced."""
    from medenv.synth.io import check_set_folder
    from tests.cli import cli_error

    (tmp_path / "qa.jsonl").write_text('{"mine": 1}\n')
    _, err = cli_error(["synth", "--n", "2", "--out", str(tmp_path)], capsys)
    assert "holds qa.jsonl, which no medenv synth wrote there" in err, err
    assert (tmp_path / "qa.jsonl").read_text() == '{"mine": 1}\n'
    (tmp_path / "manifest.json").write_text('{"files": {"qa.jsonl": "0", "items": 1}}')
    check_set_folder(tmp_path)  # a set's manifest beside it: an earlier synthesis, replaced


def test_eval_report_and_pool_do_not_overwrite_a_file_they_did_not_write(tmp_path, capsys):
    """``eval --report R`` with your own ``R/report.md`` and ``train pool --out F`` with your
    own ``F`` replaced them silently; both are refused before any work now, by synth's rule
    (`medenv.paths.check_not_yours`: a medenv record beside the file names it)."""
    from medenv.evaluation.report import check_report_folder
    from medenv.paths import check_not_yours
    from tests.cli import cli_error

    report = tmp_path / "r"
    report.mkdir()
    (report / "report.md").write_text("my notes")
    _, err = cli_error(["eval", "--db", str(tmp_path / "none.duckdb"), "--report", str(report)],
                       capsys)  # fmt: skip
    assert f"--report {report} holds report.md, which no medenv eval wrote there" in err, err
    assert (report / "report.md").read_text() == "my notes"
    (report / "manifest.json").write_text('{"files": {"qa.jsonl": "x"}}')  # a QA set's
    with pytest.raises(MedenvError, match="holds report.md, manifest.json"):
        check_report_folder(report)
    (report / "manifest.json").write_text('{"files": {"report.md": "x"}}')
    check_report_folder(report)  # an earlier report: replaced
    pool = tmp_path / "pool.json"
    pool.write_text('{"mine": 1}')
    _, err = cli_error(["train", "pool", "--model", "tiny", "--out", str(pool)], capsys)
    assert f"--out {pool} holds pool.json, which no medenv train pool wrote there" in err, err
    assert sorted(os.listdir(tmp_path)) == ["pool.json", "r"]  # no .duckdb sampled into
    pool.write_text('{"model": "tiny", "files": {"pool.json": "medenv train pool"}}')
    check_not_yours(tmp_path, ["pool.json"], "pool.json", "--out", "medenv train pool", pool)


def test_a_first_reset_that_fails_leaves_the_made_env_usable(items, world):  # noqa: F811
    """Round 17's API sweep: after a first ``reset`` that raised (a typo in an option),
    the next reset worked and the first ``step`` was a TypeError from inside gymnasium's
    env checker (it marks reset checked before calling it); a ``seed`` of ``True`` was
    played as 1 and logged as ``true``, which replay and export could not read."""
    import gymnasium as gym

    env = gym.make("MedResearch-v0", qa=items, world=world, db=None)
    with pytest.raises(MedenvError, match="no question 'typo' in the question set"):
        env.reset(seed=0, options={"question_id": "typo"})
    with pytest.raises(MedenvError, match="seed must be a whole number or None, got True"):
        env.reset(seed=True)
    env.reset(seed=0)
    obs, _, terminated, _, info = env.step("not a call")
    assert info["error"] == "no_call" and not terminated and obs.startswith("Error (no_call)")
    env.close()


def test_the_passive_env_checker_is_off_by_default_and_can_be_asked_for(items, world):  # noqa: F811
    """The README: ``gym.make`` adds no PassiveEnvChecker by default, and
    ``disable_env_checker=False`` adds gymnasium's own, which passes the env's first reset
    and step."""
    import gymnasium as gym
    from gymnasium.wrappers import PassiveEnvChecker

    def wrappers(env) -> list[type]:
        found = []
        while isinstance(env, gym.Wrapper):
            found.append(type(env))
            env = env.env
        return found

    plain = gym.make("MedResearch-v0", qa=items, world=world, db=None)
    assert PassiveEnvChecker not in wrappers(plain)
    checked = gym.make("MedResearch-v0", qa=items, world=world, db=None, disable_env_checker=False)
    assert PassiveEnvChecker in wrappers(checked)
    checked.reset(seed=0)
    obs, _, terminated, _, info = checked.step("not a call")
    assert info["error"] == "no_call" and not terminated and obs.startswith("Error (no_call)")
    plain.close()
    checked.close()

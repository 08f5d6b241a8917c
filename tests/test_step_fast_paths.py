"""The step path's shortcuts give what the long way gives (issue 19):

- `suffix_marks` (the dispatcher reuses the scan of a reply for its text after the
  reasoning) equals scanning the suffix afresh, checked against a plain ``str.find`` per
  marker on text built from the markers' own pieces; the ``<answer>`` check on the text a
  call leaves (one walk over its ``<``s) reads what two ``str`` searches read;
- lazy seeding (`medenv.env_reset.LazySeeding`: the generator is made when first read) draws what
  gymnasium's eager ``reset(seed=...)`` draws, and picks the same questions;
- logging off (no events built) gives the observations, rewards, flags and info of
  logging on, on real questions with every kind of action (search, browse, answer,
  malformed, dict, over-long).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from hypothesis import given, settings
from hypothesis import strategies as st

import medenv  # noqa: F401  (registers MedResearch-v0)
from medenv.actions import OBSERVATION_MAX_CHARS, fit_text
from medenv.env_prompt import render_prompt
from medenv.spaces import CHARSET
from medenv.tools.formats import extract
from medenv.tools.formats.marks import MARKERS, first_marks, suffix_marks
from tests.test_env import make_items, scripted_actions

PIECES = [*MARKERS, "<", "[", "<think", "tool_call>", "<|", "|>", "a", " ", "\n", "{}", "é"]


def _plain_marks(text: str) -> dict[str, int]:
    return {m: text.find(m) for m in MARKERS if m in text}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30), st.integers(0, 200))
def test_suffix_marks_equal_a_fresh_scan_of_the_suffix(parts, cut):
    text = "".join(parts)
    cut = min(cut, len(text))
    assert first_marks(text) == _plain_marks(text)
    assert suffix_marks(text, first_marks(text), cut) == _plain_marks(text[cut:])


def test_suffix_marks_on_dense_text_past_the_scan_limit():
    text = "<" * 3000 + "<think>x</think><tool_call>{}</tool_call>" + "[" * 3000 + "[THINK]"
    for cut in (0, 2999, 3000, 3007, 3020, len(text) - 3):
        assert suffix_marks(text, first_marks(text), cut) == _plain_marks(text[cut:])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600), st.integers(64, 400))
def test_fit_text_is_idempotent(text, limit):
    """The env shows a lone call's fitted observation as it is (no second `fit_text`);
    limits of 64+ characters hold the truncation note (the env's is 65,536)."""
    once = fit_text(text, limit)
    assert fit_text(once, limit) == once
    assert len(once) <= limit and set(once) <= CHARSET


def test_fit_text_is_idempotent_at_the_env_limit():
    text = "é\ud800 \U0010fffe" * 30_000
    once = fit_text(text)
    assert len(once) == OBSERVATION_MAX_CHARS and fit_text(once) == once


@pytest.fixture(scope="module")
def world():
    from medenv.world import load_world

    return load_world(progress=False)


@pytest.fixture(scope="module")
def items(world):
    return make_items(world.kg, 12)


@pytest.mark.parametrize("seed", [0, 1, 7, 2**40 + 3])
def test_lazy_seeding_draws_what_eager_seeding_draws(items, world, seed):
    env = gym.make("MedResearch-v0", qa=items, db=None, world=world)
    env.reset(seed=seed, options={"question_id": items[3].id})  # no draw: still lazy
    assert env.unwrapped.np_random_seed == seed
    eager, eager_seed = seeding.np_random(seed)
    assert eager_seed == seed
    assert (
        env.unwrapped.np_random.integers(10**9, size=5).tolist()
        == eager.integers(10**9, size=5).tolist()
    )
    # a reset without a question id draws it: the same one a fresh PCG64 of the seed picks
    picks = [env.reset(seed=seed)[1]["question_id"] for _ in range(2)]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    assert picks == [items[int(rng.integers(len(items)))].id] * 2
    # unseeded resets go on drawing from the same generator, as gymnasium's do
    follow = [env.reset()[1]["question_id"] for _ in range(4)]
    assert follow == [items[int(rng.integers(len(items)))].id for _ in range(4)]
    env.close()


def test_bad_seeds_are_refused_as_gymnasium_refuses_them(items, world):
    env = gym.make("MedResearch-v0", qa=items, db=None, world=world)
    for bad in (-1, 1.5, "3"):
        with pytest.raises(gym.error.Error):
            env.reset(seed=bad)
    env.close()


def _play(items, world, db, run_id):
    env = gym.make("MedResearch-v0", qa=items, db=db, world=world, run_id=run_id, max_steps=5)
    out = []
    for k, item in enumerate(items):
        out.append(env.reset(seed=k, options={"question_id": item.id}))
        actions = scripted_actions(world, item)
        actions[1:1] = ["I am not sure.", '<tool_call>{"name": "nope"}</tool_call>', "x" * 70_000]
        del actions[3 if k % 2 else -1]  # odd items answer at the last step, even ones truncate
        for action in actions:
            out.append(env.step(action))
    env.close()
    return out


def test_logging_off_gives_what_logging_on_gives(items, world, tmp_path):
    on = _play(items, world, tmp_path / "on.duckdb", "same-run")
    off = _play(items, world, None, "same-run")
    assert len(on) == len(off) == 12 + 12 * 5
    assert off == on
    kinds = {step[-1]["error"] for step in on if len(step) == 5}
    assert {"no_call", "unknown_tool", ""} <= kinds
    assert any(step[2] for step in on if len(step) == 5)  # some terminated (answered)
    assert any(step[3] for step in on if len(step) == 5)  # some truncated


@pytest.mark.parametrize("tool_format", ["auto", "qwen3_coder"])
def test_the_prompt_head_rendered_once_gives_each_question_its_full_prompt(
    items, world, tool_format
):
    env = gym.make("MedResearch-v0", qa=items, db=None, world=world, tool_format=tool_format)
    base = env.unwrapped
    base.cap_steps(3)  # before the first reset, as TimeBudget does: the head must follow
    for item in items[:4]:
        prompt = env.reset(options={"question_id": item.id})[0]
        assert prompt == render_prompt(item.question, base.schemas, 3, tool_format)
        assert prompt.endswith(f"\nQuestion: {item.question}") and "You have 3 turns" in prompt
    env.close()


AFTER_CALL = {
    "mistral": '[TOOL_CALLS]medical_search[ARGS]{"query": "a"}',
    "deepseek_v3": "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>medical_search<｜tool▁sep｜>"
    '{"query": "a"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
    "qwen3_coder": "<tool_call>\n<function=medical_search>\n<parameter=query>\na\n</parameter>\n"
    "</function>\n</tool_call>",
}


@pytest.mark.parametrize("family", sorted(AFTER_CALL))
@pytest.mark.parametrize("dense", [0, 3000])  # 3000 "<"s: past the memchr walk's limit
@pytest.mark.parametrize(
    ("tags", "answers"),
    [("<answer>X</answer>", ["X"]), ("</answer>X", []), ("<answer>X", []), ("X", [])],
)
def test_answer_tags_in_the_text_left_by_a_call(family, dense, tags, answers):
    """The dispatcher looks for ``<answer>`` in the text a call leaves with one walk over
    its ``<``s (not two ``str`` searches, ~60 us per 100 KB): a closed answer there is read
    beside the call, a lone ``</answer>`` or an unclosed ``<answer>`` is not, at any density
    of ``<``."""
    _, found_family, found, rest = extract("a<b " * dense + f"Done: {tags} " + AFTER_CALL[family])
    assert found_family == family and found[0].name == "medical_search"
    assert [a.arguments["answer"] for a in found[1:]] == answers

"""One tool definition: each `medenv.tools` module's ``TOOL`` is the tool; the registry,
the schemas, the prompt and the TRL adapter follow it, and the tool's msgspec ``Args`` is
the one argument check of an env step (one message per fault)."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import gymnasium as gym
import msgspec
import pytest

import medenv  # noqa: F401  (registers MedResearch-v0)
import medenv.tools
from medenv.tools.registry import TOOL_NAMES, TOOLS, tool_schemas, validate
from medenv.trl import MedResearchTools
from tests.test_env import make_items


def test_the_registry_is_the_modules_that_declare_a_tool():
    # a second reading: the source files that declare ``TOOL = Tool(...)``
    folder = Path(medenv.tools.__file__).parent
    declared = {}
    for path in folder.glob("*.py"):
        m = re.search(r"^TOOL = Tool\(NAME, .*order=(\d+)\)$", path.read_text(), re.M)
        if m:
            name = re.search(r'^NAME = "(\w+)"$', path.read_text(), re.M)[1]
            declared[name] = int(m[1])
    assert sorted(declared, key=lambda n: (declared[n], n)) == list(TOOL_NAMES)
    assert TOOL_NAMES == ("medical_search", "web_search", "browse", "answer")
    for schema in tool_schemas():
        fn = schema["function"]
        tool = TOOLS[fn["name"]]
        assert fn["description"] == tool.description
        props = msgspec.json.schema(tool.args)
        fields = {f.name for f in msgspec.structs.fields(tool.args)}
        assert set(fn["parameters"]["properties"]) == fields, props
        method = getattr(MedResearchTools, fn["name"])  # the TRL tool, generated
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        assert params == list(fn["parameters"]["properties"])
        assert tool.description in method.__doc__


@pytest.fixture(scope="module")
def env():
    from medenv.world import load_world

    world = load_world(progress=False)
    env = gym.make("MedResearch-v0", qa=make_items(world.kg, n=1), world=world, db=None)
    yield env
    env.close()


@pytest.mark.parametrize(
    "arguments",
    [
        {"query": 3},
        {"query": ""},
        {"query": "ataxia", "top_k": 0},
        {"query": "ataxia", "top_k": "many"},
        {"query": "ataxia", "extra": 1},
        {},
    ],
)
@pytest.mark.parametrize("form", ["dict", "hermes"])
def test_an_env_step_checks_arguments_once_with_the_tools_args(env, arguments, form):
    """The env's rejection is exactly the registry's (msgspec) message for the fault,
    whatever form the call came in: one check, one message."""
    expected = validate("medical_search", arguments)
    assert expected.ok is False
    call = {"name": "medical_search", "arguments": arguments}
    action = call if form == "dict" else f"<tool_call>{json.dumps(call)}</tool_call>"
    env.reset(seed=0)
    obs, _, _, _, info = env.step(action)
    assert info["error"] == "bad_arguments"
    assert obs.startswith(f"Error (bad_arguments): {expected.text.removeprefix('Error: ')}")
    assert obs.count("Usage:") == 1

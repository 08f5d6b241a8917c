"""The four tools over the default HPO world: rendering, focus, errors, determinism."""

from __future__ import annotations

import json

import pytest

from medenv.tools.registry import TOOL_NAMES, execute, tool_schemas
from medenv.world import World, load_world


@pytest.fixture(scope="session")
def world():
    return load_world("hpo", "tantivy", seed=0, progress=False)


def test_schemas_are_plain_openai_functions():
    schemas = tool_schemas()
    assert [s["function"]["name"] for s in schemas] == list(TOOL_NAMES)
    text = json.dumps(schemas)
    assert "$ref" not in text and "$defs" not in text
    for s in schemas:
        assert s["type"] == "function" and s["function"]["description"]
        params = s["function"]["parameters"]
        assert params["type"] == "object" and params["additionalProperties"] is False
        assert set(params["required"]) <= set(params["properties"])
    search = schemas[0]["function"]["parameters"]["properties"]
    assert search["top_k"] == {
        "description": "How many results to return (1-20).",
        "type": "integer",
        "minimum": 1,
        "maximum": 20,
        "default": 5,
    }
    assert [s["function"]["name"] for s in tool_schemas(["answer"])] == ["answer"]


def test_medical_search_renders_ranked_hits(world):
    r = execute(world, "medical_search", {"query": "Developmental and epileptic encephalopathy 96"})
    assert r.ok and r.error is None
    lines = r.text.splitlines()
    assert lines[0] == 'medical_search results for "Developmental and epileptic encephalopathy 96":'
    assert lines[1] == (
        "1. Developmental and epileptic encephalopathy 96 | "
        "https://medref.medenv.org/entity/OMIM:619340"
    )
    assert r.doc_ids[0] == "med:OMIM:619340" and len(r.doc_ids) == 5
    assert all(d.startswith("med:") for d in r.doc_ids)


def test_web_search_returns_web_pages_only(world):
    r = execute(world, "web_search", {"query": "NSF epileptic encephalopathy", "top_k": 8})
    assert r.ok and len(r.doc_ids) == 8
    assert all(d.startswith("web:") for d in r.doc_ids)
    assert "web:NCBIGene:4905:summary" in r.doc_ids[:2]
    few = execute(world, "web_search", {"query": "NSF", "top_k": 8})
    assert set(few.doc_ids) == {"web:NCBIGene:4905:summary", "web:NCBIGene:4905:encyclopedia"}


def test_browse_puts_the_goal_first_and_caps_length(world):
    url = "https://medref.medenv.org/entity/HP:0001250"  # Seizure: a hub page
    r = execute(world, "browse", {"url": url, "goal": "Angelman syndrome"})
    assert r.ok and r.doc_ids == ("med:HP:0001250",)
    lines = r.text.splitlines()
    assert lines[:2] == ["Page: Seizure", f"URL: {url}"]
    assert "Angelman syndrome" in lines[3]
    assert lines[-1].startswith("[Page truncated:")
    assert len(r.text) < 2600
    plain = execute(world, "browse", {"url": url, "goal": ""})
    assert plain.text.splitlines()[2].startswith("Seizure (HP:0001250) is a phenotype entry.")


def test_browse_short_page_is_whole_and_accepts_doc_id(world):
    r = execute(world, "browse", {"url": "med:OMIM:619340", "goal": "gene"})
    assert r.ok and "truncated" not in r.text
    assert (
        r.text.splitlines()[3]
        == "Developmental and epileptic encephalopathy 96 is associated with the gene: NSF."
    )


def test_browse_unknown_url_is_a_clear_not_found(world):
    r = execute(world, "browse", {"url": "https://example.org/nothing", "goal": "x"})
    assert not r.ok and r.error == "not_found" and r.doc_ids == ()
    assert "no page at 'https://example.org/nothing'" in r.text
    assert "medref" not in r.text and "|" not in r.text


def test_answer_submits(world):
    r = execute(world, "answer", {"answer": "  NSF \n"})
    assert r.ok and r.text == "Final answer submitted: NSF"


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("medical_search", {}, "medical_search: missing required argument `query`"),
        ("medical_search", {"query": 3}, "argument `query` must be a string, got an integer"),
        ("medical_search", {"query": ""}, "argument `query` must not be empty"),
        ("web_search", {"query": "   "}, "web_search: `query` is blank"),
        (
            "medical_search",
            {"query": "x", "top_k": 0},
            "argument `top_k` must be an integer >= 1, got 0",
        ),
        (
            "medical_search",
            {"query": "x", "top_k": 21},
            "argument `top_k` must be an integer <= 20, got 21",
        ),
        (
            "medical_search",
            {"query": "x", "top_k": "5"},
            "argument `top_k` must be an integer, got a string",
        ),
        ("web_search", {"query": "x", "k": 2}, "web_search: unknown argument `k`"),
        ("browse", {"url": "x"}, "browse: missing required argument `goal`"),
        ("answer", {"answer": None}, "argument `answer` must be a string, got null"),
        ("answer", ["NSF"], "answer: arguments must be a JSON object"),
        ("medical_search", "{not json", "medical_search: arguments are not valid JSON"),
        ("search", {"query": "x"}, "unknown tool 'search'. Available tools: medical_search"),
    ],
)
def test_bad_arguments_give_precise_messages(world, name, arguments, message):
    r = execute(world, name, arguments)
    assert not r.ok and r.doc_ids == ()
    assert r.error == ("unknown_tool" if name == "search" else "bad_arguments")
    assert r.text.startswith("Error: ") and message in r.text
    if name != "search":
        assert "Usage: " + name + "(" in r.text or "blank" in r.text


def test_json_string_arguments_are_accepted(world):
    a = execute(world, "medical_search", '{"query": "NSF", "top_k": 2}')
    b = execute(world, "medical_search", {"query": "NSF", "top_k": 2})
    assert a == b and a.ok


def test_results_are_deterministic_across_fresh_worlds(world):
    from medenv.corpus.build import cached_corpus

    again = World.from_corpus(world.kg, cached_corpus(world.kg, seed=0, progress=False))
    assert again.fingerprint == world.fingerprint
    for name, args in [
        ("medical_search", {"query": "autosomal recessive seizures microcephaly", "top_k": 10}),
        ("web_search", {"query": "intellectual disability gene", "top_k": 10}),
        ("browse", {"url": "https://medref.medenv.org/entity/HP:0000007", "goal": "ataxia"}),
    ]:
        assert execute(world, name, args) == execute(again, name, args)

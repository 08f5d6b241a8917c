"""The families added in round 16 (DeepSeek-V3.2/V4 DSML, MiniMax-M2, Seed-OSS, Olmo 3,
Gemma 4) beyond the reference cases: a reply cut off anywhere, huge and nested inputs (never raising, one error
or the calls), the Seed-OSS reasoning rules, and which value ends where."""

from __future__ import annotations

import pytest

from medenv.tools.parsing import ToolCall, parse_action
from medenv.tools.registry import tool_schemas

SCHEMAS = tool_schemas()
MS = "medical_search"
DSML = (
    '<｜DSML｜function_calls>\n<｜DSML｜invoke name="medical_search">\n'
    '<｜DSML｜parameter name="query" string="true">ataxia</｜DSML｜parameter>\n'
    '<｜DSML｜parameter name="top_k" string="false">3</｜DSML｜parameter>\n'
    "</｜DSML｜invoke>\n</｜DSML｜function_calls>"
)
MINIMAX = (
    '<minimax:tool_call>\n<invoke name="medical_search">\n<parameter name="query">ataxia'
    '</parameter>\n<parameter name="top_k">3</parameter>\n</invoke>\n</minimax:tool_call>'
)
SEED = (
    "<seed:tool_call>\n<function=medical_search>\n<parameter=query>ataxia</parameter>\n"
    "<parameter=top_k>3</parameter>\n</function>\n</seed:tool_call>"
)
OLMO = "<function_calls>\nmedical_search(query='ataxia', top_k=3)\n</function_calls>"
GEMMA = '<|tool_call>call:medical_search{query:<|"|>ataxia<|"|>,top_k:3}<tool_call|>'
WHOLE = {
    "deepseek_v32": DSML, "minimax_m2": MINIMAX, "seed_oss": SEED, "olmo3": OLMO, "gemma4": GEMMA,
}  # fmt: skip
CALL = ToolCall(MS, {"query": "ataxia", "top_k": 3})


@pytest.mark.parametrize("family", sorted(WHOLE))
def test_a_reply_cut_off_anywhere_is_one_call_or_one_error(family):
    """Every prefix of a call (generation stopped mid-tag, mid-value, before a closing tag):
    never raises; once the last value's closing tag is written, the call is read (a value
    cut inside its closing tag holds part of the tag: an error for an integer)."""
    text = WHOLE[family]
    end = text.rindex("3") + 1  # the last value, then what ends it
    if family == "gemma4":
        complete_from = end
    else:
        complete_from = text.index(")" if family == "olmo3" else ">", end) + 1
    for cut in range(1, len(text) + 1):
        for mode in ("auto", family):
            parsed = parse_action(text[:cut], schemas=SCHEMAS, tool_format=mode)
            assert (parsed.error is None) != (parsed.calls == ()), (cut, mode)
            if cut >= complete_from:
                assert parsed.calls == (CALL,) and parsed.family == family, (cut, mode, parsed)


@pytest.mark.parametrize(
    "text",
    [
        "<minimax:tool_call>" + '<invoke name="medical_search">' * 100_000,
        '<minimax:tool_call><invoke name="medical_search">' + '<parameter name="query">' * 30_000,
        '<minimax:tool_call><invoke name="medical_search"><parameter name="query">'
        + "</parameter>" * 30_000,
        "<｜DSML｜function_calls>" * 50_000,
        '<｜DSML｜tool_calls><｜DSML｜invoke name="x">' + '<｜DSML｜parameter name="' * 50_000,
        '<｜DSML｜function_calls><｜DSML｜invoke name="' + "a" * 1_000_000,
        "<seed:tool_call>" * 100_000,
        "<seed:tool_call><function=medical_search>" + "<parameter=query>" * 30_000,
        "<seed:think>" * 100_000 + SEED,
        "</seed:think>" * 100_000 + MINIMAX,
        "<function_calls>" * 100_000,
        "<function_calls>" + "medical_search(" * 10_000,
        "<function_calls>medical_search(query=" + "{'a': " * 10_000,
        "<function_calls>\n" + "medical_search(query='a')\n" * 5_000,
        "<|tool_call>" * 100_000,
        "<|tool_call>call:medical_search{" + "query:[" * 50_000,
        '<|tool_call>call:medical_search{query:<|"|>' + "a" * 1_000_000,
        "<|tool_call>call:medical_search{" + "a" * 1_000_000,
        "<|tool_call>call:medical_search{" + "k:{" * 2_000 + "}" * 2_000 + "}<tool_call|>",
        "<|channel>" * 100_000 + GEMMA,
        (MINIMAX + DSML + SEED) * 30,  # 90 calls of three families: read as the first one's
        DSML.replace("ataxia", MINIMAX.replace("ataxia", SEED)),  # nested families
    ],
    ids=lambda t: f"{len(t)}-chars-{t[:24]}",
)
def test_huge_and_nested_inputs_never_raise(text):
    modes = [("auto", False), ("auto", True), ("qwen3_coder", True)]
    for mode, parallel in modes + [(family, True) for family in WHOLE]:
        parsed = parse_action(text, parallel_calls=parallel, schemas=SCHEMAS, tool_format=mode)
        assert (parsed.error is None) != (parsed.calls == ()), (mode, parsed)


def test_many_calls_of_one_family_and_the_cap():
    parsed = parse_action((MINIMAX + DSML + SEED) * 30, parallel_calls=True, schemas=SCHEMAS)
    # the family whose wrapper opens first is read; the others' blocks are its text
    assert parsed.family == "minimax_m2" and parsed.calls == (CALL,) * 30
    invokes = '<invoke name="medical_search"><parameter name="query">a</parameter></invoke>'
    parsed = parse_action(f"<minimax:tool_call>{invokes * 65}", parallel_calls=True)
    assert parsed.error.kind == "several_calls" and "More than 64" in parsed.error.message


def test_a_nested_family_is_the_value_of_the_outer_one():
    nested = DSML.replace("ataxia", MINIMAX)
    parsed = parse_action(nested, schemas=SCHEMAS)
    assert parsed.family == "deepseek_v32"
    assert parsed.calls == (ToolCall(MS, {"query": MINIMAX, "top_k": 3}),)


def test_seed_reasoning_rules():
    # closed, unclosed (generation stopped while thinking), closed by the template's opening
    parsed = parse_action("<seed:think>plan</seed:think>" + SEED, schemas=SCHEMAS)
    assert parsed.think == "plan" and parsed.calls == (CALL,)
    parsed = parse_action("<seed:think>the format is " + SEED, schemas=SCHEMAS)
    assert parsed.calls == () and parsed.error.kind == "no_call"
    assert parsed.think == "the format is " + SEED
    parsed = parse_action("plan</seed:think>" + SEED, schemas=SCHEMAS, tool_format="seed_oss")
    assert parsed.think == "plan" and parsed.calls == (CALL,)
    # a <seed:think> quoted after the call is text; plain <think> first keeps its own tags
    parsed = parse_action(SEED + "<seed:think>x</seed:think>", schemas=SCHEMAS)
    assert parsed.think is None and parsed.calls == (CALL,)
    parsed = parse_action("<think>a <seed:think> b</think>" + SEED, schemas=SCHEMAS)
    assert parsed.think == "a <seed:think> b" and parsed.calls == (CALL,)


def test_where_a_value_ends():
    def read(text, **kw):
        parsed = parse_action(text, schemas=SCHEMAS, **kw)
        assert parsed.error is None, parsed.error
        return parsed.calls[0].arguments["query"]

    mm = '<minimax:tool_call><invoke name="medical_search"><parameter name="query">{}</invoke>'
    # the last closing tag before the next parameter / the invoke's end; MiniMax strips
    assert read(mm.format(" a </parameter> b </parameter>\n")) == "a </parameter> b"
    assert read(mm.format("a\n" + '<parameter name="top_k">2</parameter>')) == "a"
    dsml = (
        '<｜DSML｜function_calls><｜DSML｜invoke name="medical_search">'
        '<｜DSML｜parameter name="query" string="true">{}</｜DSML｜invoke>'
    )
    # DSML keeps a value as written (a string's spaces too)
    assert read(dsml.format(" a </｜DSML｜parameter>")) == " a "
    # the other family's closing tag is text; a bare name and single quotes are read
    assert (
        read(
            "<minimax:tool_call><invoke name=medical_search><parameter name='query'>x</｜DSML｜parameter></parameter>"
        )
        == "x</｜DSML｜parameter>"
    )


@pytest.mark.parametrize(
    "text, words",
    [
        ('<minimax:tool_call><invoke name="">x</invoke>', '<invoke name="TOOL">'),
        ('<minimax:tool_call><invoke name="medical_search"><parameter name=>a</parameter>', "parameter"),
        ('<minimax:tool_call><invoke name="medical_search"><parameter name="query"', "parameter"),
        ('<｜DSML｜tool_calls><｜DSML｜invoke name="medical_search', "<｜DSML｜invoke name="),
        ("<seed:tool_call>medical_search</seed:tool_call>", "<function=NAME>"),
        ("<seed:tool_call><function=>x</function></seed:tool_call>", "<function=NAME>"),
    ],
)  # fmt: skip
def test_malformed_calls_are_bad_json_naming_the_tag(text, words):
    for mode in ("auto", None):
        family = parse_action(text, schemas=SCHEMAS).family
        parsed = parse_action(text, schemas=SCHEMAS, tool_format=mode or family)
        assert parsed.error.kind == "bad_json" and words in parsed.error.message, parsed.error


def test_a_malformed_call_among_several_makes_the_action_an_error():
    bad = '<invoke name="medical_search"><parameter name=>x</parameter></invoke>'
    good = '<invoke name="web_search"><parameter name="query">x</parameter></invoke>'
    parsed = parse_action(
        f"<minimax:tool_call>{good}{bad}</minimax:tool_call>", parallel_calls=True
    )
    assert parsed.calls == () and parsed.error.kind == "bad_json"


def test_a_wrapper_without_invoke_is_no_call_of_its_family():
    for text, family in (
        ("<minimax:tool_call>\n</minimax:tool_call>", "minimax_m2"),
        ("<｜DSML｜function_calls>x</｜DSML｜function_calls>", "deepseek_v32"),
    ):
        parsed = parse_action(text, schemas=SCHEMAS)
        assert parsed.error.kind == "no_call" and parsed.family == family


# vllm-gemma4 TestParseGemma4Args / TestParseGemma4Array inputs (vLLM, Apache-2.0; commit
# 027004de3715411197be51ced325705abcf740a7, tests/tool_parsers/test_gemma4_tool_parser.py),
# read as the arguments of a whole call
GEMMA_ARGS = [
    ("", {}),
    ("   ", {}),
    ('location:<|"|>Paris, France<|"|>', {"location": "Paris, France"}),
    ('location:<|"|>San Francisco<|"|>,unit:<|"|>celsius<|"|>', {"location": "San Francisco", "unit": "celsius"}),
    ("count:42", {"count": 42}),
    ("score:3.14", {"score": 3.14}),
    ("flag:true", {"flag": True}),
    ("flag:false", {"flag": False}),
    ("param:null", {"param": None}),
    ('name:<|"|>test<|"|>,count:42,active:true,score:3.14', {"name": "test", "count": 42, "active": True, "score": 3.14}),
    ('nested:{inner:<|"|>value<|"|>}', {"nested": {"inner": "value"}}),
    ('record_map:{<|"|>3<|"|>:<|"|>new text<|"|>}', {"record_map": {"3": "new text"}}),
    ('outer:{inner:{<|"|>3<|"|>:<|"|>new text<|"|>}}', {"outer": {"inner": {"3": "new text"}}}),
    ('items:[<|"|>a<|"|>,<|"|>b<|"|>]', {"items": ["a", "b"]}),
    ('key:<|"|>unterminated', {"key": "unterminated"}),
    ("key:", {"key": ""}),
    ("left:108.,right:22.8", {"left": 108.0, "right": 22.8}),
    ('xs:[<|"|>a]b<|"|>,<|"|>c<|"|>]', {"xs": ["a]b", "c"]}),  # a ] inside a string
    ("xs:[42,true,3.14]", {"xs": [42, True, 3.14]}),
    ("xs:[42,]trailing", {"xs": [42]}),  # a stray closer
    ("count:1}],flag:true", {"count": 1, "flag": True}),  # ours: stray closers skipped
]  # fmt: skip


@pytest.mark.parametrize("args, want", GEMMA_ARGS, ids=[a for a, _ in GEMMA_ARGS])
def test_gemma4_arguments_read_as_the_reference_reads_them(args, want):
    from medenv.tools.formats import extract

    _, family, found, _ = extract(f"<|tool_call>call:f{{{args}}}<tool_call|>", "auto")
    assert family == "gemma4" and found == [(("f", want, False))]
    assert extract(":[t:[]", "gemma4")[2] == []  # vLLM's malformed partial array: no call

"""Model outputs and the tool calls the reference parsers extract from them, copied from the
reference parsers' own test suites (data for `tests/test_parsing_reference_cases.py`).

Licence: vLLM and SGLang are Apache-2.0; the strings below are copied from their test files
with attribution (repository, commit, path and test name in `SOURCES` and each `Case`).

Each `Case` is one non-streaming check of a reference test: the model output, the calls
(name, arguments) the reference asserts, the content/reasoning it asserts where it does, and
the parameter types its request declares (the XML-like families type values by them). A case
the reference asserts only the name of has ``None`` arguments. ``differs`` names an entry of
`DIFFERENCES` where medenv reads the text otherwise on purpose; ``ours`` is then what medenv
returns instead. ``[]`` means "no call".
"""

from __future__ import annotations

import msgspec

VLLM, SGLANG = "vllm-project/vllm", "sgl-project/sglang"

# key: (repository, commit read, path)
SOURCES: dict[str, tuple[str, str, str]] = {
    "vllm-hermes": (VLLM, "0eb73d6a09be117cdd0d4da4d6239321001c0d0c", "tests/tool_parsers/test_hermes_tool_parser.py"),
    "vllm-hermes-qwq": (VLLM, "06b888c80fff8f1903c5de5c0b9df9b575a4c698", "tests/entrypoints/openai/tool_parsers/test_hermes_tool_parser.py"),
    "vllm-qwen3coder": (VLLM, "049d8df27dda4fd0caffa289ea12bfe5a47ac794", "tests/tool_parsers/test_qwen3coder_tool_parser.py"),
    "vllm-glm45": (VLLM, "024364d6695352f41c029121af6b8ecf2ae60184", "tests/tool_parsers/test_glm4_moe_tool_parser.py"),
    "vllm-mistral": (VLLM, "002d5731d3ee99b92d80b103be81c212245f1acf", "tests/tool_parsers/test_mistral_tool_parser.py"),
    "vllm-openai": (VLLM, "15c99cb111e626d885d7f54a0b57dc9ff10168db", "tests/tool_parsers/test_openai_tool_parser.py"),
    "vllm-deepseekv3": (VLLM, "0f17ee061e413bf8ab7927f926f69cdff24dc63e", "tests/tool_parsers/test_deepseekv3_tool_parser.py"),
    "vllm-deepseekv31": (VLLM, "100fe7e0c14678963aafa5e53001099f761e0f26", "tests/tool_parsers/test_deepseekv31_tool_parser.py"),
    "vllm-kimi": (VLLM, "0825a6c362795d1643ce5684bb3cfa26ff6ffed2", "tests/tool_parsers/test_kimi_k2_tool_parser.py"),
    "vllm-pythonic": (VLLM, "0716d268c7d81e445bd9ae30205f7bf4cfacd7d5", "tests/tool_parsers/test_pythonic_tool_parser.py"),
    "vllm-llama4": (VLLM, "0716d268c7d81e445bd9ae30205f7bf4cfacd7d5", "tests/tool_parsers/test_llama4_pythonic_tool_parser.py"),
    "vllm-llama3": (VLLM, "1e499e36c5828a75c6ca8b76631d264be1187005", "tests/tool_parsers/test_llama3_json_tool_parser.py"),
    "vllm-granite": (VLLM, "2ab4733ef9fc3c039a5868e0141fee3b7fd95890", "tests/tool_parsers/test_granite_tool_parser.py"),
    "vllm-internlm": (VLLM, "0661799351bff0ebe06a5c4799b0be7a96fa6ff0", "tests/tool_parsers/test_internlm2_tool_parser.py"),
    "vllm-qwen3-reasoning": (VLLM, "049d8df27dda4fd0caffa289ea12bfe5a47ac794", "tests/reasoning/test_qwen3_reasoning_parser.py"),
    "vllm-r1-reasoning": (VLLM, "04dbd8f32c4dc8ef1254eeaabd154a225948cf57", "tests/reasoning/test_deepseekr1_reasoning_parser.py"),
    "vllm-mistral-reasoning": (VLLM, "04dbd8f32c4dc8ef1254eeaabd154a225948cf57", "tests/reasoning/test_mistral_reasoning_parser.py"),
    "sglang": (SGLANG, "03400a9e4d955eff2606cfe621c83a710c16cc97", "test/srt/test_function_call_parser.py"),
    "sglang-mistral": (SGLANG, "c3df60d2a0c2aad61e87e1c4071fd36d859e0be7", "test/srt/function_call/test_mistral_detector.py"),
    "sglang-qwen3coder": (SGLANG, "c3df60d2a0c2aad61e87e1c4071fd36d859e0be7", "test/srt/function_call/test_qwen3_coder_detector.py"),
    "vllm-deepseekv32": (VLLM, "00816550e740a13736f7ef9921097d51a3f01ede", "tests/tool_parsers/test_deepseekv32_tool_parser.py"),
    "vllm-deepseekv4": (VLLM, "023f36c62e71a247a9bacb7eb4cea5d55505cb63", "tests/tool_parsers/test_deepseekv4_tool_parser.py"),
    "vllm-minimax-m2": (VLLM, "0c927c3451653f28e60cd552cff13ddc3c9ff49e", "tests/tool_parsers/test_minimax_m2_tool_parser.py"),
    "sglang-minimax-m2": (SGLANG, "9f0bd17f0febd56547da510fca9c75ec2539a556", "test/registered/function_call/test_minimax_m2_detector.py"),
    "vllm-seed-oss": (VLLM, "0f120751344c09af442c1800020908d2b7ff71f2", "tests/tool_parsers/test_seed_oss_tool_parser.py"),
    "vllm-lfm2": (VLLM, "011cde7c177a29bbcb0052d80e5ab7671a70f634", "tests/tool_parsers/test_lfm2_tool_parser.py"),
    "vllm-gemma4": (VLLM, "027004de3715411197be51ced325705abcf740a7", "tests/tool_parsers/test_gemma4_tool_parser.py"),
    "vllm-olmo3": (VLLM, "2aac44dc3f7b41fca0273ff024fa557c4c7ab1ee", "tests/tool_parsers/test_olmo3_tool_parser.py"),
    "vllm-glm47": (VLLM, "0ce879769db6d7503db0ecdfb5b503b080720347", "tests/tool_parsers/test_glm47_moe_tool_parser.py"),
}  # fmt: skip

# key: the README sentence (its start) that documents the difference
DIFFERENCES: dict[str, str] = {
    "not_json": "Arguments that are not a JSON object",
    "one_bad_call": "A malformed call among several",
    "truncated": "A call cut off at the end of the reply",
    "untyped": "XML-like values (`qwen3_coder`, `glm45`, `deepseek_v32`, `minimax_m2`, `seed_oss`) are converted by the schema's type",
    "no_think_tags": "A reply without think tags is content",
    "kimi_bare_id": "A Kimi call id that is a bare counter",
    "marker_anywhere": "A family's call marker is read anywhere in the reply",
    "wrapper": "A DSML call whose only parameter is an undeclared `arguments`/`input`",
    "dsml_wrappers": "A DSML block is read under either wrapper",
    "not_python": "A pythonic call that is not a Python call of JSON literals",
}


class Case(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    family: str  # the medenv tool_format of the reference parser
    source: str  # a SOURCES key
    test: str  # the reference test (function name, parameter id)
    text: str
    calls: list  # [(name, arguments or None)] the reference asserts; [] = no call
    content: str | None = None  # content the reference asserts (ours must contain it)
    think: str | None = None  # reasoning the reference asserts (compared stripped)
    tools: dict = msgspec.field(default_factory=dict)  # name -> declared properties
    differs: str | None = None  # a DIFFERENCES key
    ours: list | None = None  # medenv's calls when it differs
    our_think: str | None = None  # medenv's reasoning when it differs


# fmt: off
WEATHER = {
    "city": {"type": "string"},
    "state": {"type": "string"},
    "unit": {"type": "string", "enum": ["fahrenheit", "celsius"]},
}
AREA = {"shape": {"type": "string"}, "dimensions": {"type": "object"}, "precision": {"type": "integer"}}
Q3C_TOOLS = {"get_current_weather": WEATHER, "calculate_area": AREA}
TYPES_TOOL = {
    "test_types": {
        "int_param": {"type": "integer"},
        "float_param": {"type": "float"},
        "bool_param": {"type": "boolean"},
        "str_param": {"type": "string"},
        "obj_param": {"type": "object"},
    }
}
GLM_TOOLS = {"get_weather": {"city": {"type": "string"}}}
DALLAS = {"city": "Dallas", "state": "TX", "unit": "fahrenheit"}
SF = {"city": "San Francisco", "state": "CA", "unit": "celsius"}

Q3C_DALLAS = """<tool_call>
<function=get_current_weather>
<parameter=city>
Dallas
</parameter>
<parameter=state>
TX
</parameter>
<parameter=unit>
fahrenheit
</parameter>
</function>
</tool_call>"""

QWQ_OUTPUT = (  # vllm-hermes-qwq NO_STREAM_FUNCTION_OUTPUT: a QwQ-32B reply
    "好的，用户现在要研发一个5MW"
    "的燃气轮机，需要确定总体"
    "参数，比如空气流量、压气机压比、转速、"
    "燃烧室出口温度、压气机级数和支点布"
    "局。首先，我需要回忆一下燃气轮机的基本"
    "设计参数和它们之间的关系。\n\n首"
    "先，燃气轮机的功率主要由"
    "热力学循环参数决定，比如压比、"
    "温度和空气流量。5MW属于"
    "中小型燃气轮机，可能用于分"
    "布式能源或航改型发动机。我"
    "需要先确定这些参数的大"
    "致范围。\n\n空气流量方面，通"
    "常燃气轮机的空气流量"
    "（ṁa）可以通过功率"
    "估算。根据经验"
    "，每兆瓦大约需要1-3 kg/s"
    "的空气流量。假设5MW的话，"
    "可能在5-15 kg/s之间。但具体"
    "数值需要结合其他参数。\n\n压气机"
    "压比（πc）是关键参数，通常"
    "中小型燃气轮机的压比在8-20之间。"
    "假设选择12的压比，这样可以在"
    "效率和结构之间取得平衡。\n\n转"
    "速方面，燃气轮机的转速较"
    "高，通常在8000-15000 rpm之间。"
    "考虑到5MW的规模，可能选"
    "择10000 rpm左右，这样可以平衡"
    "机械强度和效率。\n\n燃"
    "烧室出口温度（T3）是涡轮入"
    "口温度，直接影响效率和"
    "材料选择。现代燃气轮机的涡轮"
    "前温度可能在1400-1600K"
    "左右。假设1500K，但需要考虑"
    "材料限制，比如镍基合金的"
    "耐温能力。\n\n压气机级数需要"
    "根据压比和压气机的级效"
    "率来确定。假设每级的压比"
    "约为1.3，那么总级数大约是"
    "log(πc)/log(1.3) ≈ "
    "log(12)/log(1.3) ≈ 7-8级。"
    "可能需要8级压气机。\n\n"
    "支点布局方面，燃气轮机的支点"
    "通常布置在压气机和涡轮"
    "之间，以减少振动。常见的布局"
    "是两端支撑，或者中间"
    "加一个支点。对于中小型机，可能采"
    "用双支撑结构，比如在"
    "压气机端和涡轮端各一个，或者"
    "中间加一个中间支点来提"
    "高刚度。\n\n不过，这些数值"
    "可能需要进一步验证。比"
    "如，是否需要调用互联网搜索"
    "来确认这些参数的典型"
    "值？比如，5MW燃气轮机的空气"
    "流量、压比等是否有标准"
    "数据？或者是否有类似"
    "案例？\n\n用户"
    "可能希望得到一个具体"
    "的例子，所以可能需要结合典型"
    "设计参数。例如，参考现有"
    "的5MW级燃气轮机，如GE的LM2500或"
    "类似型号，但LM2500可能"
    "更大，需要调整。或者查找学术"
    "资料中的设计案例。\n\n可"
    "能需要调用互联网搜索工具来查找"
    "5MW燃气轮机的设计参数，"
    "比如空气流量、压比等，确保给出"
    "的数值合理。例如，搜索"
    "“5MW燃气轮机设计参数”或“中小型燃"
    "气轮机典型参数”。\n\n假设"
    "搜索结果给出类似参数，比如空气"
    "流量约10 kg/s，压比12，"
    "转速10000 rpm，涡轮前温度1500K，"
    "压气机8级，支点双支撑。这样"
    "可以形成一个范例。\n\n需要确保"
    "各参数之间的热力学一致性，"
    "比如通过理想循环计算验证。"
    "例如，使用布雷顿循环公式计"
    "算理论功率，再调整效率参数"
    "得到实际功率是否接近5MW。"
    "\n\n可能还需要考虑压气机效率、涡"
    "轮效率等因素。例如，假设压"
    "气机效率0.85，涡轮效率0.9，燃"
    "烧效率0.98，散热损失等，"
    "但用户可能只需要总体参数，不需"
    "要详细热力计算。\n\n总"
    "结下来，给出一个范例参数，同时"
    "说明这些参数的选择依据，"
    "并建议进一步详细设计时进行"
    "热力循环分析和结构强度校核"
    "。\n</think>\n\n<tool_call>"
    '\n{"name": '
    '"internet_search",'
    ' "arguments":'
    ' {"question": "'
    "5MW燃气轮机"
    "设计参数 空气流量 压气机"
    "压比 转速 燃烧室出口"
    "温度 压气机级数"
    ' 支点布局"}}\n</tool_call>\n\n '
)

HERMES = [
    Case(id="hermes-no-call", family="hermes", source="vllm-hermes", test="test_hermes_parser_non_streaming_no_tool_call",
         text="This is not a tool call.", calls=[]),
    Case(id="hermes-between-tags", family="hermes", source="vllm-hermes", test="test_hermes_parser_non_streaming_tool_call_between_tags",
         text='<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}}\n</tool_call>',
         calls=[("final_answer", {"trigger": True})]),
    Case(id="hermes-until-eos", family="hermes", source="vllm-hermes", test="test_hermes_parser_non_streaming_tool_call_until_eos",
         text='<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}}',
         calls=[("final_answer", {"trigger": True})]),
    Case(id="hermes-invalid-json", family="hermes", source="vllm-hermes", test="test_hermes_parser_non_streaming_tool_call_invalid_json",
         text='<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}', calls=[]),
    Case(id="hermes-serialized-arguments", family="hermes", source="vllm-hermes", test="test_hermes_parser_non_streaming_serialized_arguments",
         text='<tool_call>\n{"name": "get_db_config", "arguments": "{\\"param\\": \\"max_connections\\"}"}\n</tool_call>',
         calls=[("get_db_config", {"param": "max_connections"})]),
    Case(id="hermes-bare-string-arguments", family="hermes", source="vllm-hermes", test="test_hermes_parser_non_streaming_bare_string_arguments",
         text='<tool_call>\n{"name": "do_thing", "arguments": "hello"}\n</tool_call>',
         calls=[("do_thing", "hello")], differs="not_json", ours=[]),
    Case(id="hermes-content-then-call", family="hermes", source="vllm-hermes", test="test_hermes_streaming_content_then_tool_call_with_stream_interval (final calls)",
         text='Sure, let me check the weather.<tool_call>{"name": "get_weather", "arguments": {"city": "NYC"}}</tool_call>',
         calls=[("get_weather", {"city": "NYC"})], content="Sure, let me check the weather."),
    Case(id="hermes-two-calls", family="hermes", source="vllm-hermes", test="test_hermes_streaming_multiple_tool_calls_with_stream_interval (final calls)",
         text='<tool_call>{"name": "search", "arguments": {"q": "cats"}}</tool_call><tool_call>{"name": "search", "arguments": {"q": "dogs"}}</tool_call>',
         calls=[("search", {"q": "cats"}), ("search", {"q": "dogs"})]),
    Case(id="hermes-qwq-think-closed-only", family="hermes", source="vllm-hermes-qwq", test="test_tool_call_no_stream[lei_test_streaming_01]",
         text=QWQ_OUTPUT,
         calls=[("internet_search", {"question": "5MW燃气轮机设计参数 空气流量 压气机压比 转速 燃烧室出口温度 压气机级数 支点布局"})]),
]

QWEN3_CODER = [
    Case(id="q3c-no-tools", family="qwen3_coder", source="vllm-qwen3coder", test="test_extract_tool_calls_no_tools",
         text="This is a test response without any tool calls", calls=[], content="This is a test response without any tool calls"),
    Case(id="q3c-single", family="qwen3_coder", source="vllm-qwen3coder", test="test_extract_tool_calls[single_tool]",
         text=Q3C_DALLAS, calls=[("get_current_weather", DALLAS)], tools=Q3C_TOOLS),
    Case(id="q3c-with-content", family="qwen3_coder", source="vllm-qwen3coder", test="test_extract_tool_calls[single_tool_with_content]",
         text="Sure! Let me check the weather for you." + Q3C_DALLAS, calls=[("get_current_weather", DALLAS)],
         content="Sure! Let me check the weather for you.", tools=Q3C_TOOLS),
    Case(id="q3c-multiline-param", family="qwen3_coder", source="vllm-qwen3coder", test="test_extract_tool_calls[single_tool_multiline_param]",
         text='<tool_call>\n<function=calculate_area>\n<parameter=shape>\nrectangle\n</parameter>\n<parameter=dimensions>\n{"width": 10, \n "height": 20}\n</parameter>\n<parameter=precision>\n2\n</parameter>\n</function>\n</tool_call>',
         calls=[("calculate_area", {"shape": "rectangle", "dimensions": {"width": 10, "height": 20}, "precision": 2})], tools=Q3C_TOOLS),
    Case(id="q3c-parallel", family="qwen3_coder", source="vllm-qwen3coder", test="test_extract_tool_calls[parallel_tools]",
         text=Q3C_DALLAS + "\n" + Q3C_DALLAS.replace("Dallas", "Orlando").replace("TX", "FL"),
         calls=[("get_current_weather", DALLAS), ("get_current_weather", {"city": "Orlando", "state": "FL", "unit": "fahrenheit"})], tools=Q3C_TOOLS),
    Case(id="q3c-typed-params", family="qwen3_coder", source="vllm-qwen3coder", test="test_extract_tool_calls[tool_with_typed_params]",
         text='Let me calculate that area for you.<tool_call>\n<function=calculate_area>\n<parameter=shape>\ncircle\n</parameter>\n<parameter=dimensions>\n{"radius": 15.5}\n</parameter>\n<parameter=precision>\n3\n</parameter>\n</function>\n</tool_call>',
         calls=[("calculate_area", {"shape": "circle", "dimensions": {"radius": 15.5}, "precision": 3})],
         content="Let me calculate that area for you.", tools=Q3C_TOOLS),
    Case(id="q3c-no-tool-call-tags", family="qwen3_coder", source="vllm-qwen3coder", test="test_extract_tool_calls_fallback_no_tags",
         text="<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n</function>",
         calls=[("get_current_weather", None)], tools=Q3C_TOOLS),
    Case(id="q3c-type-conversion", family="qwen3_coder", source="vllm-qwen3coder", test="test_extract_tool_calls_type_conversion",
         text='<tool_call>\n<function=test_types>\n<parameter=int_param>\n42\n</parameter>\n<parameter=float_param>\n3.14\n</parameter>\n<parameter=bool_param>\ntrue\n</parameter>\n<parameter=str_param>\nhello world\n</parameter>\n<parameter=obj_param>\n{"key": "value"}\n</parameter>\n</function>\n</tool_call>',
         calls=[("test_types", {"int_param": 42, "float_param": 3.14, "bool_param": True, "str_param": "hello world", "obj_param": {"key": "value"}})],
         tools=TYPES_TOOL),
    Case(id="q3c-anyof-types", family="qwen3_coder", source="vllm-qwen3coder", test="test_extract_tool_calls_anyof_type_conversion",
         text='<tool_call>\n<function=test_anyof>\n<parameter=anyof_int>\n5\n</parameter>\n<parameter=anyof_str>\nhello\n</parameter>\n<parameter=anyof_array>\n["a", "b", "c"]\n</parameter>\n<parameter=anyof_obj>\n{"key": "value"}\n</parameter>\n<parameter=type_as_array>\n42\n</parameter>\n<parameter=multi_non_null>\nsome text\n</parameter>\n</function>\n</tool_call>',
         calls=[("test_anyof", {"anyof_int": 5, "anyof_str": "hello", "anyof_array": ["a", "b", "c"], "anyof_obj": {"key": "value"}, "type_as_array": 42, "multi_non_null": "some text"})],
         tools={"test_anyof": {
             "anyof_int": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 5},
             "anyof_str": {"anyOf": [{"type": "string"}, {"type": "null"}]},
             "anyof_array": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
             "anyof_obj": {"anyOf": [{"type": "object"}, {"type": "null"}]},
             "type_as_array": {"type": ["integer", "null"]},
             "multi_non_null": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
         }}),
    Case(id="q3c-missing-parameter-close", family="qwen3_coder", source="vllm-qwen3coder", test="test_extract_tool_calls_missing_closing_parameter_tag",
         text="Let me check the weather for you:\n<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>\n</function>\n</tool_call>",
         calls=[("get_current_weather", DALLAS)], content="Let me check the weather for you:", tools=Q3C_TOOLS),
    Case(id="q3c-malformed-sibling-dropped", family="qwen3_coder", source="vllm-qwen3coder", test="test_none_tool_calls_filtered",
         text="<tool_call>\n<function=bad_func_no_gt\n</function>\n</tool_call>\n<tool_call>\n<function=get_current_weather>\n<parameter=city>Dallas</parameter>\n<parameter=state>TX</parameter>\n</function>\n</tool_call>",
         calls=[("get_current_weather", {"city": "Dallas", "state": "TX"})], tools=Q3C_TOOLS, differs="one_bad_call", ours=[]),
    Case(id="q3c-anyof-object", family="qwen3_coder", source="vllm-qwen3coder", test="test_anyof_parameter_not_double_encoded",
         text='<tool_call>\n<function=update_record>\n<parameter=data>{"key": "value", "count": 42}</parameter>\n</function>\n</tool_call>',
         calls=[("update_record", {"data": {"key": "value", "count": 42}})],
         tools={"update_record": {"data": {"anyOf": [{"type": "object"}, {"type": "null"}]}}}),
    Case(id="q3c-string-once", family="qwen3_coder", source="vllm-qwen3coder", test="test_no_double_serialization_string_args",
         text="<tool_call>\n<function=greet>\n<parameter=message>hello world</parameter>\n</function>\n</tool_call>",
         calls=[("greet", {"message": "hello world"})], tools={"greet": {"message": {"type": "string"}}}),
    Case(id="q3c-sglang-parallel", family="qwen3_coder", source="sglang", test="TestQwen3CoderDetector.test_detect_and_parse_parallel_tools",
         text=Q3C_DALLAS + "\n" + Q3C_DALLAS.replace("Dallas", "Orlando").replace("TX", "FL"),
         calls=[("get_current_weather", {"city": "Dallas", "state": "TX", "unit": "fahrenheit"}), ("get_current_weather", {"city": "Orlando", "state": "FL", "unit": "fahrenheit"})],
         tools=Q3C_TOOLS),
    Case(id="q3c-sglang-no-parameters", family="qwen3_coder", source="sglang", test="TestQwen3CoderDetector.test_edge_case_no_parameters",
         text="<tool_call>\n<function=get_current_weather>\n</function>\n</tool_call>", calls=[("get_current_weather", {})], tools=Q3C_TOOLS),
    Case(id="q3c-sglang-no-function-close", family="qwen3_coder", source="sglang-qwen3coder", test="TestQwen3CoderDetector.test_full_parse",
         text="<tool_call><function=get_weather><parameter=city>Shanghai</parameter><parameter=unit>celsius</parameter></tool_call>",
         calls=[("get_weather", {"city": "Shanghai", "unit": "celsius"})], tools={"get_weather": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}),
    Case(id="q3c-sglang-special-chars", family="qwen3_coder", source="sglang", test="TestQwen3CoderDetector.test_edge_case_special_chars_in_value",
         text="<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas->TX\n</parameter>\n</function>\n</tool_call>",
         calls=[("get_current_weather", {"city": "Dallas->TX"})], tools=Q3C_TOOLS),
]

GLM_DALLAS = """<tool_call>get_current_weather
    <arg_key>city</arg_key>
    <arg_value>Dallas</arg_value>
    <arg_key>state</arg_key>
    <arg_value>TX</arg_value>
    <arg_key>unit</arg_key>
    <arg_value>fahrenheit</arg_value>
    </tool_call>"""
GLM_BEIJING = "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n<arg_key>date</arg_key>\n<arg_value>2025-08-01</arg_value>\n</tool_call>"
TODOS = [
    {"id": "1", "task": "Check for hard-coded issues in the backend code", "status": "in_progress"},
    {"id": "2", "task": "Check for hard-coded issues in the frontend code", "status": "pending"},
    {"id": "3", "task": "Check for code violating the Single Responsibility Principle", "status": "pending"},
    {"id": "4", "task": "Generate a rectification proposal report", "status": "pending"},
]

GLM45 = [
    Case(id="glm-no-tools", family="glm45", source="vllm-glm45", test="test_extract_tool_calls_no_tools", text="This is a test", calls=[], content="This is a test"),
    Case(id="glm-single", family="glm45", source="vllm-glm45", test="test_extract_tool_calls[single_tool_call]",
         text=GLM_DALLAS, calls=[("get_current_weather", DALLAS)], tools=GLM_TOOLS),
    Case(id="glm-multiple", family="glm45", source="vllm-glm45", test="test_extract_tool_calls[multiple_tool_calls]",
         text=GLM_DALLAS + "\n    " + GLM_DALLAS.replace("Dallas", "Orlando").replace("TX", "FL"),
         calls=[("get_current_weather", DALLAS), ("get_current_weather", {"city": "Orlando", "state": "FL", "unit": "fahrenheit"})]),
    Case(id="glm-content-before", family="glm45", source="vllm-glm45", test="test_extract_tool_calls[tool_call_with_content_before]",
         text="I'll help you check the weather. " + GLM_DALLAS.replace("Dallas", "Seattle").replace("TX", "WA").replace("fahrenheit", "celsius"),
         calls=[("get_current_weather", {"city": "Seattle", "state": "WA", "unit": "celsius"})], content="I'll help you check the weather."),
    Case(id="glm-mixed-args", family="glm45", source="vllm-glm45", test="test_extract_tool_calls[tool_call_with_mixed_args]",
         text=GLM_DALLAS.replace("Dallas", "New York").replace("TX", "NY").replace("fahrenheit", "celsius"),
         calls=[("get_current_weather", {"city": "New York", "state": "NY", "unit": "celsius"})]),
    Case(id="glm-content-no-space", family="glm45", source="vllm-glm45", test="test_extract_tool_calls[tool_call_with_chinese_content]",
         text="I will help you get the weather.<tool_call>get_weather\n    <arg_key>city</arg_key>\n    <arg_value>Beijing</arg_value>\n    <arg_key>date</arg_key>\n    <arg_value>2025-08-01</arg_value>\n    </tool_call>",
         calls=[("get_weather", {"city": "Beijing", "date": "2025-08-01"})], content="I will help you get the weather."),
    Case(id="glm-thinking-tags", family="glm45", source="vllm-glm45", test="test_extract_tool_calls_with_thinking_tags",
         text="<think>I want to get the weather.</think>\n\nI will help you get the weather.\n" + GLM_BEIJING,
         calls=[("get_weather", None)], content="I will help you get the weather."),
    Case(id="glm-empty-arguments", family="glm45", source="vllm-glm45", test="test_extract_tool_calls_empty_arguments",
         text="<tool_call>get_current_time\n</tool_call>", calls=[("get_current_time", {})]),
    Case(id="glm-mixed-content", family="glm45", source="vllm-glm45", test="test_extract_tool_calls_mixed_content",
         text="I will help you get the weather info.\n\n" + GLM_BEIJING + "\n\nmeaningwhile, I will also check the weather in Shanghai.\n\n" + GLM_BEIJING.replace("Beijing", "Shanghai"),
         calls=[("get_weather", {"city": "Beijing", "date": "2025-08-01"}), ("get_weather", {"city": "Shanghai", "date": "2025-08-01"})],
         content="I will help you get the weather info."),
    Case(id="glm-special-characters", family="glm45", source="vllm-glm45", test="test_extract_tool_calls_special_characters",
         text="<tool_call>send_message\n<arg_key>recipient</arg_key>\n<arg_value>Amy</arg_value>\n<arg_key>message</arg_key>\n<arg_value>It is a nice day</arg_value>\n<arg_key>priority</arg_key>\n<arg_value>high</arg_value>\n</tool_call>",
         calls=[("send_message", {"recipient": "Amy", "message": "It is a nice day", "priority": "high"})]),
    Case(id="glm-incomplete", family="glm45", source="vllm-glm45", test="test_extract_tool_calls_incomplete_tool_call",
         text="<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n<arg_key>date</arg_key>\n<arg_value>2025-08-01</arg_value>",
         calls=[], differs="truncated", ours=[("get_weather", {"city": "Beijing", "date": "2025-08-01"})]),
    Case(id="glm-numeric-no-schema", family="glm45", source="vllm-glm45", test="test_extract_tool_calls_numeric_deserialization",
         text="<tool_call>calculate\n<arg_key>operation</arg_key>\n<arg_value>add</arg_value>\n<arg_key>a</arg_key>\n<arg_value>42</arg_value>\n<arg_key>b</arg_key>\n<arg_value>3.14</arg_value>\n<arg_key>enabled</arg_key>\n<arg_value>true</arg_value>\n</tool_call>",
         calls=[("calculate", {"operation": "add", "a": 42, "b": 3.14, "enabled": True})],
         differs="untyped", ours=[("calculate", {"operation": "add", "a": "42", "b": "3.14", "enabled": "true"})]),
    Case(id="glm-whitespace-kept", family="glm45", source="vllm-glm45", test="test_whitespace_preserved_in_arg_values",
         text="<tool_call>apply_diff\n<arg_key>s</arg_key>\n<arg_value>    indented code    </arg_value>\n</tool_call>",
         calls=[("apply_diff", {"s": "    indented code    "})], tools={"apply_diff": {"s": {"type": "string"}}}),
    Case(id="glm-zero-arguments", family="glm45", source="vllm-glm45", test="test_zero_argument_tool_call",
         text="<tool_call>get_time\n</tool_call>", calls=[("get_time", {})]),
    Case(id="glm-open-tag-only", family="glm45", source="vllm-glm45", test="test_malformed_tool_call_no_regex_match",
         text="<tool_call>   ", calls=[]),
    Case(id="glm-unicode", family="glm45", source="vllm-glm45", test="test_unicode_characters_preserved",
         text="<tool_call>send_message\n<arg_key>greeting</arg_key>\n<arg_value>你好世界</arg_value>\n<arg_key>emoji</arg_key>\n<arg_value>🎉</arg_value>\n</tool_call>",
         calls=[("send_message", {"greeting": "你好世界", "emoji": "🎉"})]),
    Case(id="glm-sglang-single", family="glm45", source="sglang", test="TestGlm4MoeDetector.test_single_tool_call",
         text="<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n<arg_key>date</arg_key>\n<arg_value>2024-06-27</arg_value>\n</tool_call>",
         calls=[("get_weather", {"city": "Beijing", "date": "2024-06-27"})], tools={"get_weather": {"city": {"type": "string"}, "date": {"type": "string"}}}),
    Case(id="glm-sglang-multiple", family="glm45", source="sglang", test="TestGlm4MoeDetector.test_multiple_tool_calls",
         text="<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n<arg_key>date</arg_key>\n<arg_value>2024-06-27</arg_value>\n</tool_call><tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Shanghai</arg_value>\n<arg_key>date</arg_key>\n<arg_value>2024-06-28</arg_value>\n</tool_call>",
         calls=[("get_weather", {"city": "Beijing", "date": "2024-06-27"}), ("get_weather", {"city": "Shanghai", "date": "2024-06-28"})]),
    Case(id="glm-sglang-array-json", family="glm45", source="sglang", test="TestGlm4MoeDetector.test_array_argument_with_escaped_json (first output)",
         text="""<tool_call>todo_write\n<arg_key>todos</arg_key>\n<arg_value>[{\"id\": \"1\", \"task\": \"Check for hard-coded issues in the backend code\", \"status\": \"in_progress\"}, {\"id\": \"2\", \"task\": \"Check for hard-coded issues in the frontend code\", \"status\": \"pending\"}, {\"id\": \"3\", \"task\": \"Check for code violating the Single Responsibility Principle\", \"status\": \"pending\"}, {\"id\": \"4\", \"task\": \"Generate a rectification proposal report\", \"status\": \"pending\"}]</arg_value>
</tool_call>""",
         calls=[("todo_write", {"todos": TODOS})], tools={"todo_write": {"todos": {"type": "array"}}}),
]

MISTRAL = [
    Case(id="mistral-no-tools", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_no_tools", text="This is a test", calls=[], content="This is a test"),
    Case(id="mistral-pre-v11-add", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_pre_v11_tokenizer[single_tool_add]",
         text='[TOOL_CALLS][{"name": "add", "arguments":{"a": 3.5, "b": 4}}]', calls=[("add", {"a": 3.5, "b": 4})]),
    Case(id="mistral-pre-v11-weather", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_pre_v11_tokenizer[single_tool_weather]",
         text='[TOOL_CALLS] [{"name": "get_current_weather", "arguments":{"city": "San Francisco", "state": "CA", "unit": "celsius"}}]',
         calls=[("get_current_weather", SF)]),
    Case(id="mistral-pre-v11-arguments-first", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_pre_v11_tokenizer[argument_before_name]",
         text='[TOOL_CALLS] [{"arguments":{"city": "San Francisco", "state": "CA", "unit": "celsius"}, "name": "get_current_weather"}]',
         calls=[("get_current_weather", SF)]),
    Case(id="mistral-pre-v11-name-in-arguments", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_pre_v11_tokenizer[argument_before_name_and_name_in_argument]",
         text='[TOOL_CALLS] [{"arguments":{"name": "John Doe"}, "name": "get_age"}]', calls=[("get_age", {"name": "John Doe"})]),
    Case(id="mistral-pre-v11-multiple", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_pre_v11_tokenizer[multiple_tools]",
         text='[TOOL_CALLS] [{"name": "add", "arguments": {"a": 3.5, "b": 4}}, {"name": "get_current_weather", "arguments":{"city": "San Francisco", "state": "CA", "unit": "celsius"}}]',
         calls=[("add", {"a": 3.5, "b": 4}), ("get_current_weather", SF)]),
    Case(id="mistral-pre-v11-content-before", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_pre_v11_tokenizer[content_before_tool]",
         text='Hello[TOOL_CALLS] [{"name": "add", "arguments":{"a": 1, "b": 2}}]', calls=[("add", {"a": 1, "b": 2})], content="Hello"),
    Case(id="mistral-pre-v11-trailing-data", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_pre_v11_tokenizer[trailing_data_after_json]",
         text='[TOOL_CALLS] [{"name": "get_current_weather", "arguments":{"city": "Dallas", "state": "TX", "unit": "fahrenheit"}}]\nextra trailing data',
         calls=[("get_current_weather", DALLAS)]),
    Case(id="mistral-pre-v11-junk-before-list", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_pre_v11_regex_fallback",
         text='[TOOL_CALLS]  junk [{"name": "add", "arguments":{"a": 1, "b": 2}}] trail', calls=[("add", {"a": 1, "b": 2})]),
    Case(id="mistral-pre-v11-not-json", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_pre_v11_regex_fallback_fails",
         text="[TOOL_CALLS] not json at all", calls=[]),
    Case(id="mistral-v11-add", family="mistral", source="vllm-mistral", test="test_extract_tool_calls[single_tool_add]",
         text='[TOOL_CALLS]add_this_and_that{"a": 3.5, "b": 4}', calls=[("add_this_and_that", {"a": 3.5, "b": 4})]),
    Case(id="mistral-v11-weather", family="mistral", source="vllm-mistral", test="test_extract_tool_calls[single_tool_weather]",
         text='[TOOL_CALLS]get_current_weather{"city": "San Francisco", "state": "CA", "unit": "celsius"}', calls=[("get_current_weather", SF)]),
    Case(id="mistral-v11-multiple", family="mistral", source="vllm-mistral", test="test_extract_tool_calls[multiple_tool_calls]",
         text='[TOOL_CALLS]add{"a": 3.5, "b": 4}[TOOL_CALLS]multiply{"a": 3, "b": 6}', calls=[("add", {"a": 3.5, "b": 4}), ("multiply", {"a": 3, "b": 6})]),
    Case(id="mistral-v11-truncated-json", family="mistral", source="vllm-mistral", test="test_extract_tool_calls[complex]",
         text="""hi{hi[TOOL_CALLS]bash{"command": "print(\\"hello world!\\")\\nre.compile(r\'{}\')""",
         calls=[("bash", '{"command": "print(\\"hello world!\\")\\nre.compile(r\'{}\')')], content="hi{hi", differs="not_json", ours=[]),
    Case(id="mistral-v11-braces-in-content", family="mistral", source="vllm-mistral", test="test_extract_tool_calls[wrong_json]",
         text="""hi{hi[TOOL_CALLS]bash{"command": "print(\\"hello world!\\")\\nre.compile(r\'{}\')"}""",
         calls=[("bash", {"command": "print(\"hello world!\")\nre.compile(r'{}')"})], content="hi{hi"),
    Case(id="mistral-v11-name-without-args", family="mistral", source="vllm-mistral", test="test_extract_tool_calls_v11_without_args_skipped",
         text="[TOOL_CALLS]toolname_no_args", calls=[]),
    Case(id="mistral-sglang-nested-brackets", family="mistral", source="sglang", test="TestMistralDetector.test_detect_and_parse_with_nested_brackets_in_content",
         text='[TOOL_CALLS] [{"name":"make_next_step_decision", "arguments":{"decision":"","content":"```\\nTOOL: Access a weather API or service\\nOBSERVATION: Retrieve the current weather data for the top 5 populated cities in the US\\nANSWER: The weather in the top 5 populated cities in the US is as follows: [City Name] - [Weather Conditions] - [Temperature]\\n```"}}]',
         calls=[("make_next_step_decision", {"decision": "", "content": "```\nTOOL: Access a weather API or service\nOBSERVATION: Retrieve the current weather data for the top 5 populated cities in the US\nANSWER: The weather in the top 5 populated cities in the US is as follows: [City Name] - [Weather Conditions] - [Temperature]\n```"})]),
    Case(id="mistral-sglang-simple", family="mistral", source="sglang", test="TestMistralDetector.test_detect_and_parse_simple_case",
         text='[TOOL_CALLS] [{"name":"make_next_step_decision", "arguments":{"decision":"TOOL", "content":"Use weather API"}}]',
         calls=[("make_next_step_decision", {"decision": "TOOL", "content": "Use weather API"})]),
    Case(id="mistral-sglang-no-call", family="mistral", source="sglang", test="TestMistralDetector.test_detect_and_parse_no_tool_calls",
         text="This is just normal text without any tool calls.", calls=[], content="This is just normal text without any tool calls."),
    Case(id="mistral-sglang-canonical", family="mistral", source="sglang-mistral", test="TestMistralDetector.test_canonical_format",
         text='[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}]', calls=[("get_weather", {"city": "Paris"})]),
    Case(id="mistral-sglang-compact", family="mistral", source="sglang-mistral", test="TestMistralDetector.test_compact_format",
         text='[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', calls=[("get_weather", {"city": "Paris"})]),
    Case(id="mistral-sglang-text-before", family="mistral", source="sglang", test="TestMistralDetector.test_detect_and_parse_with_text_before_tool_call",
         text='Here is some text before the tool call: [TOOL_CALLS] [{"name":"make_next_step_decision", "arguments":{"decision":"ANSWER", "content":"The answer is 42"}}]',
         calls=[("make_next_step_decision", {"decision": "ANSWER", "content": "The answer is 42"})], content="Here is some text before the tool call:"),
]

# The reference renders these assistant messages with openai_harmony and parses the token
# ids; the text is that rendering of the assistant's own messages (the first one's
# "<|start|>assistant" is in the prompt).
HARMONY_ANALYSIS = '<|channel|>analysis<|message|>User asks: "What is the weather in Tokyo?" We need to use get_current_weather tool.<|end|>'
HARMONY_ANALYSIS_2 = '<|channel|>analysis<|message|>User asks: "What is the weather in Tokyo?" based on their location. We need to use get_current_weather tool and get_user_location tool.<|end|>'


def _harmony_call(recipient: str, body: str, content_type: str | None = "json") -> str:
    ctype = f" {content_type}" if content_type else ""
    return f"<|start|>assistant to=functions.{recipient}<|channel|>commentary{ctype}<|message|>{body}<|call|>"


HARMONY = [
    Case(id="harmony-no-tools", family="harmony", source="vllm-openai", test="test_extract_tool_calls_no_tools (rendered)",
         text="<|channel|>final<|message|>This is a test<|return|>", calls=[], content="This is a test"),
    Case(id="harmony-single", family="harmony", source="vllm-openai", test="test_extract_tool_calls_single_tool[compact] (rendered)",
         text=HARMONY_ANALYSIS + _harmony_call("get_current_weather", '{"location": "Tokyo"}'),
         calls=[("get_current_weather", {"location": "Tokyo"})], think='User asks: "What is the weather in Tokyo?" We need to use get_current_weather tool.'),
    Case(id="harmony-single-multiline-args", family="harmony", source="vllm-openai", test="test_extract_tool_calls_single_tool[multiline] (rendered)",
         text=HARMONY_ANALYSIS + _harmony_call("get_current_weather", '{\n"location": "Tokyo"\n}'),
         calls=[("get_current_weather", {"location": "Tokyo"})]),
    Case(id="harmony-multiple", family="harmony", source="vllm-openai", test="test_extract_tool_calls_multiple_tools (rendered)",
         text=HARMONY_ANALYSIS_2
         + _harmony_call("get_current_weather", '{"location": "Tokyo"}')
         + _harmony_call("get_user_location", '{"location": "Tokyo"}')
         + _harmony_call("no_content_type", '{"location": "Tokyo"}', None)
         + _harmony_call("not_json_no_content_type", "foo", None)
         + _harmony_call("empty_args", "{}")
         + _harmony_call("no_args", ""),
         calls=[("get_current_weather", {"location": "Tokyo"}), ("get_user_location", {"location": "Tokyo"}),
                ("no_content_type", {"location": "Tokyo"}), ("not_json_no_content_type", "foo"), ("empty_args", {}), ("no_args", "")],
         differs="not_json", ours=[]),
    Case(id="harmony-with-final-content", family="harmony", source="vllm-openai", test="test_extract_tool_calls_with_content (rendered)",
         text=HARMONY_ANALYSIS_2 + _harmony_call("get_current_weather", '{"location": "Tokyo"}')
         + "<|start|>assistant<|channel|>final<|message|>This tool call will get the weather.<|return|>",
         calls=[("get_current_weather", {"location": "Tokyo"})], content="This tool call will get the weather."),
]

DS_BEGIN, DS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
DS_CALL, DS_SEP, DS_CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>"

DEEPSEEK = [
    Case(id="ds3-no-call", family="deepseek_v3", source="vllm-deepseekv3", test="no_tool_calls_output",
         text="How can I help you today? I can check weather for you.", calls=[], content="How can I help you today? I can check weather for you."),
    Case(id="ds3-single", family="deepseek_v3", source="vllm-deepseekv3", test="single_tool_call_output",
         text="""<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
```json
{"city": "Tokyo", "unit": "celsius"}
```<｜tool▁call▁end｜><｜tool▁calls▁end｜>""",
         calls=[("get_weather", {"city": "Tokyo", "unit": "celsius"})]),
    Case(id="ds3-parallel", family="deepseek_v3", source="vllm-deepseekv3", test="parallel_tool_calls_output",
         text="""<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
```json
{"city": "Tokyo", "unit": "celsius"}
```<｜tool▁call▁end｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>search_hotels
```json
{"location": "Tokyo", "check_in": "2025-01-15"}
```<｜tool▁call▁end｜><｜tool▁calls▁end｜>""",
         calls=[("get_weather", None), ("search_hotels", None)]),
    Case(id="ds3-data-types", family="deepseek_v3", source="vllm-deepseekv3", test="various_data_types_output",
         text=("""<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>test_function
```json
"""
               """{"string_field": "hello", "int_field": 42, "float_field": 3.14, """
               """"bool_field": true, "null_field": null, """
               """"array_field": ["a", "b", "c"], """
               """"object_field": {"nested": "value"}, """
               """"empty_array": [], "empty_object": {}}
```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"""),
         calls=[("test_function", {"string_field": "hello", "int_field": 42, "float_field": 3.14, "bool_field": True, "null_field": None,
                                   "array_field": ["a", "b", "c"], "object_field": {"nested": "value"}, "empty_array": [], "empty_object": {}})]),
    Case(id="ds3-empty-arguments", family="deepseek_v3", source="vllm-deepseekv3", test="empty_arguments_output",
         text="""<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_current_time
```json
{}
```<｜tool▁call▁end｜><｜tool▁calls▁end｜>""",
         calls=[("get_current_time", {})]),
    Case(id="ds3-surrounding-text", family="deepseek_v3", source="vllm-deepseekv3", test="surrounding_text_output",
         text=("""Let me check the weather for you."""
               """<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
```json
{"city": "Paris"}
```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"""),
         calls=[("get_weather", {"city": "Paris"})]),
    Case(id="ds3-escaped-strings", family="deepseek_v3", source="vllm-deepseekv3", test="escaped_strings_output",
         text=("""<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>send_message
```json
"""
               """{"text": "He said \\"hello\\"", "path": "C:\\\\Users\\\\file", """
               """"newline": "line1\\nline2"}
```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"""),
         calls=[("send_message", {"text": 'He said "hello"', "path": "C:\\Users\\file", "newline": "line1\nline2"})]),
    Case(id="ds3-malformed-json", family="deepseek_v3", source="vllm-deepseekv3", test="malformed_input_outputs[0] (xfail: tools_called with no call)",
         text="""<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
```json
{"city": "Tokyo"
```<｜tool▁call▁end｜><｜tool▁calls▁end｜>""",
         calls=[]),
    Case(id="ds3-no-call-token", family="deepseek_v3", source="vllm-deepseekv3", test="malformed_input_outputs[1]",
         text="""<｜tool▁calls▁begin｜>function<｜tool▁sep｜>get_weather
```json
{"city": "Tokyo"}
```<｜tool▁calls▁end｜>""",
         calls=[]),
    Case(id="ds31-with-tool", family="deepseek_v3", source="vllm-deepseekv31", test="test_extract_tool_calls_with_tool",
         text="normal text" + DS_BEGIN + DS_CALL + 'foo' + DS_SEP + '{"x":1}' + DS_CALL_END + DS_END,
         calls=[("foo", {"x": 1})], content="normal text"),
    Case(id="ds31-multiple", family="deepseek_v3", source="vllm-deepseekv31", test="test_extract_tool_calls_with_multiple_tools",
         text="some prefix text" + DS_BEGIN + DS_CALL + "foo" + DS_SEP + '{"x":1}' + DS_CALL_END + DS_CALL + "bar" + DS_SEP + '{"y":2}' + DS_CALL_END + DS_END + " some suffix text",
         calls=[("foo", {"x": 1}), ("bar", {"y": 2})], content="some prefix text"),
    Case(id="ds31-cut-off", family="deepseek_v3", source="vllm-deepseekv31", test="test_extract_tool_calls_unparsable_block[0]",
         text="Let me look that up." + DS_BEGIN + "get_weather", calls=[]),
    Case(id="ds31-no-call-markers", family="deepseek_v3", source="vllm-deepseekv31", test="test_extract_tool_calls_unparsable_block[1]",
         text=DS_BEGIN + "foo" + DS_SEP + '{"x":1}' + DS_END, calls=[]),
]

K_BEGIN, K_END = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
K_CALL, K_CALL_END, K_ARGS = "<|tool_call_begin|>", "<|tool_call_end|>", "<|tool_call_argument_begin|>"


def _kimi(*calls: tuple[str, str]) -> str:
    return K_BEGIN + "".join(f"{K_CALL}{tool_id} {K_ARGS}{args}{K_CALL_END}" for tool_id, args in calls) + K_END


KIMI = [
    Case(id="kimi-no-tools", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_no_tools", text="This is a test", calls=[], content="This is a test"),
    Case(id="kimi-single", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_extract_tool_calls[single_tool_call]",
         text="I'll check. " + _kimi(("functions.get_weather:0", '{"city": "Beijing"}')), calls=[("get_weather", {"city": "Beijing"})], content="I'll check."),
    Case(id="kimi-parallel", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_extract_tool_calls[parallel_tool_calls]",
         text="Compare weather. " + _kimi(("functions.get_weather:0", '{"city": "Beijing"}'), ("functions.get_weather:1", '{"city": "Shanghai"}')),
         calls=[("get_weather", {"city": "Beijing"}), ("get_weather", {"city": "Shanghai"})], content="Compare weather."),
    Case(id="kimi-three", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_extract_tool_calls[three_tool_calls]",
         text="Multiple tasks. " + _kimi(("functions.get_weather:0", '{"city": "New York"}'), ("functions.get_news:1", '{"topic": "technology"}'),
                                         ("functions.send_email:2", '{"to": "user@example.com", "subject": "Daily Update"}')),
         calls=[("get_weather", {"city": "New York"}), ("get_news", {"topic": "technology"}), ("send_email", {"to": "user@example.com", "subject": "Daily Update"})],
         content="Multiple tasks."),
    Case(id="kimi-angle-brackets", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_extract_tool_calls[angle_brackets_in_json]",
         text="Process HTML. " + _kimi(("functions.process_html:0", '{"html": "<div>content</div>"}')), calls=[("process_html", {"html": "<div>content</div>"})]),
    Case(id="kimi-multiline-json", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_extract_tool_calls[multiline_json]",
         text="Formatted. " + _kimi(("functions.process_data:0", '{\n  "name": "test",\n  "value": 123\n}')), calls=[("process_data", {"name": "test", "value": 123})]),
    Case(id="kimi-no-functions-prefix", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_extract_tool_calls[no_functions_prefix]",
         text="No prefix. " + _kimi(("get_weather:0", '{"city": "Tokyo"}')), calls=[("get_weather", {"city": "Tokyo"})], content="No prefix."),
    Case(id="kimi-empty-arguments", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_extract_tool_calls[empty_arguments]",
         text="Empty args. " + _kimi(("functions.test:0", "{}")), calls=[("test", {})]),
    Case(id="kimi-invalid-json-passed", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_invalid_json_still_extracted",
         text="Help. " + _kimi(("functions.bad:0", '{"city": "Beijing"'), ("functions.good:1", '{"city": "Shanghai"}')),
         calls=[("bad", None), ("good", None)], differs="not_json", ours=[]),
    Case(id="kimi-malformed-id-skipped", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_invalid_funcall_id_skipped",
         text="Help. " + _kimi(("functions.invalid.0", '{"city": "Beijing"}'), ("functions.valid:1", '{"city": "Shanghai"}')),
         calls=[("valid", None)], differs="one_bad_call", ours=[]),
    Case(id="kimi-bare-counter", family="kimi_k2", source="vllm-kimi", test="TestExtractToolCalls.test_bare_counter",
         text="Let me check. " + _kimi(("0", '{"city": "Tokyo", "unit": "celsius"}')),
         calls=[("get_weather", {"city": "Tokyo", "unit": "celsius"})], tools={"get_weather": {"city": {"type": "string"}, "unit": {"type": "string"}}},
         differs="kimi_bare_id", ours=[]),
    Case(id="kimi-sglang-single", family="kimi_k2", source="sglang", test="TestKimiK2Detector.test_single_tool_call",
         text=K_BEGIN + K_CALL + "functions.get_weather:0" + K_ARGS + '{"city": "Paris"}' + K_CALL_END + K_END, calls=[("get_weather", {"city": "Paris"})]),
    Case(id="kimi-sglang-multiple", family="kimi_k2", source="sglang", test="TestKimiK2Detector.test_multiple_tool_calls",
         text=K_BEGIN + K_CALL + "functions.get_weather:0" + K_ARGS + '{"city": "Paris"}' + K_CALL_END
         + K_CALL + "functions.get_tourist_attractions:1" + K_ARGS + '{"city": "London"}' + K_CALL_END + K_END,
         calls=[("get_weather", {"city": "Paris"}), ("get_tourist_attractions", {"city": "London"})]),
    Case(id="kimi-sglang-no-markers", family="kimi_k2", source="sglang", test="TestKimiK2Detector.test_invalid_tool_call",
         text='invalid_tool:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>', calls=[]),
]

SIMPLE = "get_weather(city='San Francisco', metric='celsius')"
MORE_TYPES = "register_user(name='John Doe', age=37, address={'city': 'San Francisco', 'state': 'CA'}, role=None, passed_test=True, aliases=['John', 'Johnny'])"
SIMPLE_ARGS = {"city": "San Francisco", "metric": "celsius"}
MORE_ARGS = {"name": "John Doe", "age": 37, "address": {"city": "San Francisco", "state": "CA"}, "role": None, "passed_test": True, "aliases": ["John", "Johnny"]}
LA = {"city": "LA", "metric": "C"}

PYTHONIC = [
    Case(id="py-no-call", family="pythonic", source="vllm-pythonic", test="test_no_tool_call", text="How can I help you today?", calls=[], content="How can I help you today?"),
    Case(id="py-simple", family="pythonic", source="vllm-pythonic", test="test_tool_call[simple_nonstreaming]", text=f"[{SIMPLE}]", calls=[("get_weather", SIMPLE_ARGS)]),
    Case(id="py-more-types", family="pythonic", source="vllm-pythonic", test="test_tool_call[more_types_nonstreaming]", text=f"[{MORE_TYPES}]", calls=[("register_user", MORE_ARGS)]),
    Case(id="py-parameterless", family="pythonic", source="vllm-pythonic", test="test_tool_call[parameterless_nonstreaming]", text="[get_weather()]", calls=[("get_weather", {})]),
    Case(id="py-empty-dict", family="pythonic", source="vllm-pythonic", test="test_tool_call[empty_dict_nonstreaming]",
         text="[do_something_cool(additional_data={})]", calls=[("do_something_cool", {"additional_data": {}})]),
    Case(id="py-empty-list", family="pythonic", source="vllm-pythonic", test="test_tool_call[empty_list_nonstreaming]",
         text="[do_something_cool(steps=[])]", calls=[("do_something_cool", {"steps": []})]),
    Case(id="py-escaped-string", family="pythonic", source="vllm-pythonic", test="test_tool_call[escaped_string_nonstreaming]",
         text=r"[get_weather(city='Martha\'s Vineyard', metric='\"cool units\"')]", calls=[("get_weather", {"city": "Martha's Vineyard", "metric": '"cool units"'})]),
    Case(id="py-parallel", family="pythonic", source="vllm-pythonic", test="test_tool_call[parallel_calls_nonstreaming]",
         text=f"[{SIMPLE}, {MORE_TYPES}]", calls=[("get_weather", SIMPLE_ARGS), ("register_user", MORE_ARGS)]),
    Case(id="py-bytes-sibling", family="pythonic", source="vllm-pythonic", test="test_bad_sibling_call_does_not_drop_good_calls[False]",
         text=f"[bad(x=b'z'), {SIMPLE}]", calls=[("get_weather", SIMPLE_ARGS)], differs="one_bad_call", ours=[]),
    Case(id="py-non-finite-sibling", family="pythonic", source="vllm-pythonic", test="test_non_finite_argument_rejected",
         text=f"[calc(x=1e999), {SIMPLE}]", calls=[("get_weather", SIMPLE_ARGS)], differs="one_bad_call", ours=[]),
    Case(id="py-unparsable-sibling", family="pythonic", source="vllm-pythonic", test="test_good_call_survives_unparsable_sibling",
         text=f"[{SIMPLE}, f(a='x 'y', b='z')]", calls=[("get_weather", SIMPLE_ARGS)], differs="one_bad_call", ours=[]),
    Case(id="py-unrecoverable", family="pythonic", source="vllm-pythonic", test="test_unrecoverable_block_still_reports_no_tool_call",
         text="[f(a='x 'y' 'z), g(b='p 'q' 'r)]", calls=[]),
    Case(id="llama4-simple", family="pythonic", source="vllm-llama4", test="test_tool_call[simple_nonstreaming]",
         text="[get_weather(city='LA', metric='C')]", calls=[("get_weather", LA)]),
    Case(id="llama4-more-types", family="pythonic", source="vllm-llama4", test="test_tool_call[more_types_nonstreaming]",
         text="[register_user(name='Doe', age=9, address={'city': 'LA', 'state': 'CA'}, role=None, passed_test=True, aliases=['John', 'Johnny'])]",
         calls=[("register_user", {"name": "Doe", "age": 9, "address": {"city": "LA", "state": "CA"}, "role": None, "passed_test": True, "aliases": ["John", "Johnny"]})]),
    Case(id="llama4-no-spaces", family="pythonic", source="vllm-llama4", test="test_tool_call[parallel_calls_nonstreaming] (no spaces)",
         text="[get_weather(city='LA',metric='C'),register_user(name='Doe',age=9)]", calls=[("get_weather", LA), ("register_user", {"name": "Doe", "age": 9})]),
    Case(id="llama4-python-tag", family="pythonic", source="vllm-llama4", test="test_tool_call[python_tag_nonstreaming]",
         text="<|python_start|>[get_weather(city='LA', metric='C')]<|python_end|>", calls=[("get_weather", LA)]),
    Case(id="llama4-python-start-only", family="pythonic", source="vllm-llama4", test="test_tool_call[parallel_calls_nonstreaming] (python_start)",
         text="<|python_start|>[get_weather(city='LA', metric='C'), register_user(name='Doe', age=9)]",
         calls=[("get_weather", LA), ("register_user", {"name": "Doe", "age": 9})]),
    Case(id="llama4-bytes-sibling", family="pythonic", source="vllm-llama4", test="test_bad_sibling_call_does_not_drop_good_calls[False]",
         text="<|python_start|>[bad(x=b'z'), get_weather(city='LA', metric='C')]<|python_end|>", calls=[("get_weather", LA)], differs="one_bad_call", ours=[]),
    Case(id="py-sglang-tags-in-prose", family="pythonic", source="sglang", test="TestPythonicDetector.test_detect_and_parse_with_python_start_and_end_token",
         text="User wants to get the weather in Mars. <|python_start|>[get_weather(location='Mars', unit='celsius')]<|python_end|> In this way we will get the weather in Mars.",
         calls=[("get_weather", {"location": "Mars", "unit": "celsius"})], content="User wants to get the weather in Mars."),
]

LLAMA_JSON = [
    Case(id="l3-prose-around", family="json", source="vllm-llama3", test="test_extract_tool_calls_simple",
         text='Here is the result: {"name": "getOpenIncidentsTool", "parameters": {}} Would you like to know more?', calls=[("getOpenIncidentsTool", {})]),
    Case(id="l3-arguments", family="json", source="vllm-llama3", test="test_extract_tool_calls_with_arguments",
         text='{"name": "searchTool", "parameters": {"query": "test query", "limit": 10}}', calls=[("searchTool", {"query": "test query", "limit": 10})]),
    Case(id="l3-no-json", family="json", source="vllm-llama3", test="test_extract_tool_calls_no_json",
         text="This is just some text without any tool calls", calls=[], content="This is just some text without any tool calls"),
    Case(id="l3-invalid-json", family="json", source="vllm-llama3", test="test_extract_tool_calls_invalid_json",
         text='{"name": "invalidTool", "parameters": {invalid json}', calls=[]),
    Case(id="l3-arguments-key", family="json", source="vllm-llama3", test="test_extract_tool_calls_with_arguments_key",
         text='{"name": "searchTool", "arguments": {"query": "test"}}', calls=[("searchTool", {"query": "test"})]),
    Case(id="l3-semicolons", family="json", source="vllm-llama3", test="test_extract_tool_calls_multiple_json",
         text='{"name": "searchTool", "parameters": {"query": "test1"}}; {"name": "getOpenIncidentsTool", "parameters": {}}; {"name": "searchTool", "parameters": {"query": "test2"}}',
         calls=[("searchTool", {"query": "test1"}), ("getOpenIncidentsTool", {}), ("searchTool", {"query": "test2"})]),
    Case(id="l3-semicolons-spaced", family="json", source="vllm-llama3", test="test_extract_tool_calls_multiple_json_with_whitespace",
         text='{"name": "searchTool", "parameters": {"query": "test1"}} ; {"name": "getOpenIncidentsTool", "parameters": {}} ; {"name": "searchTool", "parameters": {"query": "test2"}}',
         calls=[("searchTool", {"query": "test1"}), ("getOpenIncidentsTool", {}), ("searchTool", {"query": "test2"})]),
    Case(id="l3-semicolons-in-prose", family="json", source="vllm-llama3", test="test_extract_tool_calls_multiple_json_with_surrounding_text",
         text='Here are the results: {"name": "searchTool", "parameters": {"query": "test1"}}; {"name": "getOpenIncidentsTool", "parameters": {}}; {"name": "searchTool", "parameters": {"query": "test2"}} Would you like to know more?',
         calls=[("searchTool", {"query": "test1"}), ("getOpenIncidentsTool", {}), ("searchTool", {"query": "test2"})]),
    Case(id="l3-deeply-nested", family="json", source="vllm-llama3", test="test_extract_tool_calls_deeply_nested_json",
         text='{"name": "complexTool", "parameters": {"level1": {"level2": {"level3": {"level4": {"value": "deep"}}}}}}',
         calls=[("complexTool", {"level1": {"level2": {"level3": {"level4": {"value": "deep"}}}}})]),
    Case(id="l3-multiple-deep", family="json", source="vllm-llama3", test="test_extract_tool_calls_multiple_with_deep_nesting",
         text='{"name": "simpleTool", "parameters": {"value": "test"}}; {"name": "complexTool", "parameters": {"config": {"database": {"connection": {"pool": {"size": 10}}}}}}',
         calls=[("simpleTool", {"value": "test"}), ("complexTool", {"config": {"database": {"connection": {"pool": {"size": 10}}}}})]),
    Case(id="l3-brackets-in-strings", family="json", source="vllm-llama3", test="test_extract_tool_calls_with_quotes_and_brackets_in_string",
         text='{"name": "searchTool", "parameters": {"query": "test {value} [complex]","nested": {"inner": "more {brackets}"}}}',
         calls=[("searchTool", {"query": "test {value} [complex]", "nested": {"inner": "more {brackets}"}})]),
    Case(id="l3-escaped-quotes", family="json", source="vllm-llama3", test="test_extract_tool_calls_with_escaped_quotes_in_nested_json",
         text='{"name": "parserTool", "parameters": {"text": "He said \\"Hello {world}\\""}}', calls=[("parserTool", {"text": 'He said "Hello {world}"'})]),
    Case(id="l3-missing-name", family="json", source="vllm-llama3", test="test_extract_tool_calls_missing_name_key", text='{"parameters": {}}', calls=[]),
    Case(id="l3-missing-parameters", family="json", source="vllm-llama3", test="test_extract_tool_calls_missing_parameters_and_arguments_key",
         text='{"name": "toolWithoutParams"}', calls=[]),
    Case(id="l3-brace-in-trailing-text", family="json", source="vllm-llama3", test="test_extract_tool_calls_brace_in_trailing_text",
         text='{"name": "searchTool", "parameters": {"query": "test"}} I used {searchTool} for this.', calls=[("searchTool", None)]),
    Case(id="l3-json-in-trailing-text", family="json", source="vllm-llama3", test="test_extract_tool_calls_json_fragment_in_trailing_text",
         text='{"name": "searchTool", "parameters": {"query": "test"}} The arguments I passed were {"query": "test"}', calls=[("searchTool", None)]),
    Case(id="l32-sglang-single", family="json", source="sglang", test="TestLlama32Detector.test_single_json",
         text='{"name": "get_weather", "parameters": {"city": "Paris"}}', calls=[("get_weather", {"city": "Paris"})]),
    Case(id="l32-sglang-semicolon", family="json", source="sglang", test="TestLlama32Detector.test_multiple_json_with_separator",
         text='<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}};{"name": "get_tourist_attractions", "parameters": {"city": "Paris"}}',
         calls=[("get_weather", {"city": "Paris"}), ("get_tourist_attractions", {"city": "Paris"})]),
    Case(id="l32-sglang-python-tag-separator", family="json", source="sglang", test="TestLlama32Detector.test_multiple_json_with_separator_customized",
         text='<|python_tag|>{"name": "get_weather", "parameters": {}}<|python_tag|>{"name": "get_tourist_attractions", "parameters": {}}',
         calls=[("get_weather", {}), ("get_tourist_attractions", {})]),
    Case(id="l32-sglang-trailing-text", family="json", source="sglang", test="TestLlama32Detector.test_json_with_trailing_text",
         text='{"name": "get_weather", "parameters": {}} Some follow-up text', calls=[("get_weather", {})]),
    Case(id="l32-sglang-broken-then-valid", family="json", source="sglang", test="TestLlama32Detector.test_invalid_then_valid_json",
         text='{"name": "get_weather", "parameters": {{"name": "get_weather", "parameters": {}}', calls=[("get_weather", {})], differs="one_bad_call", ours=[]),
    Case(id="l32-sglang-plain", family="json", source="sglang", test="TestLlama32Detector.test_plain_text_only",
         text="This is just plain explanation text.", calls=[], content="This is just plain explanation text."),
    Case(id="l32-sglang-intro-python-tag", family="json", source="sglang", test="TestLlama32Detector.test_with_python_tag_prefix",
         text='Some intro. <|python_tag|>{"name": "get_weather", "parameters": {}}', calls=[("get_weather", {})], content="Some intro."),
]

GRANITE_ESCAPED = """<tool_call> [{
  "name": "test_function",
  "arguments": {
    "quoted": "He said \\"hello\\"",
    "path": "C:\\\\Users\\\\file.txt",
    "newline": "line1\\nline2",
    "unicode": "emoji: 🎉"
  }
}]"""
ESCAPED_ARGS = {"quoted": 'He said "hello"', "path": "C:\\Users\\file.txt", "newline": "line1\nline2", "unicode": "emoji: 🎉"}
TYPED_ARGS = {"string_field": "hello", "int_field": 42, "float_field": 3.14, "bool_field": True, "null_field": None,
              "array_field": ["a", "b", "c"], "object_field": {"nested": "value"}, "empty_array": [], "empty_object": {}}
TYPED_BODY = """{
  "string_field": "hello",
  "int_field": 42,
  "float_field": 3.14,
  "bool_field": true,
  "null_field": null,
  "array_field": ["a", "b", "c"],
  "object_field": {"nested": "value"},
  "empty_array": [],
  "empty_object": {}
}"""

GRANITE = [
    Case(id="granite-no-call", family="granite", source="vllm-granite", test="no_tool_calls_output",
         text="This is a regular response without any tool calls.", calls=[], content="This is a regular response without any tool calls."),
    Case(id="granite-single", family="granite", source="vllm-granite", test="single_tool_call_output",
         text='<|tool_call|> [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]', calls=[("get_weather", {"city": "Tokyo"})]),
    Case(id="granite-parallel", family="granite", source="vllm-granite", test="parallel_tool_calls_output",
         text='<|tool_call|> [\n  {"name": "get_weather", "arguments": {"city": "Tokyo"}},\n  {"name": "get_time", "arguments": {"timezone": "Asia/Tokyo"}}\n]',
         calls=[("get_weather", {"city": "Tokyo"}), ("get_time", {"timezone": "Asia/Tokyo"})]),
    Case(id="granite31-data-types", family="granite", source="vllm-granite", test="various_data_types_output",
         text='<tool_call> [{\n  "name": "test_function",\n  "arguments": ' + TYPED_BODY.replace("\n", "\n  ") + "\n}]",
         calls=[("test_function", TYPED_ARGS)]),
    Case(id="granite-empty-arguments", family="granite", source="vllm-granite", test="empty_arguments_output",
         text='<|tool_call|> [{"name": "refresh", "arguments": {}}]', calls=[("refresh", {})]),
    Case(id="granite-surrounding-text", family="granite", source="vllm-granite", test="surrounding_text_output (xfail in the reference)",
         text='Let me check the weather for you.\n<|tool_call|> [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]\nI\'ll get that information.',
         calls=[], differs="marker_anywhere", ours=[("get_weather", {"city": "Tokyo"})]),
    Case(id="granite31-escaped-strings", family="granite", source="vllm-granite", test="escaped_strings_output",
         text=GRANITE_ESCAPED, calls=[("test_function", ESCAPED_ARGS)]),
    Case(id="granite31-string-prefix", family="granite", source="vllm-granite", test="test_granite_string_prefix_format[False]",
         text='<tool_call> [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]', calls=[("get_weather", None)]),
]

INTERNLM = [
    Case(id="internlm-no-call", family="internlm", source="vllm-internlm", test="no_tool_calls_output",
         text="This is a regular response without any tool calls.", calls=[], content="This is a regular response without any tool calls."),
    Case(id="internlm-single", family="internlm", source="vllm-internlm", test="single_tool_call_output",
         text='<|action_start|><|plugin|>{"name": "get_weather", "parameters": {"city": "Tokyo"}}<|action_end|>', calls=[("get_weather", {"city": "Tokyo"})]),
    Case(id="internlm-data-types", family="internlm", source="vllm-internlm", test="various_data_types_output",
         text='<|action_start|><|plugin|>{\n  "name": "test_function",\n  "parameters": ' + TYPED_BODY.replace("\n", "\n  ") + "\n}<|action_end|>",
         calls=[("test_function", TYPED_ARGS)]),
    Case(id="internlm-empty-arguments", family="internlm", source="vllm-internlm", test="empty_arguments_output",
         text='<|action_start|><|plugin|>{"name": "refresh", "parameters": {}}<|action_end|>', calls=[("refresh", {})]),
    Case(id="internlm-surrounding-text", family="internlm", source="vllm-internlm", test="surrounding_text_output",
         text='Let me check the weather for you. <|action_start|><|plugin|>{"name": "get_weather", "parameters": {"city": "Tokyo"}}<|action_end|>',
         calls=[("get_weather", {"city": "Tokyo"})]),
    Case(id="internlm-escaped-strings", family="internlm", source="vllm-internlm", test="escaped_strings_output",
         text=GRANITE_ESCAPED.replace("<tool_call> [{", "<|action_start|><|plugin|>{").replace('"arguments"', '"parameters"').replace("}]", "}<|action_end|>"),
         calls=[("test_function", ESCAPED_ARGS)]),
]

TOOL_CALL_BODY = "<tool_call>\n<function=bash>\n<parameter=command>\ncat /etc/hosts\n</parameter>\n</function>\n</tool_call>"
BASH = [("bash", {"command": "cat /etc/hosts"})]

REASONING = [
    Case(id="think-closed-only", family="qwen3_coder", source="vllm-qwen3-reasoning", test="WITHOUT_START_TOKEN",
         text="This is a reasoning section</think>This is the rest", calls=[], think="This is a reasoning section", content="This is the rest"),
    Case(id="think-closed-only-nothing-after", family="qwen3_coder", source="vllm-qwen3-reasoning", test="WITHOUT_START_TOKEN_COMPLETE_REASONING",
         text="This is a reasoning section</think>", calls=[], think="This is a reasoning section"),
    Case(id="think-both-tags", family="qwen3_coder", source="vllm-qwen3-reasoning", test="WITH_THINK",
         text="<think>This is a reasoning section</think>This is the rest", calls=[], think="This is a reasoning section", content="This is the rest"),
    Case(id="think-no-tags", family="qwen3_coder", source="vllm-qwen3-reasoning", test="WITHOUT_THINK (thinking enabled)",
         text="This is the rest", calls=[], think="This is the rest", differs="no_think_tags", ours=[], our_think=""),
    Case(id="think-only", family="qwen3_coder", source="vllm-qwen3-reasoning", test="COMPLETE_REASONING",
         text="<think>This is a reasoning section</think>", calls=[], think="This is a reasoning section"),
    Case(id="think-multiline", family="qwen3_coder", source="vllm-qwen3-reasoning", test="MULTILINE_REASONING",
         text="<think>This is a reasoning\nsection</think>This is the rest\nThat", calls=[], think="This is a reasoning\nsection", content="This is the rest\nThat"),
    Case(id="think-open-only", family="qwen3_coder", source="vllm-qwen3-reasoning", test="ONLY_OPEN_TAG",
         text="<think>This is a reasoning section", calls=[], think="This is a reasoning section"),
    Case(id="think-truncated-no-tags", family="qwen3_coder", source="vllm-qwen3-reasoning", test="TRUNCATED_NO_START_TOKEN",
         text="This is a reasoning section", calls=[], think="This is a reasoning section", differs="no_think_tags", ours=[], our_think=""),
    Case(id="think-implicit-end-at-tool-call", family="qwen3_coder", source="vllm-qwen3-reasoning", test="TOOL_CALL_NO_THINK_END",
         text="I need to read the file.\n\n" + TOOL_CALL_BODY, calls=BASH, think="I need to read the file.",
         differs="no_think_tags", ours=BASH, our_think=""),
    Case(id="think-open-ends-at-tool-call", family="qwen3_coder", source="vllm-qwen3-reasoning", test="TOOL_CALL_WITH_THINK_NO_END",
         text="<think>I need to read the file.\n\n" + TOOL_CALL_BODY, calls=BASH, think="I need to read the file."),
    Case(id="think-disabled-plain", family="qwen3_coder", source="vllm-qwen3-reasoning", test="test_reasoning_thinking_disabled[thinking_disabled_plain_content]",
         text="This is plain content", calls=[], think="", content="This is plain content"),
    Case(id="think-disabled-tool-call", family="qwen3_coder", source="vllm-qwen3-reasoning", test="test_reasoning_thinking_disabled[thinking_disabled_with_tool_call]",
         text="I need to read the file.\n\n" + TOOL_CALL_BODY, calls=BASH, think="", content="I need to read the file."),
]

R1_REASONING = [
    Case(id="r1-simple", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[simple_reasoning] (non-streaming; tokenized there)",
         text='This is a reasoning section</think>This is the rest', calls=[], think='This is a reasoning section', content='This is the rest'),
    Case(id="r1-complete", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[complete_reasoning] (non-streaming; tokenized there)",
         text='This is a reasoning section</think>', calls=[], think='This is a reasoning section'),
    Case(id="r1-no-content-token", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[no_content_token] (non-streaming; tokenized there)",
         text='This is content', calls=[], think='This is content', differs="no_think_tags", ours=[], our_think=""),
    Case(id="r1-multiple-lines", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[multiple_lines] (non-streaming; tokenized there)",
         text='This\nThat</think>This is the rest\nThat', calls=[], think='This\nThat', content='This is the rest\nThat'),
    Case(id="r1-shortest", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[shortest_streaming] (non-streaming; tokenized there)",
         text='</think>This is the rest', calls=[], think='', content='This is the rest'),
    Case(id="r1-with-think", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[reasoning_with_think] (non-streaming; tokenized there)",
         text='<think>This is a reasoning section</think>This is the rest', calls=[], think='This is a reasoning section', content='This is the rest'),
    Case(id="r1-complete-with-think", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[complete_reasoning_with_think] (non-streaming; tokenized there)",
         text='<think>This is a reasoning section</think>', calls=[], think='This is a reasoning section'),
    Case(id="r1-multiple-lines-with-think", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[multiple_lines_with_think] (non-streaming; tokenized there)",
         text='<think>This\nThat</think>This is the rest\nThat', calls=[], think='This\nThat', content='This is the rest\nThat'),
    Case(id="r1-think-no-end", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[think_no_end] (non-streaming; tokenized there)",
         text='<think>This is a reasoning section', calls=[], think='This is a reasoning section'),
    Case(id="r1-empty", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[empty] (non-streaming; tokenized there)",
         text='', calls=[], think=''),
    Case(id="r1-new-line", family="deepseek_v3", source="vllm-r1-reasoning", test="test_reasoning[new_line] (non-streaming; tokenized there)",
         text='\n<think>This is a reasoning section</think>\nThis is the rest', calls=[], think='This is a reasoning section', content='\nThis is the rest'),
]

MAGISTRAL_REASONING = [
    Case(id="magistral-simple", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[simple_reasoning] (non-streaming; tokenized there)",
         text='This is a reasoning section[/THINK]This is the rest', calls=[], think='This is a reasoning section', content='This is the rest'),
    Case(id="magistral-complete", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[complete_reasoning] (non-streaming; tokenized there)",
         text='This is a reasoning section[/THINK]', calls=[], think='This is a reasoning section'),
    Case(id="magistral-no-content-token", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[no_content_token] (non-streaming; tokenized there)",
         text='This is content', calls=[], think='This is content', differs="no_think_tags", ours=[], our_think=""),
    Case(id="magistral-multiple-lines", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[multiple_lines] (non-streaming; tokenized there)",
         text='This\nThat[/THINK]This is the rest\nThat', calls=[], think='This\nThat', content='This is the rest\nThat'),
    Case(id="magistral-shortest", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[shortest_streaming] (non-streaming; tokenized there)",
         text='[/THINK]This is the rest', calls=[], think='', content='This is the rest'),
    Case(id="magistral-with-think", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[reasoning_with_think] (non-streaming; tokenized there)",
         text='[THINK]This is a reasoning section[/THINK]This is the rest', calls=[], think='This is a reasoning section', content='This is the rest'),
    Case(id="magistral-complete-with-think", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[complete_reasoning_with_think] (non-streaming; tokenized there)",
         text='[THINK]This is a reasoning section[/THINK]', calls=[], think='This is a reasoning section'),
    Case(id="magistral-multiple-lines-with-think", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[multiple_lines_with_think] (non-streaming; tokenized there)",
         text='[THINK]This\nThat[/THINK]This is the rest\nThat', calls=[], think='This\nThat', content='This is the rest\nThat'),
    Case(id="magistral-think-no-end", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[think_no_end] (non-streaming; tokenized there)",
         text='[THINK]This is a reasoning section', calls=[], think='This is a reasoning section'),
    Case(id="magistral-empty", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[empty] (non-streaming; tokenized there)",
         text='', calls=[], think=''),
    Case(id="magistral-new-line", family="mistral", source="vllm-mistral-reasoning", test="test_reasoning[new_line] (non-streaming; tokenized there)",
         text='\n[THINK]This is a reasoning section[/THINK]\nThis is the rest', calls=[], think='This is a reasoning section', content='\nThis is the rest'),
]

# DeepSeek-V3.2 / V4 DSML (vllm-deepseekv32: TestExtractToolCalls; vllm-deepseekv4)
FC_START, FC_END = "<｜DSML｜function_calls>", "</｜DSML｜function_calls>"
INV_START, INV_END = '<｜DSML｜invoke name="', "</｜DSML｜invoke>"
PARAM_START, PARAM_END = '<｜DSML｜parameter name="', "</｜DSML｜parameter>"


def _dsml(func_name: str, params: dict[str, str]) -> str:
    """vllm-deepseekv32's build_tool_call: every value string="true"."""
    param_strs = "".join(f'{PARAM_START}{k}" string="true">{v}{PARAM_END}' for k, v in params.items())
    return f'{FC_START}\n{INV_START}{func_name}">\n{param_strs}\n{INV_END}\n{FC_END}'


def _dsml_typed(func_name: str, *params: tuple[str, str]) -> str:
    """A call whose values are all string="false" (one per line), as the typed tests write it."""
    body = "".join(f'{PARAM_START}{k}" string="false">{v}{PARAM_END}\n' for k, v in params)
    return f'{FC_START}\n{INV_START}{func_name}">\n{body}{INV_END}\n{FC_END}'


def _dsml_v4(func_name: str, params: dict[str, str]) -> str:
    """vllm-deepseekv4's build_tool_call (the <｜DSML｜tool_calls> wrapper)."""
    param_strs = "".join(f'{PARAM_START}{k}" string="true">{v}{PARAM_END}\n' for k, v in params.items())
    return f'<｜DSML｜tool_calls>\n{INV_START}{func_name}">\n{param_strs}{INV_END}\n</｜DSML｜tool_calls>'


TIMER = {"wait": {"anyOf": [{"type": "object", "properties": {"type": {"const": "until"}, "date": {"type": "string"}}},
                            {"type": "object", "properties": {"type": {"const": "for"}, "minutes": {"type": "number"}}}]},
         "patches": {"oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "null"}]}}
COERCE = {"union_value": {"type": ["null", "string"]}, "bad_int": {"type": "integer"}, "nullable_string": {"type": ["null", "string"]},
          "null_string": {"type": "string"}, "whole_number": {"type": "number"}}
V32 = "TestExtractToolCalls."

DSML = [
    Case(id="dsml-no-call", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_no_tool_call",
         text="just some text", calls=[], content="just some text"),
    Case(id="dsml-no-params", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_single_tool_no_params",
         text=f'{FC_START}\n{INV_START}get_time">\n{INV_END}\n{FC_END}', calls=[("get_time", {})]),
    Case(id="dsml-single", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_single_tool_with_params",
         text=_dsml("get_weather", {"location": "SF", "date": "2024-01-16"}), calls=[("get_weather", {"location": "SF", "date": "2024-01-16"})]),
    Case(id="dsml-content-before", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_content_before_tool_call",
         text="Sure, let me check! " + _dsml("get_weather", {"location": "NYC"}), calls=[("get_weather", {"location": "NYC"})],
         content="Sure, let me check! "),
    Case(id="dsml-multiple", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_multiple_tools",
         text=(f"{FC_START}\n" f'{INV_START}get_weather">\n' f'{PARAM_START}location" string="true">SF{PARAM_END}\n' f"{INV_END}\n"
               f'{INV_START}get_weather">\n' f'{PARAM_START}location" string="true">NYC{PARAM_END}\n' f"{INV_END}\n" f"{FC_END}"),
         calls=[("get_weather", {"location": "SF"}), ("get_weather", {"location": "NYC"})]),
    Case(id="dsml-typed", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_type_conversion_in_non_streaming",
         text=_dsml_typed("toggle", ("enabled", "true"), ("count", "42")), calls=[("toggle", {"enabled": True, "count": 42})],
         tools={"toggle": {"enabled": {"type": "boolean"}, "count": {"type": "integer"}}}),
    Case(id="dsml-string-true-typed", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_string_attr_true_coerced_by_schema",
         text=f'{FC_START}\n{INV_START}score">\n{PARAM_START}value" string="true">42{PARAM_END}\n{INV_END}\n{FC_END}',
         calls=[("score", {"value": 42})], tools={"score": {"value": {"type": "integer"}}}),
    Case(id="dsml-string-false-typed", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_string_attr_false_allows_schema_conversion",
         text=_dsml_typed("score", ("value", "42")), calls=[("score", {"value": 42})], tools={"score": {"value": {"type": "integer"}}}),
    Case(id="dsml-composed-schema", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_composed_schema_converts_object_and_array_params",
         text=_dsml_typed("set_timer", ("wait", '{"type":"for","minutes":2880}'), ("patches", '[{"op":"replace","path":"/schedule","value":"quiet"}]')),
         calls=[("set_timer", {"wait": {"type": "for", "minutes": 2880}, "patches": [{"op": "replace", "path": "/schedule", "value": "quiet"}]})],
         tools={"set_timer": TIMER}),
    Case(id="dsml-string-true-composed", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_string_attr_true_coerced_by_composed_schema",
         text=f'{FC_START}\n{INV_START}set_timer">\n{PARAM_START}wait" string="true">{{"type":"for","minutes":2880}}{PARAM_END}\n{INV_END}\n{FC_END}',
         calls=[("set_timer", {"wait": {"type": "for", "minutes": 2880}})], tools={"set_timer": {"wait": {"anyOf": [{"type": "object"}, {"type": "null"}]}}}),
    Case(id="dsml-arguments-wrapper", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_arguments_wrapper_repaired",
         text=_dsml_typed("get_weather", ("arguments", '{"location":"Beijing"}')), calls=[("get_weather", {"location": "Beijing"})],
         tools={"get_weather": {"location": {"type": "string"}}}, differs="wrapper", ours=[("get_weather", {"arguments": {"location": "Beijing"}})]),
    Case(id="dsml-input-wrapper", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_input_wrapper_repaired",
         text=f'{FC_START}\n{INV_START}get_weather">\n{PARAM_START}input" string="true">{{"location":"Beijing"}}{PARAM_END}\n{INV_END}\n{FC_END}',
         calls=[("get_weather", {"location": "Beijing"})], tools={"get_weather": {"location": {"type": "string"}}},
         differs="wrapper", ours=[("get_weather", {"input": '{"location":"Beijing"}'})]),
    Case(id="dsml-object-array", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_object_and_array_params",
         text=_dsml_typed("update", ("tags", '["a", "b"]'), ("meta", '{"k": 1}')), calls=[("update", {"tags": ["a", "b"], "meta": {"k": 1}})],
         tools={"update": {"tags": {"type": "array"}, "meta": {"type": "object"}}}),
    Case(id="dsml-number", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_number_param",
         text=_dsml_typed("measure", ("ratio", "3.14"), ("whole", "5.0")), calls=[("measure", {"ratio": 3.14, "whole": 5})],
         tools={"measure": {"ratio": {"type": "number"}, "whole": {"type": "number"}}}),
    Case(id="dsml-multi-typed", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_multi_typed_schema",
         text=_dsml_typed("set_val", ("count", "42"), ("label", "hello")), calls=[("set_val", {"count": 42, "label": "hello"})],
         tools={"set_val": {"count": {"type": ["integer", "null"]}, "label": {"type": ["string", "null"]}}}),
    Case(id="dsml-multi-typed-null", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_multi_typed_null_value",
         text=_dsml_typed("clear", ("value", "null")), calls=[("clear", {"value": None})], tools={"clear": {"value": {"type": ["integer", "null"]}}}),
    Case(id="dsml-null-string", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_null_coerced_back_to_string_by_schema",
         text=_dsml_typed("echo", ("text", "null")), calls=[("echo", {"text": "null"})], tools={"echo": {"text": {"type": "string"}}}),
    Case(id="dsml-no-schema-json", family="deepseek_v32", source="vllm-deepseekv32", test=V32 + "test_no_schema_parses_json",
         text=_dsml_typed("unknown_fn", ("count", "42"), ("flag", "true")), calls=[("unknown_fn", {"count": 42, "flag": True})]),
    Case(id="dsml-conversion-fallbacks", family="deepseek_v32", source="vllm-deepseekv32",
         test="TestExtractToolCallsStreaming.test_streaming_matches_non_streaming_conversion_fallbacks (its non-streaming reading)",
         text=_dsml_typed("coerce", ("union_value", "hello"), ("bad_int", "abc"), ("nullable_string", "null"), ("null_string", "null"), ("whole_number", "3.0")),
         calls=[("coerce", {"union_value": "hello", "bad_int": "abc", "nullable_string": None, "null_string": "null", "whole_number": 3})],
         tools={"coerce": COERCE}),
    Case(id="dsml-v4", family="deepseek_v32", source="vllm-deepseekv4", test="test_extract_tool_calls",
         text="Let me check. " + _dsml_v4("get_weather", {"location": "Beijing", "unit": "celsius"}),
         calls=[("get_weather", {"location": "Beijing", "unit": "celsius"})], content="Let me check. "),
    Case(id="dsml-v4-function-calls-block", family="deepseek_v32", source="vllm-deepseekv4", test="test_function_calls_block_is_not_accepted",
         text=_dsml_v4("search", {"query": "vllm"}).replace("tool_calls", "function_calls"), calls=[],
         differs="dsml_wrappers", ours=[("search", {"query": "vllm"})]),
]

# MiniMax-M2 (SGLang's non-streaming detect_and_parse tests; vLLM's tests stream: the chunks of
# each joined into the model output, with the calls the test asserts at the end)
MM_START, MM_END = "<minimax:tool_call>", "</minimax:tool_call>"
MM_SG = "TestMinimaxM2DetectorBugs."
MM_UNION = {"the_tool": {"args": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
MM_SIMPLE = {"context_info": {"metadata_only": {"type": "boolean"}}}
MM_PROFILE = {"update_profile": {"nickname": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}

MINIMAX = [
    Case(id="mm-anyof-null-keeps-string", family="minimax_m2", source="sglang-minimax-m2", test=MM_SG + "test_anyof_with_null_should_preserve_string_value",
         text=MM_START + '<invoke name="the_tool"><parameter name="args">hi</parameter></invoke>' + MM_END, calls=[("the_tool", {"args": "hi"})], tools=MM_UNION),
    Case(id="mm-anyof-explicit-null", family="minimax_m2", source="sglang-minimax-m2", test=MM_SG + "test_anyof_with_null_should_allow_explicit_null",
         text=MM_START + '<invoke name="the_tool"><parameter name="args">null</parameter></invoke>' + MM_END, calls=[("the_tool", {"args": None})], tools=MM_UNION),
    Case(id="mm-unclosed", family="minimax_m2", source="sglang-minimax-m2", test=MM_SG + "test_incomplete_tool_call_should_not_leak_to_normal_text",
         text='[Pasted ~4 lines]<minimax:tool_call><invoke name="context_info"><parameter name="metadata_only">false</parameter></invoke>',
         calls=[("context_info", {"metadata_only": False})], content="[Pasted ~4 lines]", tools=MM_SIMPLE),
    Case(id="mm-text-around", family="minimax_m2", source="sglang-minimax-m2", test=MM_SG + "test_complete_tool_call_should_not_leak_end_marker",
         text='Here is some text.<minimax:tool_call><invoke name="context_info"><parameter name="metadata_only">true</parameter></invoke></minimax:tool_call>More text after.',
         calls=[("context_info", {"metadata_only": True})], content="More text after.", tools=MM_SIMPLE),
    Case(id="mm-closing-tag-in-value", family="minimax_m2", source="sglang-minimax-m2", test=MM_SG + "test_parameter_value_with_closing_tag_substring",
         text=MM_START + '<invoke name="test_func"><parameter name="content">This text contains </parameter> in it</parameter></invoke>' + MM_END,
         calls=[("test_func", {"content": "This text contains </parameter> in it"})], tools={"test_func": {"content": {"type": "string"}}}),
    Case(id="mm-xml-in-value", family="minimax_m2", source="sglang-minimax-m2", test=MM_SG + "test_parameter_value_with_xml_content",
         text=MM_START + '<invoke name="process_html"><parameter name="html"><div>Hello</div></parameter></invoke>' + MM_END,
         calls=[("process_html", {"html": "<div>Hello</div>"})], tools={"process_html": {"html": {"type": "string"}}}),
    Case(id="mm-anyof-object", family="minimax_m2", source="sglang-minimax-m2", test=MM_SG + "test_complex_anyof_with_object_and_null",
         text=MM_START + '<invoke name="complex_func"><parameter name="data">{"key": "value"}</parameter></invoke>' + MM_END,
         calls=[("complex_func", {"data": {"key": "value"}})],
         tools={"complex_func": {"data": {"anyOf": [{"type": "object", "properties": {"key": {"type": "string"}}}, {"type": "null"}]}}}),
    Case(id="mm-array", family="minimax_m2", source="sglang-minimax-m2", test=MM_SG + "test_array_type_in_parameters",
         text=MM_START + '<invoke name="array_func"><parameter name="items">[1, 2, 3, "four"]</parameter></invoke>' + MM_END,
         calls=[("array_func", {"items": [1, 2, 3, "four"]})], tools={"array_func": {"items": {"type": "array"}}}),
    Case(id="mm-streamed-plain", family="minimax_m2", source="vllm-minimax-m2", test="TestContentStreaming.test_plain_content (chunks joined)",
         text="Hello world", calls=[], content="Hello world"),
    Case(id="mm-streamed-content-before", family="minimax_m2", source="vllm-minimax-m2", test="TestContentStreaming.test_content_before_tool_call (chunks joined)",
         text='Let me check. <minimax:tool_call><invoke name="get_weather"><parameter name="city">Seattle</parameter></invoke></minimax:tool_call>',
         calls=[("get_weather", None)], content="Let me check. "),
    Case(id="mm-streamed-multiple-params", family="minimax_m2", source="vllm-minimax-m2", test="TestSingleInvoke.test_multiple_params (chunks joined)",
         text='<minimax:tool_call><invoke name="get_weather"><parameter name="city">Seattle</parameter><parameter name="days">5</parameter></invoke></minimax:tool_call>',
         calls=[("get_weather", {"city": "Seattle", "days": "5"})]),
    Case(id="mm-streamed-two-invokes", family="minimax_m2", source="vllm-minimax-m2", test="TestMultipleInvokes.test_two_invokes_incremental (chunks joined)",
         text=(MM_START + '<invoke name="search_web"><parameter name="query">OpenAI</parameter></invoke>'
               '<invoke name="search_web"><parameter name="query">Gemini</parameter></invoke>' + MM_END),
         calls=[("search_web", {"query": "OpenAI"}), ("search_web", {"query": "Gemini"})]),
    Case(id="mm-streamed-different-functions", family="minimax_m2", source="vllm-minimax-m2", test="TestMultipleInvokes.test_different_functions (chunks joined)",
         text=(MM_START + '<invoke name="get_weather"><parameter name="city">NYC</parameter></invoke>'
               '<invoke name="get_stock"><parameter name="ticker">AAPL</parameter></invoke>' + MM_END),
         calls=[("get_weather", None), ("get_stock", None)]),
    Case(id="mm-streamed-anyof-null", family="minimax_m2", source="vllm-minimax-m2", test="TestAnyOfNullableParam.test_anyof_nullable_param_null_value (chunks joined)",
         text=MM_START + '<invoke name="update_profile"><parameter name="nickname">null</parameter></invoke>' + MM_END,
         calls=[("update_profile", {"nickname": None})], tools=MM_PROFILE),
    Case(id="mm-streamed-anyof-object", family="minimax_m2", source="vllm-minimax-m2", test="TestAnyOfNullableParam.test_anyof_nullable_param_object_value (chunks joined)",
         text=MM_START + '<invoke name="update_settings"><parameter name="config">{"theme": "dark", "fontSize": 14}</parameter></invoke>' + MM_END,
         calls=[("update_settings", {"config": {"theme": "dark", "fontSize": 14}})],
         tools={"update_settings": {"config": {"anyOf": [{"type": "object"}, {"type": "null"}]}}}),
]

# Seed-OSS (vllm-seed-oss test_extract_tool_calls): the reference tool parser returns the
# <seed:think> text as content; here it is the reasoning (vLLM's seed_oss reasoning parser)
SEED_512_THINK = (
    """The user\'s current thinking budget is 512.</seed:cot_budget_reflect>\nLet me analyze the """
    """question. The user wants to know the weather in Barcelona, Spain. Looking at the functions available, """
    """there\'s a get_weather function that can retrieve the current temperature for a given location. \n\nFirst, """
    """check the parameters required by get_weather: location is mandatory (needs city and country), and unit is """
    """optional. The user provided "Barcelona Spain" as the location, which fits the required format (city, """
    """country). \n<seed:cot_budget_reflect>I have used 131 tokens, and there are 381 tokens remaining for use."""
    """</seed:cot_budget_reflect>\n Since the unit isn\'t specified, the function will default to Celsius, which """
    """is fine. \n\nThere\'s no need to ask for more information because the location is clear. So I should call """
    """the get_weather function with location set to "Barcelona, Spain" (adding a comma for clarity, though the """
    """user\'s input has a space, but the function might accept either; to be safe, using the standard format """
    """with a comma).\n<seed:cot_budget_reflect>I have used 257 tokens, and there are 255 tokens remaining for """
    """use.</seed:cot_budget_reflect>\n The unit parameter can be omitted since it\'s optional."""
)
SEED_FREE_THINK = (
    """\nGot it, let\'s see. The user asked for the weather in Barcelona, Spain. """
    """First, I need to remember the function I can use: get_weather. The function requires a """
    """location (city and country) which is "Barcelona, Spain" here, and unit is optional. Since """
    """the user didn\'t specify the unit, the default in the function is Celsius, right? Wait, """
    """let me check the function docstring again. Oh, the function says unit is optional, and """
    """returns temperature in Celsius. So I should call get_weather with location "Barcelona, """
    """Spain" and maybe omit unit or set to Celsius. Let me format the function call correctly. """
    """The format is <seed:tool_call>\n<function=get_weather>\n<parameter=location>Barcelona, """
    """Spain</parameter>\n<parameter=unit>celsius</parameter>\n</function>\n</seed:tool_call>. """
    """Wait, but does the unit parameter accept "celsius"? The docstring says unit is the unit """
    """of temperature, but the return is in Celsius anyway. Maybe even if I don\'t pass unit, """
    """it\'s okay, but to be explicit, maybe pass "celsius". Let me go with that. So the function """
    """call should be as above. Then wait for the result to come back and tell the user the """
    """temperature in Celsius."""
)
SEED_TOOLS = {"get_weather": {"location": {"type": "string"}, "unit": {"type": "string"}}}
BARCELONA = {"location": "Barcelona, Spain"}

SEED_OSS = [
    Case(id="seed-no-call", family="seed_oss", source="vllm-seed-oss", test="test_extract_tool_calls_no_tools",
         text="This is a test response without any tool calls", calls=[], content="This is a test response without any tool calls"),
    Case(id="seed-budget-0", family="seed_oss", source="vllm-seed-oss", test="test_extract_tool_calls[tool_call_0_thinking_budget]",
         text="""<seed:tool_call>\n<function=get_weather>\n<parameter=location>Barcelona, Spain</parameter>\n</function>\n</seed:tool_call>""",
         calls=[("get_weather", BARCELONA)], tools=SEED_TOOLS),
    Case(id="seed-budget-512", family="seed_oss", source="vllm-seed-oss", test="test_extract_tool_calls[tool_call_512_thinkg_budget]",
         text=("<seed:think>" + SEED_512_THINK + "</seed:think>\n"
               """<seed:tool_call>\n<function=get_weather>\n<parameter=location>Barcelona, Spain</parameter>\n</function>\n</seed:tool_call>"""),
         calls=[("get_weather", BARCELONA)], think=SEED_512_THINK, tools=SEED_TOOLS),
    Case(id="seed-unlimited-budget", family="seed_oss", source="vllm-seed-oss", test="test_extract_tool_calls[tool_call_unlimited_thinking_budget]",
         text=("<seed:think>" + SEED_FREE_THINK + "</seed:think>"
               """<seed:tool_call>\n<function=get_weather>\n<parameter=location>Barcelona, Spain</parameter>\n<parameter=unit>celsius</parameter>\n</function>\n</seed:tool_call>"""),
         calls=[("get_weather", {"location": "Barcelona, Spain", "unit": "celsius"})], think=SEED_FREE_THINK, tools=SEED_TOOLS),
]

# GLM-4.7 (vllm-glm47 TestGlm47ExtractToolCalls): read by glm45
G47 = "TestGlm47ExtractToolCalls."
GLM47_TOOLS = {"get_current_date": {}, "get_weather": {"city": {"type": "string"}, "date": {"type": "string"}}}
GLM47 = [
    Case(id="glm47-no-call", family="glm45", source="vllm-glm47", test=G47 + "test_no_tool_call",
         text="This is a plain response.", calls=[], content="This is a plain response."),
    Case(id="glm47-zero-arg-inline", family="glm45", source="vllm-glm47", test=G47 + "test_zero_arg_inline",
         text="<tool_call>get_current_date</tool_call>", calls=[("get_current_date", {})], tools=GLM47_TOOLS),
    Case(id="glm47-zero-arg-newline", family="glm45", source="vllm-glm47", test=G47 + "test_zero_arg_newline",
         text="<tool_call>get_current_date\n</tool_call>", calls=[("get_current_date", None)], tools=GLM47_TOOLS),
    Case(id="glm47-args-same-line", family="glm45", source="vllm-glm47", test=G47 + "test_args_same_line",
         text="<tool_call>get_weather<arg_key>city</arg_key><arg_value>Beijing</arg_value></tool_call>", calls=[("get_weather", {"city": "Beijing"})], tools=GLM47_TOOLS),
    Case(id="glm47-args-newlines", family="glm45", source="vllm-glm47", test=G47 + "test_args_with_newlines",
         text="<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n</tool_call>", calls=[("get_weather", {"city": "Beijing"})], tools=GLM47_TOOLS),
    Case(id="glm47-content-before", family="glm45", source="vllm-glm47", test=G47 + "test_content_before",
         text="Checking.<tool_call>get_current_date</tool_call>", calls=[("get_current_date", None)], content="Checking.", tools=GLM47_TOOLS),
    Case(id="glm47-multiple", family="glm45", source="vllm-glm47", test=G47 + "test_multiple",
         text=("<tool_call>get_weather<arg_key>city</arg_key><arg_value>Beijing</arg_value></tool_call>"
               "<tool_call>get_weather<arg_key>city</arg_key><arg_value>Shanghai</arg_value></tool_call>"),
         calls=[("get_weather", None), ("get_weather", None)], tools=GLM47_TOOLS),
    Case(id="glm47-whitespace-before", family="glm45", source="vllm-glm47", test=G47 + "test_whitespace_content_none",
         text="  \n  <tool_call>get_current_date</tool_call>", calls=[("get_current_date", None)], tools=GLM47_TOOLS),
]

# Olmo 3 (vllm-olmo3 test_tool_call, non-streaming ids; the calls are the pythonic tests' own)
OLMO_SIMPLE = "get_weather(city='San Francisco', metric='celsius')"
OLMO_MORE = "register_user(name='John Doe', age=37, address={'city': 'San Francisco', 'state': 'CA'}, role=None, passed_test=True, aliases=['John', 'Johnny'])"
OLMO_MORE_JSON = "register_user(name='John Doe', age=37, address={'city': 'San Francisco', 'state': 'CA'}, role=null, passed_test=true, aliases=['John', 'Johnny'])"
OLMO_ESCAPED = r"get_weather(city='Martha\'s Vineyard', metric='\"cool units\"')"


def _olmo(*lines: str) -> str:
    return "<function_calls>" + "\n".join(lines) + "</function_calls>"


OLMO3 = [
    Case(id="olmo3-no-call", family="olmo3", source="vllm-olmo3", test="test_no_tool_call[False]",
         text="How can I help you today?", calls=[], content="How can I help you today?"),
    Case(id="olmo3-simple", family="olmo3", source="vllm-olmo3", test="test_tool_call[simple_nonstreaming]",
         text=_olmo(OLMO_SIMPLE), calls=[("get_weather", SIMPLE_ARGS)]),
    Case(id="olmo3-more-types", family="olmo3", source="vllm-olmo3", test="test_tool_call[more_types_nonstreaming]",
         text=_olmo(OLMO_MORE), calls=[("register_user", MORE_ARGS)]),
    Case(id="olmo3-json-literals", family="olmo3", source="vllm-olmo3", test="test_tool_call[more_types_nonstreaming_json_literals]",
         text=_olmo(OLMO_MORE_JSON), calls=[("register_user", MORE_ARGS)]),
    Case(id="olmo3-parameterless", family="olmo3", source="vllm-olmo3", test="test_tool_call[parameterless_nonstreaming]",
         text=_olmo("get_weather()"), calls=[("get_weather", {})]),
    Case(id="olmo3-empty-dict", family="olmo3", source="vllm-olmo3", test="test_tool_call[empty_dict_nonstreaming]",
         text=_olmo("do_something_cool(additional_data={})"), calls=[("do_something_cool", {"additional_data": {}})]),
    Case(id="olmo3-empty-list", family="olmo3", source="vllm-olmo3", test="test_tool_call[empty_list_nonstreaming]",
         text=_olmo("do_something_cool(steps=[])"), calls=[("do_something_cool", {"steps": []})]),
    Case(id="olmo3-escaped-string", family="olmo3", source="vllm-olmo3", test="test_tool_call[escaped_string_nonstreaming]",
         text=_olmo(OLMO_ESCAPED), calls=[("get_weather", {"city": "Martha's Vineyard", "metric": '"cool units"'})]),
    Case(id="olmo3-parallel", family="olmo3", source="vllm-olmo3", test="test_tool_call[parallel_calls_nonstreaming]",
         text=_olmo(OLMO_SIMPLE, OLMO_MORE), calls=[("get_weather", SIMPLE_ARGS), ("register_user", MORE_ARGS)]),
    Case(id="olmo3-bad-sibling", family="olmo3", source="vllm-olmo3", test="test_bad_sibling_call_does_not_drop_good_calls[False]",
         text=_olmo("bad(x=b'z')", OLMO_SIMPLE), calls=[("get_weather", SIMPLE_ARGS)], differs="one_bad_call", ours=[]),
    Case(id="olmo3-non-finite", family="olmo3", source="vllm-olmo3", test="test_non_finite_argument_rejected",
         text=_olmo("calc(x=1e999)", OLMO_SIMPLE), calls=[("get_weather", SIMPLE_ARGS)], differs="one_bad_call", ours=[]),
]

# Gemma 4 (vllm-gemma4 TestExtractToolCalls)
G4 = "TestExtractToolCalls."
GEMMA4 = [
    Case(id="gemma4-no-call", family="gemma4", source="vllm-gemma4", test=G4 + "test_no_tool_calls",
         text="Hello, how can I help you today?", calls=[], content="Hello, how can I help you today?"),
    Case(id="gemma4-single", family="gemma4", source="vllm-gemma4", test=G4 + "test_single_tool_call",
         text='<|tool_call>call:get_weather{location:<|"|>London<|"|>}<tool_call|>', calls=[("get_weather", {"location": "London"})]),
    Case(id="gemma4-multiple-arguments", family="gemma4", source="vllm-gemma4", test=G4 + "test_multiple_arguments",
         text='<|tool_call>call:get_weather{location:<|"|>San Francisco<|"|>,unit:<|"|>celsius<|"|>}<tool_call|>',
         calls=[("get_weather", {"location": "San Francisco", "unit": "celsius"})]),
    Case(id="gemma4-text-before", family="gemma4", source="vllm-gemma4", test=G4 + "test_text_before_tool_call",
         text='Let me check the weather for you. <|tool_call>call:get_weather{location:<|"|>Paris<|"|>}<tool_call|>',
         calls=[("get_weather", None)], content="Let me check the weather for you."),
    Case(id="gemma4-multiple-calls", family="gemma4", source="vllm-gemma4", test=G4 + "test_multiple_tool_calls",
         text='<|tool_call>call:get_weather{location:<|"|>London<|"|>}<tool_call|><|tool_call>call:get_time{location:<|"|>London<|"|>}<tool_call|>',
         calls=[("get_weather", None), ("get_time", None)]),
    Case(id="gemma4-nested", family="gemma4", source="vllm-gemma4", test=G4 + "test_nested_arguments",
         text='<|tool_call>call:complex_function{nested:{inner:<|"|>value<|"|>},list:[<|"|>a<|"|>,<|"|>b<|"|>]}<tool_call|>',
         calls=[("complex_function", {"nested": {"inner": "value"}, "list": ["a", "b"]})]),
    Case(id="gemma4-number-boolean", family="gemma4", source="vllm-gemma4", test=G4 + "test_tool_call_with_number_and_boolean",
         text="<|tool_call>call:set_status{is_active:true,count:42,score:3.14}<tool_call|>",
         calls=[("set_status", {"is_active": True, "count": 42, "score": 3.14})]),
    Case(id="gemma4-cut-off", family="gemma4", source="vllm-gemma4", test=G4 + "test_incomplete_tool_call",
         text='<|tool_call>call:get_weather{location:<|"|>London', calls=[],
         differs="truncated", ours=[("get_weather", {"location": "London"})]),
    Case(id="gemma4-hyphenated-name", family="gemma4", source="vllm-gemma4", test=G4 + "test_hyphenated_function_name",
         text='<|tool_call>call:get-weather{location:<|"|>London<|"|>}<tool_call|>', calls=[("get-weather", None)]),
    Case(id="gemma4-dotted-name", family="gemma4", source="vllm-gemma4", test=G4 + "test_dotted_function_name",
         text='<|tool_call>call:weather.get{location:<|"|>London<|"|>}<tool_call|>', calls=[("weather.get", None)]),
    Case(id="gemma4-no-arguments", family="gemma4", source="vllm-gemma4", test=G4 + "test_no_arguments",
         text="<|tool_call>call:get_status{}<tool_call|>", calls=[("get_status", {})]),
]

# LFM2 / LFM2.5 (vllm-lfm2): pythonic calls in <|tool_call_start|>[...]<|tool_call_end|>, read by
# the pythonic family; vLLM's parser also repairs text that is not Python (its own tests)
L_START, L_END = "<|tool_call_start|>", "<|tool_call_end|>"
L_SIMPLE = "get_candidate_status(candidate_id='12345')"
L_SIMPLE_ARGS = {"candidate_id": "12345"}
L_DOTTED = ("grocery.orderIngredients(ingredientList=[{'name': 'Lasagna noodles', 'amount': 250, 'unit': 'g'}], "
            "deliveryAddress='845 Willow Lane, Springfield, IL 62704')")
L_ECHO = "[grocery.orderIngredients(ingredientList=[{'name': 'apple', 'quantity': '2'}], deliveryAddress='123 Main St')]"


def _lfm2(tool_text: str, content_after: str = "") -> str:
    """vllm-lfm2's _wrap."""
    return f"{L_START}[{tool_text}]{L_END}" + (f"\n{content_after}" if content_after else "")


LT = "test_tool_call[{}_nonstreaming]"
LFM2 = [
    Case(id="lfm2-no-call", family="pythonic", source="vllm-lfm2", test="test_no_tool_call[False]",
         text="How can I help you today?", calls=[], content="How can I help you today?"),
    Case(id="lfm2-simple", family="pythonic", source="vllm-lfm2", test=LT.format("simple"), text=_lfm2(L_SIMPLE), calls=[("get_candidate_status", L_SIMPLE_ARGS)]),
    Case(id="lfm2-more-types", family="pythonic", source="vllm-lfm2", test=LT.format("more_types"), text=_lfm2(MORE_TYPES), calls=[("register_user", MORE_ARGS)]),
    Case(id="lfm2-parameterless", family="pythonic", source="vllm-lfm2", test=LT.format("parameterless"), text=_lfm2("get_weather()"), calls=[("get_weather", {})]),
    Case(id="lfm2-empty-dict", family="pythonic", source="vllm-lfm2", test=LT.format("empty_dict"),
         text=_lfm2("do_something_cool(additional_data={})"), calls=[("do_something_cool", {"additional_data": {}})]),
    Case(id="lfm2-empty-list", family="pythonic", source="vllm-lfm2", test=LT.format("empty_list"),
         text=_lfm2("do_something_cool(steps=[])"), calls=[("do_something_cool", {"steps": []})]),
    Case(id="lfm2-escaped-string", family="pythonic", source="vllm-lfm2", test=LT.format("escaped_string"),
         text=_lfm2(OLMO_ESCAPED), calls=[("get_weather", {"city": "Martha's Vineyard", "metric": '"cool units"'})]),
    Case(id="lfm2-parallel", family="pythonic", source="vllm-lfm2", test=LT.format("parallel_calls"),
         text=_lfm2(f"{L_SIMPLE}, {MORE_TYPES}"), calls=[("get_candidate_status", L_SIMPLE_ARGS), ("register_user", MORE_ARGS)]),
    Case(id="lfm2-content-after", family="pythonic", source="vllm-lfm2", test="test_tool_call[content_after_tool_call_nonstreaming]",
         text=_lfm2(L_SIMPLE, content_after="Checking the current status of candidate ID 12345."), calls=[("get_candidate_status", L_SIMPLE_ARGS)],
         content="Checking the current status of candidate ID 12345."),
    Case(id="lfm2-dotted-name", family="pythonic", source="vllm-lfm2", test=LT.format("dotted_name"), text=_lfm2(L_DOTTED),
         calls=[("grocery.orderIngredients", {"ingredientList": [{"name": "Lasagna noodles", "amount": 250, "unit": "g"}],
                                              "deliveryAddress": "845 Willow Lane, Springfield, IL 62704"})]),
    Case(id="lfm2-bracket-in-string", family="pythonic", source="vllm-lfm2", test=LT.format("bracket_in_string"),
         text=_lfm2("exec(command='grep -F \\\"]\\\" log.txt')"), calls=[("exec", {"command": 'grep -F "]" log.txt'})]),
    Case(id="lfm2-multiline-string", family="pythonic", source="vllm-lfm2", test=LT.format("multiline_string_arg"),
         text=_lfm2("exec(command='cat > f.py << EOF\nimport csv\nprint(1)\nEOF')"),
         calls=[("exec", {"command": "cat > f.py << EOF\nimport csv\nprint(1)\nEOF"})], differs="not_python", ours=[]),
    Case(id="lfm2-set-argument", family="pythonic", source="vllm-lfm2", test=LT.format("set_arg"),
         text=_lfm2("label(tags={'urgent', 'bug'})"), calls=[("label", {"tags": ["urgent", "bug"]})], differs="not_python", ours=[]),
    Case(id="lfm2-nested-quotes", family="pythonic", source="vllm-lfm2", test=LT.format("nested_quote"),
         text=_lfm2("bash(command='sed -n '360,450p' /testbed/sympy/matrices/common.py')"),
         calls=[("bash", {"command": "sed -n '360,450p' /testbed/sympy/matrices/common.py"})], differs="not_python", ours=[]),
    Case(id="lfm2-nested-python-c", family="pythonic", source="vllm-lfm2", test=LT.format("nested_python_c"),
         text=_lfm2("bash(command='cd /testbed && python3 -c \\\"from sympy import latex\nprint(latex(3*x, mul_symbol='\\,'))\"')"),
         calls=[("bash", None)], differs="not_python", ours=[]),
    Case(id="lfm2-leading-zero", family="pythonic", source="vllm-lfm2", test=LT.format("leading_zero_int"),
         text=_lfm2("set_date(month=07, day=05)"), calls=[("set_date", {"month": 7, "day": 5})], differs="not_python", ours=[]),
    Case(id="lfm2-nul-byte", family="pythonic", source="vllm-lfm2", test=LT.format("nul_byte_string_arg"),
         text=_lfm2("exec(command='printf a\x00b')"), calls=[("exec", {"command": "printf a\x00b"})], differs="not_python", ours=[]),
    Case(id="lfm2-empty-block", family="pythonic", source="vllm-lfm2", test="test_empty_tool_call_block[]", text=f"{L_START}[]{L_END}", calls=[]),
    Case(id="lfm2-blank-block", family="pythonic", source="vllm-lfm2", test="test_empty_tool_call_block[ ]", text=f"{L_START}[ ]{L_END}", calls=[]),
    Case(id="lfm2-bad-sibling", family="pythonic", source="vllm-lfm2", test="test_bad_sibling_call_does_not_drop_good_calls[False]",
         text=f"{L_START}[{L_SIMPLE}, bad(x=b'z')]{L_END}", calls=[("get_candidate_status", L_SIMPLE_ARGS)], differs="one_bad_call", ours=[]),
    Case(id="lfm2-space-after-start", family="pythonic", source="vllm-lfm2", test="test_whitespace_after_start_token",
         text=f"{L_START} [{L_SIMPLE}]{L_END}", calls=[("get_candidate_status", L_SIMPLE_ARGS)]),
    Case(id="lfm2-echoed-body", family="pythonic", source="vllm-lfm2", test="test_echoed_tool_call_body_not_leaked_to_content",
         text=f"{L_START}{L_ECHO}{L_END}{L_ECHO}{L_END}", calls=[("grocery.orderIngredients", None)]),
]

# fmt: on
CASES: list[Case] = (
    HERMES
    + QWEN3_CODER
    + GLM45
    + MISTRAL
    + HARMONY
    + DEEPSEEK
    + KIMI
    + PYTHONIC
    + LLAMA_JSON
    + GRANITE
    + INTERNLM
    + REASONING
    + R1_REASONING
    + MAGISTRAL_REASONING
    + DSML
    + MINIMAX
    + SEED_OSS
    + GLM47
    + OLMO3
    + GEMMA4
    + LFM2
)

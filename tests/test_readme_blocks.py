"""README.md's commands and cheap Python blocks work as written (tests/test_readme.py runs the
Quickstart's Python block; this file the rest of what a user copies, where it is cheap).

- Every `medenv COMMAND ...` the README names, in a code block or inline, resolves to a real
  (sub)command and names only flags that command's real argparse parser has; every block
  command without placeholders (``[...]``, ``a|b``, ``...``, ``UPPER``) parses whole. No
  command runs (``func`` is never called).
- Every `make TARGET` is a Makefile target given no options (``make learn --quick`` is a make
  error), and every flag of a `python -m MODULE ...` is an option string in that module.
- The Python blocks of "Knowledge graph", its ontology semantics, "Concepts" (search output
  byte-equal to the README's output block) and "Tools" (browse), the environment and its
  reward-term blocks, and the event-log and evaluation blocks (over a real 2-episode oracle
  rollout) run as written, and what their comments say they return holds.

The merged-graph block runs on the shared Hetionet slice. Not run here (cost, or a model or
server they need): the synthesis block (~9 s), the rollout + export block (~30 s), SFT
(~7 min) and GRPO, the judge (its `my_model` is the user's), the served-env client
(tests/test_serve.py runs the server).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def fenced_blocks(text: str = README) -> list[tuple[int, str, str, str]]:
    """Every fenced block as (line of its opening fence, language, section heading, code)."""
    out, section, opened, lang, lines = [], "", None, "", []
    for n, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"\s*```(\S*)", line)
        if fence and opened is None:
            opened, lang, lines = n, fence.group(1), []
        elif fence:
            out.append((opened, lang, section, "\n".join(lines) + "\n"))
            opened = None
        elif opened is not None:
            lines.append(line)
        elif line.startswith("#"):
            section = line.lstrip("#").strip()
    return out


def python_block(section: str, index: int = 0) -> str:
    return [code for _, lang, sec, code in fenced_blocks() if lang == "python" and sec == section][
        index
    ]


def shell_lines(code: str) -> list[str]:
    """A block's command lines: continuations joined, ``$ `` prompts and comments dropped,
    ``NAME="value"`` assignments of the block substituted, ``&&`` chains split."""
    joined = re.sub(r"\\\n\s*", " ", code)
    names: dict[str, str] = {}
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#(\s.*)?$", "", line.strip().removeprefix("$ "))
        assign = re.fullmatch(r'([A-Z_]+)="([^"]*)"', line)
        if assign:
            names[assign.group(1)] = assign.group(2)
            continue
        for name, value in names.items():
            line = line.replace(f"${name}", value)
        out.extend(part.strip() for part in line.split("&&") if part.strip())
    return out


def readme_commands(prefix: str) -> list[tuple[int, bool, str]]:
    """Every command line starting with ``prefix``: (README line, in a block, the command)."""
    found = []
    for start, lang, _, code in fenced_blocks():
        if lang in ("", "bash", "sh", "console"):
            found += [(start, True, c) for c in shell_lines(code) if c.startswith(prefix)]
    fenced = False
    for n, line in enumerate(README.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            inline = re.findall(r"`(" + re.escape(prefix) + r"[^`]*)`", line)
            found += [(n, False, m) for m in inline]
    return found


FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
PLACEHOLDER = re.compile(r"[\[\]|]|\.\.\.|\b[A-Z][A-Z_]{2,}\b")


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    from medenv.cli import build_parser

    return build_parser()


def subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def resolve(parser, tokens: list[str]) -> list[tuple[str, argparse.ArgumentParser, list[str]]]:
    """The (sub)command parsers a README command names, with the tokens after the command
    words; ``corpus build|search|check`` names three."""
    subs = subparsers(parser)
    if not subs or not tokens:
        return [("", parser, tokens)]
    words = tokens[0].replace("\\|", "|").split("|")
    if not all(w in subs for w in words):
        return [("", parser, tokens)]
    return [(f"{w} {name}".strip(), p, rest)
            for w in words for name, p, rest in resolve(subs[w], tokens[1:])]  # fmt: skip


def test_every_medenv_command_names_real_flags(parser):
    commands = readme_commands("medenv ")
    assert len(commands) > 100  # the README names commands in ~40 blocks and ~60 inline
    problems, checked = [], set()
    for line, _, command in commands:
        tokens = command.split()[1:]
        if tokens and tokens[0].startswith("COMMAND"):  # `medenv COMMAND: error: ...`
            continue
        for name, sub, rest in resolve(parser, tokens):
            if not name:
                problems.append(f"README:{line}: {command!r}: no such command")
                continue
            checked.add(name)
            options = {o for a in sub._actions for o in a.option_strings}
            for flag in FLAG.findall(" ".join(rest)):
                if flag not in options:
                    problems.append(f"README:{line}: `medenv {name}` has no {flag}")
    assert problems == []
    assert {"kg stats", "synth", "rollout", "train sft", "train grpo", "events export"} <= checked


def test_block_commands_parse_as_written(parser):
    concrete = [(n, c) for n, block, c in readme_commands("medenv ") if block]
    concrete = [(n, c) for n, c in concrete if not PLACEHOLDER.search(c)]
    assert len(concrete) > 40
    failed = []
    for line, command in concrete:
        try:
            with contextlib.redirect_stderr(io.StringIO()) as err:
                parser.parse_args(shlex.split(command)[1:])
        except SystemExit:
            failed.append(f"README:{line}: {command}: {err.getvalue().strip().splitlines()[-1]}")
    assert failed == []


def test_make_targets_and_module_flags_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.M))
    problems = []
    for line, _, command in readme_commands("make "):
        words = command.split()[1:]
        if not words or words[0] not in targets:
            problems.append(f"README:{line}: {command!r}: no such make target")
        elif any(w.startswith("-") for w in words):
            problems.append(f"README:{line}: {command!r}: make takes no such option")
    modules = readme_commands("python -m ") + readme_commands(".venv/bin/python -m ")
    assert len(modules) >= 5
    for line, _, command in modules:
        module, *rest = command.split(" -m ", 1)[1].split()
        parts = module.split(".")
        top = {"medenv.training": "training", "medenv.agents": "agents"}.get(".".join(parts[:2]))
        path = ROOT / (f"{top}/{'/'.join(parts[2:])}.py" if top else f"{'/'.join(parts)}.py")
        if not path.is_file():
            problems.append(f"README:{line}: python -m {module}: no {path.relative_to(ROOT)}")
            continue
        source = path.read_text()
        problems += [f"README:{line}: python -m {module} has no {flag}"
                     for flag in FLAG.findall(" ".join(rest)) if f'"{flag}"' not in source]  # fmt: skip
    assert problems == []


def test_kg_blocks_return_what_their_comments_say():
    ns: dict = {}
    exec(compile(python_block("Knowledge graph (`medenv.kg`)"), "README#kg", "exec"), ns)
    kg = ns["kg"]
    assert (ns["marfan"].type, ns["marfan"].name) == ("disease", "Marfan syndrome")
    assert kg.successors("OMIM:154700", "associated_gene") == ["NCBIGene:2200"]
    assert (kg.find("epilepsy")[0].id, kg.find("epilepsy")[0].name) == ("HP:0001250", "Seizure")
    for method in ("out_edges", "in_edges", "neighbors", "degree", "nodes", "edges", "stats"):
        assert callable(getattr(kg, method))
    semantics = python_block("Question synthesis (KISA)", 1)
    exec(compile(semantics, "README#semantics", "exec"), ns)
    assert kg.relation_properties()["has_phenotype"].inherited_along == "is_a"
    genes = kg.satisfying(["HP:0002870"], [("has_phenotype", True), ("associated_gene", False)],
                          types=["phenotype", "disease", "gene"])  # fmt: skip
    assert genes and all(kg.node(g).type == "gene" for g in genes)
    commented = re.search(r"# (kg\.set_relation_properties\(.*\))", semantics).group(1)
    with pytest.raises(KeyError, match="part_of"):  # as the comment says: HPO has no part_of
        exec(commented, ns)


def test_merged_graph_block_returns_what_its_comments_say(shared_data):
    """Its `data/hetionet` (a full Hetionet download) read as the shared slice, which holds
    every entity the block names."""
    code = python_block("Merging sources and aligning entities")
    slice_path = str(shared_data / "hetionet-slice")
    ns: dict = {}
    exec("from medenv.kg import load_kg", ns)
    exec(compile(code.replace('"data/hetionet"', repr(slice_path)), "README#merge", "exec"), ns)
    kg = ns["kg"]
    for line in code.splitlines():  # `expression  # "value"` or `# "a", "b"` or `# (...)`
        expression, _, comment = line.partition("  #")
        if expression.startswith("kg = "):
            continue
        expected = re.sub(r"\s+\(FBN1\)$", "", comment.strip())
        assert eval(expression, ns) == __import__("ast").literal_eval(expected), line
    assert kg.source == "hpo+hetionet"


def test_search_and_browse_blocks_print_the_readme_output(capsys):
    blocks = fenced_blocks()
    (i,) = [k for k, b in enumerate(blocks) if b[1] == "python" and b[2] == "Concepts"]
    exec(compile(blocks[i][3], "README#concepts", "exec"), ns := {})
    assert blocks[i + 1][1] == ""  # the output block right after it
    assert capsys.readouterr().out == blocks[i + 1][3]
    (browse,) = [b[3] for b in blocks if b[2] == "Tools" and b[3].startswith("browse ")]
    call, *shown = browse.splitlines()
    arguments = __import__("json").loads(call.split(" ", 1)[1])
    text = ns["execute"](ns["world"], "browse", arguments).text
    assert shown[-1] == "..." and text.splitlines()[: len(shown) - 1] == shown[:-1]


def test_environment_and_reward_term_blocks_run():
    ns: dict = {}
    section = "The environment: `MedResearch-v0`"
    exec(compile(python_block(section, 0), "README#env", "exec"), ns)
    exec(compile(python_block(section, 1), "README#reward-terms", "exec"), ns)
    env = ns["env"]  # the Rubric's env: its terms replace the defaults
    try:
        env.reset(seed=0)
        _, reward, terminated, _, _ = env.step("<answer>not a real answer</answer>")
        assert terminated
        assert set(env.unwrapped.reward_components) == {"exact", "brevity"}
        assert reward == pytest.approx(0.1 / 4)  # brevity of a 4-word wrong answer
    finally:
        env.close()


def test_event_log_and_evaluation_blocks_run(tmp_path, monkeypatch, capsys):
    from medenv.agents.rollout import rollout

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    rollout("oracle", None, episodes=2, db="runs/events.duckdb", progress=False)
    ns: dict = {}
    exec(compile(python_block("Event log (DuckDB)"), "README#events", "exec"), ns)
    rows = ns["con"].sql("SELECT agent, avg(correct::INT) FROM episodes GROUP BY agent").fetchall()
    assert [r[0] for r in rows] == ["oracle"]
    ns["con"].close()

    rollout("oracle", None, episodes=2, db="events.duckdb", progress=False,
            env_kwargs={"run_id": "run-A"})  # fmt: skip
    capsys.readouterr()
    exec(compile(python_block("Reports"), "README#reports", "exec"), {})
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["metric", "run-A"]
    assert "{'pass@1':" in out
    assert (tmp_path / "out/report/report.md").is_file()

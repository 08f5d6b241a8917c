"""The package's layering: a module never imports (at its top or inside a function) a module
of a higher layer (issue 13), so back edges cannot return.

`LAYERS` is the declaration, lowest first; a module belongs to the first layer with a
pattern naming it (`fnmatch`). Modules of one layer may import each other. A module no
pattern names fails the test: declare it. The check reads the sources (every ``import`` and
``from ... import`` statement, wherever it sits), so it costs no import of torch or the world.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "ground",
        (
            "medenv",
            "medenv.errors",
            "medenv.paths",
            "medenv.forking",
            "medenv.gc_tuning",
            "medenv.jsonl",
            "medenv.english",
            "medenv.qa",
            "medenv.spaces",
            "medenv.env_config",
            "medenv.curriculum",
            "medenv.time_budget",
            "medenv.cli",  # the dispatcher: it imports the commands by name (importlib)
        ),
    ),
    ("kg", ("medenv.kg", "medenv.kg.*")),
    ("synth", ("medenv.synth", "medenv.synth.*")),
    (
        "corpus/events/reward",
        (
            "medenv.corpus",
            "medenv.corpus.*",
            "medenv.events",
            "medenv.events.*",
            "medenv.reward",
            "medenv.actions",
            "medenv.serve_client",  # sends an action as the env reads it (medenv.actions)
        ),
    ),
    (
        "tools/world",
        (
            "medenv.tools",
            "medenv.tools.*",
            "medenv.world",
            "medenv.world_memo",
            "medenv.worldspec",
            "medenv.questions",
            "medenv.shipped_qa",
            "medenv.qa_world",
        ),
    ),
    (
        "env",
        (
            "medenv.env",
            "medenv.env_step",
            "medenv.env_events",
            "medenv.env_prompt",
            "medenv.env_reset",
            "medenv.env_entry",
            "medenv.verify",
            "medenv.judge",
            "medenv.grounding",
            "medenv.grounding.*",
            "medenv.evaluation",
            "medenv.evaluation.*",
            "medenv.learning_curve",
            "medenv.prompt",
            "medenv.trl",
            "medenv.workers",
            "medenv.agents.text",
            "medenv.agents.messages",  # model text: the env's readers use it
        ),
    ),
    ("agents", ("medenv.agents", "medenv.agents.*", "medenv.distributed", "medenv.serve")),
    ("training", ("medenv.training", "medenv.training.*")),
    ("commands", ("medenv.commands", "medenv.commands.*")),
]


def layer_of(module: str) -> int | None:
    for n, (_, patterns) in enumerate(LAYERS):
        if any(fnmatchcase(module, p) for p in patterns):
            return n
    return None


def module_sources() -> dict[str, Path]:
    """Every module of the package (``agents/`` and ``training/`` are ``medenv.agents`` and
    ``medenv.training``) -> its file."""
    out = {}
    for folder in ("medenv", "agents", "training"):
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[0] != "medenv":
                parts.insert(0, "medenv")
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imported_modules(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The package modules ``source`` imports anywhere (``from m import name`` counts as
    ``m.name`` when that is a module, else ``m``)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*parent, *([base] if base else [])])
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found - {module}


def back_edges(sources: dict[str, str], packages: set[str] = frozenset()) -> list[str]:
    known = set(sources)
    bad = []
    for module, source in sorted(sources.items()):
        mine = layer_of(module)
        for target in sorted(imported_modules(source, module, module in packages, known)):
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append(f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})")
    return bad


def test_every_module_is_in_a_layer():
    undeclared = sorted(m for m in module_sources() if layer_of(m) is None)
    assert not undeclared, f"declare these modules in LAYERS: {undeclared}"


def test_no_module_imports_a_higher_layer():
    files = module_sources()
    packages = {m for m, p in files.items() if p.name == "__init__.py"}
    sources = {m: p.read_text() for m, p in files.items()}
    assert back_edges(sources, packages) == []


def test_the_check_sees_back_edges_at_the_top_and_inside_functions():
    sources = {
        "medenv.kg.graph": "from medenv.errors import MedenvError\n",
        "medenv.errors": "",
        "medenv.env": "",
        "medenv.synth.pipeline": "def f():\n    from medenv.env import MedResearchEnv\n",
        "medenv.synth.evidence": "from . import pipeline\nimport medenv.agents.oracle as o\n",
        "medenv.agents.oracle": "from medenv.kg import graph\n",
    }
    assert back_edges(sources) == [
        "medenv.synth.evidence (synth) imports medenv.agents.oracle (agents)",
        "medenv.synth.pipeline (synth) imports medenv.env (env)",
    ]

"""`Tool`: the one definition of a tool, declared as ``TOOL`` by its module.

A tool module in `medenv.tools` declares ``TOOL = Tool(name, description, Args, run,
order)``: its name (what the model calls), its description (the prompt and the schemas show
it), a `msgspec.Struct` of its arguments (the single argument check, and the source of its
JSON schema: types, bounds, defaults, per-argument descriptions) and ``run(world, args) ->
ToolResult`` over already-checked arguments. `medenv.tools.registry` collects every
``TOOL`` of the package, sorted by ``order`` then name; the prompt, the OpenAI schemas and
the TRL adapter's methods (`medenv.trl`) are generated from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from medenv.tools.result import ToolResult


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[msgspec.Struct]
    run: Callable[[Any, Any], ToolResult]
    order: int = 100  # place in the prompt and the schemas (lower first)

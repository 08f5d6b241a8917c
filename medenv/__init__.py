"""medenv: build, train and evaluate medical deep-research agents.

Importing medenv registers the Gymnasium environment ``MedResearch-v0`` (entry point
``medenv.env_entry:make_env``, which checks the arguments and builds a
``medenv.env.MedResearchEnv``); the environment module itself loads on first ``gym.make``.

The agents and trainers are ``medenv.agents`` and ``medenv.training``. Their sources stay in
the top-level ``agents/`` and ``training/`` folders: a wheel maps them into the package
(setuptools ``package-dir`` in pyproject.toml), and from a source checkout
`_map_source_folders` binds the two names to those folders.
"""

import gc
import importlib.util
import os
import sys
from pathlib import Path

__version__ = "0.1.0"
ENV_ID = "MedResearch-v0"


def _register_env() -> None:
    try:
        from gymnasium.envs.registration import WrapperSpec, register, registry
    except ImportError:  # gymnasium missing: the rest of medenv still works
        return
    if ENV_ID not in registry:
        # TimeBudget (no-op unless gym.make added a TimeLimit) caps the env's own budget.
        # No PassiveEnvChecker by default: gymnasium 1.4's marks reset checked before calling
        # it, so a first reset that raised (a bad option, a bad seed) made the first step a
        # TypeError from its data-reuse check. The env passes `check_env` (tests/test_env.py);
        # gym.make(..., disable_env_checker=False) still adds the checker.
        budget = WrapperSpec("TimeBudget", "medenv.time_budget:TimeBudget", {})
        # A function entry point (no metadata): gymnasium skips its own render_mode check,
        # which raised its AttributeError for render_mode=5; make_env's check names it.
        register(id=ENV_ID, entry_point="medenv.env_entry:make_env", additional_wrappers=(budget,),
                 disable_env_checker=True)  # fmt: skip


_register_env()

# A forked child (async vector envs, rollout workers) never collects the objects it inherited:
# cycles its parent left behind (torch models, DuckDB connections, tantivy searchers) have
# deallocators that are not fork-safe and crash the child when its GC frees them. Frozen, they
# stay as shared copy-on-write pages; what the child itself allocates is collected as usual.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=gc.freeze)


def _map_source_folders() -> None:
    """In a source checkout (no ``medenv/agents`` folder), make ``medenv.agents`` and
    ``medenv.training`` the sibling ``agents/`` and ``training/`` packages (their
    ``__init__`` files are empty; submodules import lazily from the folder)."""
    here = Path(__file__).resolve().parent
    for name in ("agents", "training"):
        full, folder = f"{__name__}.{name}", here.parent / name
        if full in sys.modules or (here / name).is_dir():
            continue
        if not (folder / "__init__.py").is_file():
            continue
        spec = importlib.util.spec_from_file_location(
            full, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        globals()[name] = module


_map_source_folders()

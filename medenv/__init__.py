"""medenv: build, train and evaluate medical deep-research agents.

Importing medenv registers the Gymnasium environment ``MedResearch-v0``
(``medenv.env:MedResearchEnv``); the environment module itself loads on first ``gym.make``.
"""

import gc
import os

__version__ = "0.1.0"
ENV_ID = "MedResearch-v0"


def _register_env() -> None:
    try:
        from gymnasium.envs.registration import WrapperSpec, register, registry
    except ImportError:  # gymnasium missing: the rest of medenv still works
        return
    if ENV_ID not in registry:
        # TimeBudget (no-op unless gym.make added a TimeLimit) caps the env's own budget
        budget = WrapperSpec("TimeBudget", "medenv.time_budget:TimeBudget", {})
        register(id=ENV_ID, entry_point="medenv.env:MedResearchEnv", additional_wrappers=(budget,))


_register_env()

# A forked child (async vector envs, rollout workers) never collects the objects it inherited:
# cycles its parent left behind (torch models, DuckDB connections, tantivy searchers) have
# deallocators that are not fork-safe and crash the child when its GC frees them. Frozen, they
# stay as shared copy-on-write pages; what the child itself allocates is collected as usual.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=gc.freeze)

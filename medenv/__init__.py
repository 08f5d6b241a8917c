"""medenv: build, train and evaluate medical deep-research agents.

Importing medenv registers the Gymnasium environment ``MedResearch-v0``
(``medenv.env:MedResearchEnv``); the environment module itself loads on first ``gym.make``.
"""

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

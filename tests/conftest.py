"""Shared fixtures: the real HPO graph, the shared external data, a cache folder.

Tests that need ``../shared/data`` fail (not skip) when ``CI`` is set and it is missing.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MEDENV_HOME", str(ROOT / ".medenv"))
# No test needs the Hugging Face hub (models are built locally): a hub id that is not cached
# fails at once instead of after the hub client's retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

if os.environ.get("CI"):  # CI explores the same examples every run (reproducible, not flaky)
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None)
    settings.load_profile("ci")


def _shared_data() -> Path:
    return Path(os.environ.get("MEDENV_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = _shared_data()
    if not path.is_dir():
        message = f"shared data folder {path} is missing"
        if os.environ.get("CI"):
            pytest.fail(message + " (required in CI)")
        pytest.skip(message)
    return path


# Test files that need the SFT fixture (`tests.test_sft.trained_fixture`, or the oracle
# export it trains on). A scheduling hint only: `pytest_collection_modifyitems` puts them
# last, so that on a cold cache the worker that is not building the fixture runs the others
# meanwhile. A file missing here still passes (it waits for the fixture's lock). The default
# QA set is no such hint: it is installed from the package (`medenv.shipped_qa`) in seconds.
NEEDS_SFT_FIXTURE = frozenset(
    {"test_grpo.py", "test_prompt_contract.py", "test_sft.py", "test_train_cli.py"}
)


@pytest.fixture(scope="session", autouse=True)
def _cold_cache_built_once():
    """Under pytest-xdist, build the cold cache once and early, keeping the other worker busy.

    Every worker first loads the KG (one lock: on a cold cache ``gw0`` builds it, ~9 s of
    CPU, while ``gw1`` builds the Hetionet slice's graph, ~3 s) and then the default world
    (another lock: ``gw0`` builds it, ~26 s, while ``gw1`` first builds what the suite needs
    anyway and does not need the world for: the tiny test model, which the SFT fixture
    trains, ~10 s, tests/test_entity_embed.py's entity model, ~2.5 s, and the merged
    HPO + Hetionet graph, ~12 s; before, ``gw1`` waited idle for part of both builds).
    Warm, all of this is a lazy load. Then worker ``gw0`` alone names the default QA set
    (cold: installed from the package's shipped set, `medenv.shipped_qa`) and the SFT
    fixture model (`tests.test_sft.trained_fixture`): cold, it builds it (the suite's
    longest chain: oracle export -> training) while ``gw1`` runs the files that do not need
    it (`NEEDS_SFT_FIXTURE` comes last in the schedule). A ``gw1`` test that needs the set or
    the fixture waits for its build lock (`medenv.paths.build_lock`), so nothing is built
    twice."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    from medenv.kg.cache import load_kg
    from medenv.paths import build_lock, medenv_home
    from medenv.world import load_world

    hetionet = _shared_data() / "hetionet-slice"
    if worker == "gw1" and hetionet.is_dir():  # while gw0 builds the HPO graph (cold)
        with build_lock(medenv_home() / "tests-hetionet"):
            load_kg("hetionet", hetionet, progress=False)
    with build_lock(medenv_home() / "tests-kg"):
        load_kg("hpo", progress=False)
    if worker == "gw1":  # while gw0 builds the world (cold, ~26 CPU-s)
        from medenv.agents.tiny import tiny_model_path

        from tests.test_entity_embed import _config as entity_model_config

        tiny_model_path()  # its own build lock (~10 CPU-s cold)
        tiny_model_path(entity_model_config())  # tests/test_entity_embed.py's (~2.5)
        if hetionet.is_dir():  # the merged graph 5 test files load (~12 CPU-s cold)
            with build_lock(medenv_home() / "tests-hetionet"):
                load_kg("hpo+hetionet", {"hetionet": hetionet}, progress=False)
    with build_lock(medenv_home() / "tests-world"):
        load_world(progress=False)
    if worker == "gw0":
        from medenv.questions import default_qa_set
        from tests.test_sft import oracle_rows, trained_fixture

        default_qa_set(progress=False)
        trained_fixture(oracle_rows())


@pytest.fixture(scope="session")
def kg():
    """The default HPO knowledge graph (built once, then loaded from the cache)."""
    from medenv.kg.cache import load_kg

    return load_kg("hpo")


@pytest.fixture(scope="module")
def compact_kg():
    """The default HPO graph loaded afresh from the cache: compact, no networkx view (what
    ``medenv synth`` itself synthesizes from). Give it to `synthesize`: its index is then
    built from the edge arrays held, where the session ``kg`` (whose networkx view earlier
    tests built) makes them again from the view, ~2 CPU-s per call. The items are the same
    (tests/test_synth_index.py). Read facts from ``kg``: a test that builds this graph's view
    fails the module at teardown."""
    from medenv.kg.cache import load_kg

    graph = load_kg("hpo", progress=False)
    assert graph._graph is None, "the cache gave a graph with a networkx view"
    yield graph
    assert graph._graph is None, "a test built compact_kg's networkx view: read facts from kg"


def pytest_collection_modifyitems(config, items):
    # the schedule (`--dist loadfile --no-loadscope-reorder` keeps this order): files that do
    # not need the SFT fixture first, then those that do; within each, files with more tests
    # first (what xdist's own reordering does)
    sizes: dict[str, int] = {}
    for item in items:
        sizes[item.path.name] = sizes.get(item.path.name, 0) + 1
    items.sort(key=lambda it: (it.path.name in NEEDS_SFT_FIXTURE, -sizes[it.path.name]))
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:  # no torch import (~2 CPU-s) for a run without GPU tests
        return
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except Exception:
        has_gpu = False
    if has_gpu:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in gpu_items:
        item.add_marker(skip)


# The cyclic GC runs once per test module (below), not on allocation counts: measured with
# gc.callbacks on ten test files (~90 CPU-s), automatic collections took ~7 CPU-s (1,055 of
# them: each rescans the KG views, worlds and models the session holds); one collection plus
# `gc.freeze` per module ~2. Reference counting still frees everything acyclic at once; the
# cycles a module leaves are collected when the next one starts. Code that switches the GC
# off and on around a hot loop (`medenv.kg.cache`, `medenv.kg.compact`) restores this state.
gc.disable()


@pytest.fixture(autouse=True, scope="module")
def _collect_before_forks():
    """Collect the garbage cycles earlier modules left (torch models from SFT and GRPO runs)
    before this module's tests fork workers (async vector envs, rollout workers): freed in
    a forked child instead, their deallocators can crash it. Then move the survivors (the
    session's graphs, worlds, models) to the permanent generation: the next module's
    collection scans only what was allocated since. (Off again: a test that switched the
    GC on changed only its own module.)"""
    gc.disable()
    gc.collect()
    gc.freeze()


def pytest_configure(config):
    """Bind transformers' log handler to the session's stderr now: created lazily inside a
    test, it would keep that test's captured (then closed) stream and fail later logs.
    Not in pytest-xdist's controller, which runs no test (the import costs ~1.3 CPU-s)."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # the train extra is not installed
        return
    hf_logging.get_logger("transformers")


# Opt-in per-test CPU profile (`MEDENV_TEST_PROFILE=DIR`): each worker appends one JSON line per
# test to DIR/<worker>.jsonl -- file, test id, wall start/end and the CPU seconds (user+sys of
# this process and of the children it waited for) of setup+call+teardown; module and session
# fixtures count to the test that first needs them. `python -m tests.cpu_profile DIR` sums it.
_PROFILE_DIR = os.environ.get("MEDENV_TEST_PROFILE")
if _PROFILE_DIR:
    import json
    import resource
    import time

    def _cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        start, cpu = time.time(), _cpu()
        yield
        row = {
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            "file": item.path.name,
            "test": item.nodeid,
            "start": start,
            "end": time.time(),
            "cpu": _cpu() - cpu,
        }
        Path(_PROFILE_DIR).mkdir(parents=True, exist_ok=True)
        with open(Path(_PROFILE_DIR) / f"{row['worker']}.jsonl", "a") as out:
            out.write(json.dumps(row) + "\n")

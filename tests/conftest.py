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


@pytest.fixture(scope="session", autouse=True)
def _default_set_built_once():
    """Under pytest-xdist, each worker starts by naming the default QA set: on a warm cache
    that reads one small file; on a cold one the first worker builds the KG, the world and
    the set (under the set's `medenv.paths.build_lock`) while the others wait, instead of
    every worker building them at the same time (a cold ``make test`` paid that twice)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        from medenv.questions import default_qa_set

        default_qa_set(progress=False)


@pytest.fixture(scope="session")
def kg():
    """The default HPO knowledge graph (built once, then loaded from the cache)."""
    from medenv.kg.cache import load_kg

    return load_kg("hpo")


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except Exception:
        has_gpu = False
    if has_gpu:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="module")
def _collect_before_forks():
    """Collect the garbage cycles earlier modules left (torch models from SFT and GRPO runs)
    before this module's tests fork workers (async vector envs, rollout workers): freed in
    a forked child instead, their deallocators can crash it."""
    gc.collect()


def pytest_configure(config):
    """Bind transformers' log handler to the session's stderr now: created lazily inside a
    test, it would keep that test's captured (then closed) stream and fail later logs."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # the train extra is not installed
        return
    hf_logging.get_logger("transformers")

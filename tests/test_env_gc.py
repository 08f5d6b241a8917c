"""The env raises the cyclic GC's thresholds (`medenv.gc_tuning.raise_gc_thresholds`) unless
``MEDENV_GC_TUNE=0`` or collection is disabled (threshold 0); it never lowers them."""

from __future__ import annotations

import gc

import pytest

from medenv.gc_tuning import GC_THRESHOLDS, raise_gc_thresholds


@pytest.fixture(autouse=True)
def _restore():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_thresholds_are_raised_never_lowered(monkeypatch):
    monkeypatch.delenv("MEDENV_GC_TUNE", raising=False)
    gc.set_threshold(700, 10, 10)
    raise_gc_thresholds()
    assert gc.get_threshold() == GC_THRESHOLDS
    gc.set_threshold(50_000, 5, 100)
    raise_gc_thresholds()
    assert gc.get_threshold() == (50_000, GC_THRESHOLDS[1], 100)


@pytest.mark.parametrize("setting", [("1", (0, 10, 10)), ("0", (700, 10, 10))])
def test_left_alone_when_switched_off_or_collection_disabled(monkeypatch, setting):
    tune, thresholds = setting
    monkeypatch.setenv("MEDENV_GC_TUNE", tune)
    gc.set_threshold(*thresholds)
    raise_gc_thresholds()
    assert gc.get_threshold() == thresholds

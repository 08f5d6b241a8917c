"""`medenv.paths.build_lock`: processes that start building the same artefact together
build it once; the others wait and find it built (issue 13: a cold ``make test`` with
pytest-xdist built the default set and the SFT fixture once per worker)."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from pathlib import Path

import pytest

from medenv.paths import build_lock


def _build(target: str, log: str, barrier, locked: bool) -> None:
    """A builder as the cached artefacts use it: check, lock, check again, build."""
    path = Path(target)
    barrier.wait(60)  # all builders start together
    if path.exists():
        return
    with build_lock(path) if locked else contextlib.nullcontext():
        if path.exists():
            return
        with open(log, "a") as f:
            f.write("built\n")
        time.sleep(1.0)  # a slow build: the others arrive while it runs
        path.write_text("done")


def _run(tmp_path: Path, locked: bool) -> str:
    target, log = tmp_path / "artefact", tmp_path / "log"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [
        ctx.Process(target=_build, args=(str(target), str(log), barrier, locked)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert target.read_text() == "done"
    return log.read_text()


@pytest.mark.parametrize("locked", [True, False])
def test_concurrent_builders_build_once_under_the_lock(tmp_path, locked):
    """Locked: one build. Unlocked (the control that shows the test can fail): several."""
    built = _run(tmp_path, locked).count("built")
    assert built == 1 if locked else built > 1

"""A pytest plugin for `make mutate` (``-p bench.mutate_warm``): loads the default world
once, in mutmut's fork server, so that every mutant's forked test run finds it in memory
(`medenv.world.load_world` keeps it in-process) instead of loading it again (seconds per
mutant). It changes no result: the tests' ``world`` fixtures call the same `load_world`."""

from __future__ import annotations

from medenv.world import load_world


def pytest_configure(config) -> None:
    world = load_world(progress=False).load()  # every part: KG, corpus, both indexes
    world.adjacency  # noqa: B018  (built on first use)
    world.medical_index.search("inheritance", 1)

"""A pytest plugin for `make mutate` (``-p bench.mutate_warm``), two savings per mutant:

- it loads the default world once, in mutmut's fork server, so that every mutant's forked
  test run finds it in memory (`medenv.world.load_world` keeps it in-process) instead of
  loading it again (seconds per mutant). It changes no result: the tests' ``world``
  fixtures call the same `load_world`;
- it caps every hypothesis test at ``MEDENV_MUTATE_EXAMPLES`` examples (`bench.mutate`
  sets it; unset: no cap). A property test with 600 examples is most of a survivor's run,
  and a mutant that only its 400th example catches is rare (the cap is printed in the
  score table's record, so a run is read with it).
"""

from __future__ import annotations

import os

from bench.mutate import EXAMPLES_ENV
from medenv.world import load_world


def pytest_collection_modifyitems(session, config, items) -> None:
    cap = os.environ.get(EXAMPLES_ENV)
    if not cap:
        return
    from hypothesis import settings

    for item in items:
        test = getattr(item, "obj", None)
        # where @settings keeps a @given test's settings (stable since hypothesis 3)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is not None and current.max_examples > int(cap):
            test._hypothesis_internal_use_settings = settings(current, max_examples=int(cap))


def pytest_configure(config) -> None:
    world = load_world(progress=False).load()  # every part: KG, corpus, both indexes
    world.adjacency  # noqa: B018  (built on first use)
    world.medical_index.search("inheritance", 1)

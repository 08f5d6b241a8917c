"""Re-verify a whole QA set with the tests' second implementations (issue 14 acceptance).

    python -m bench.verify_qa_set [FOLDER] [--every K] [--offset J] [--source S --path P]

FOLDER defaults to the built-in default set (`medenv.questions.default_qa_set`). The graph
is the one the set was built from: give the KG flags of `medenv synth` (`--source`,
`--path`, ...; `medenv.commands.kgargs`) for a set built from another graph than the
default HPO, e.g. an older HPO release's folder; a graph whose source or version differs
from the manifest's ``kg_source`` / ``kg_version`` is refused (exit 2) rather than used to
check items it was not built from. For every
item (or every K-th from the J-th, to split the work across processes): the answers admitted under the ontology closure by the tests'
brute-force reader (`tests.closure_ref.admitted`, under the semantics the graph declares:
`tests.closure_ref.semantics_of`) and by the public `resolve_chain` must be
exactly the answer; no constraint may pin the answer past the chain
(`tests.closure_ref.shortcut_levels`); no chain entity may occur in the text, not even as
a near-leak (`tests.test_synth._near_leaks`); with the manifest's ``max_candidates``, no
middle chain node may keep more candidates (``wide``, read by `tests.closure_ref.levels`). Prints one JSON object with the counts and
the manifest's figures (mean effective hops, search shortcut rate, specialties, share
of questions naming at most one entity); exits 1 when any item fails. Too slow for the
test suite (minutes for 2,000 items); the tests run the same readers on samples.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from medenv.commands.kgargs import add_kg_arguments, has_kg_flags, kg_spec
from medenv.errors import MedenvError
from medenv.kg.cache import load_kg
from medenv.questions import default_qa_set
from medenv.synth import read_manifest, read_qa_set, resolve_chain
from medenv.synth.quality import verbatim_names
from tests.closure_ref import ClosedGraph, levels, semantics_of, shortcut_levels
from tests.test_synth import _near_leaks, labels_index


def verify(folder: Path, every: int = 1, offset: int = 0, kg=None) -> dict:
    """The verification report of the set in ``folder`` against ``kg`` (default: the
    manifest's ``kg_source`` built from its default inputs); `MedenvError` when the graph's
    source or version is not the manifest's."""
    manifest = read_manifest(folder)
    items = read_qa_set(folder)[offset::every]
    kg = load_kg(manifest["kg_source"]) if kg is None else kg
    built = (manifest["kg_source"], manifest["kg_version"])
    if (kg.source, str(kg.version)) != built:
        raise MedenvError(
            f"{folder} was built from {' '.join(built)}, not from the graph given "
            f"({kg.source} {kg.version}); pass the KG flags it was synthesized with"
        )
    closed = ClosedGraph(kg.graph, semantics_of(kg.relation_properties()))
    by_name = labels_index(kg)
    failures: dict[str, list[str]] = {"closure_ref": [], "resolve_chain": [], "shortcut": []}
    failures["near_leak"] = []
    failures["wide"] = []
    limit = manifest["config"].get("max_candidates", 0)
    started = time.perf_counter()
    for item in tqdm(items, desc="verify", unit="q"):
        sets = levels(closed, by_name, item)
        if sets[-1] != {item.answer_id}:
            failures["closure_ref"].append(item.id)
        if limit and any(len(s) > limit for s in sets[1:-1]):
            failures["wide"].append(item.id)
        if resolve_chain(kg, item) != {item.answer_id}:
            failures["resolve_chain"].append(item.id)
        if shortcut_levels(closed, by_name, item):
            failures["shortcut"].append(item.id)
        for node_id in item.chain[1:]:
            node = kg.node(node_id)
            if any(_near_leaks(item.question, label) for label in (node.name, *node.synonyms)):
                failures["near_leak"].append(item.id)
                break
    counts = manifest["counts"]
    names = [verbatim_names(i.question) for i in items]
    return {
        "folder": str(folder),
        "items_checked": len(items),
        "failures": {k: len(v) for k, v in failures.items()},
        "failed_ids": {k: v[:10] for k, v in failures.items() if v},
        "mean_effective_hops": counts["mean_effective_hops"],
        "search_shortcut_rate": counts["search_shortcut_rate"],
        "specialties": len(counts["by_specialty"]),
        "share_at_most_one_name": round(sum(n <= 1 for n in names) / max(len(names), 1), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder", nargs="?", default=None)
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--offset", type=int, default=0)
    add_kg_arguments(p)
    args = p.parse_args(argv)
    folder = Path(args.folder) if args.folder else default_qa_set()
    try:
        kg = None  # without KG flags: the manifest's source from its default inputs
        if has_kg_flags(args):
            names, path, options = kg_spec(args)
            kg = load_kg("+".join(names), path, **options)
        report = verify(folder, args.every, args.offset, kg)
    except MedenvError as exc:
        print(f"verify_qa_set: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1))
    return 1 if any(report["failures"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())

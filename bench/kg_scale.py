"""A seeded PrimeKG-shaped edge list for the KG-scale bench (issue 19).

`generate(path, edges, seed)` writes a CSV in PrimeKG's ``kg.csv`` layout
(``x_id,x_type,x_name,relation,display_relation,y_id,y_type,y_name``) with PrimeKG's node
types and counts (129,375 nodes at full size, `NODE_TYPES`) and its relations in PrimeKG's
proportions (`RELATIONS`: PrimeKG's row counts, whose sum is ~8.1M directed edges). Node
endpoints are drawn with a heavy-tailed (Zipf-like) degree distribution, as in real graphs.
``edges`` distinct triples are written (a drawn duplicate is drawn again); below 1M edges the node counts shrink in proportion (at least 50 per type) so a small
graph stays as dense as the full one. Same ``(edges, seed)`` -> the same bytes.

    python -m bench.kg_scale --edges 4000000 --out /tmp/kg4m.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

# PrimeKG (Chandak et al. 2023): nodes per type
NODE_TYPES = {
    "gene/protein": 27671,
    "drug": 7957,
    "effect/phenotype": 15311,
    "disease": 17080,
    "biological_process": 28642,
    "molecular_function": 11169,
    "cellular_component": 4176,
    "exposure": 818,
    "pathway": 2516,
    "anatomy": 14035,
}
# relation -> (x type, y type, display relation, PrimeKG rows)
RELATIONS = {
    "anatomy_protein_present": ("anatomy", "gene/protein", "expression present", 3036406),
    "drug_drug": ("drug", "drug", "synergistic interaction", 2672628),
    "protein_protein": ("gene/protein", "gene/protein", "ppi", 642150),
    "disease_phenotype_positive": ("disease", "effect/phenotype", "phenotype present", 300634),
    "bioprocess_protein": ("biological_process", "gene/protein", "interacts with", 289610),
    "cellcomp_protein": ("cellular_component", "gene/protein", "interacts with", 166804),
    "disease_protein": ("disease", "gene/protein", "associated with", 160822),
    "molfunc_protein": ("molecular_function", "gene/protein", "interacts with", 139060),
    "drug_effect": ("drug", "effect/phenotype", "side effect", 129568),
    "bioprocess_bioprocess": ("biological_process", "biological_process", "parent-child", 105772),
    "pathway_protein": ("pathway", "gene/protein", "interacts with", 85292),
    "disease_disease": ("disease", "disease", "parent-child", 64388),
    "contraindication": ("drug", "disease", "contraindication", 61350),
    "drug_protein": ("drug", "gene/protein", "target", 51306),
    "anatomy_protein_absent": ("anatomy", "gene/protein", "expression absent", 39774),
    "phenotype_phenotype": ("effect/phenotype", "effect/phenotype", "parent-child", 37472),
    "anatomy_anatomy": ("anatomy", "anatomy", "parent-child", 28064),
    "molfunc_molfunc": ("molecular_function", "molecular_function", "parent-child", 27148),
    "indication": ("drug", "disease", "indication", 18776),
    "cellcomp_cellcomp": ("cellular_component", "cellular_component", "parent-child", 9690),
    "phenotype_protein": ("effect/phenotype", "gene/protein", "associated with", 6660),
    "off-label use": ("drug", "disease", "off-label use", 5136),
    "pathway_pathway": ("pathway", "pathway", "parent-child", 5070),
    "exposure_disease": ("exposure", "disease", "linked to", 4608),
    "exposure_exposure": ("exposure", "exposure", "parent-child", 4140),
    "exposure_bioprocess": ("exposure", "biological_process", "interacts with", 3250),
    "exposure_protein": ("exposure", "gene/protein", "interacts with", 2424),
    "disease_phenotype_negative": ("disease", "effect/phenotype", "phenotype absent", 2483),
    "exposure_molfunc": ("exposure", "molecular_function", "interacts with", 90),
    "exposure_cellcomp": ("exposure", "cellular_component", "interacts with", 20),
}
FULL_EDGES = 1_000_000  # at and above this size every type has PrimeKG's node count
HEADER = "x_id,x_type,x_name,relation,display_relation,y_id,y_type,y_name\n"


def node_counts(edges: int) -> dict[str, int]:
    """Nodes per type for a graph of ``edges`` edges (see the module docstring)."""
    scale = min(1.0, edges / FULL_EDGES)
    return {t: max(50, round(n * scale)) for t, n in NODE_TYPES.items()}


def edge_counts(edges: int) -> dict[str, int]:
    """Rows per relation: PrimeKG's proportions, summing to ``edges``."""
    total = sum(r[3] for r in RELATIONS.values())
    counts = {rel: int(edges * r[3] / total) for rel, r in RELATIONS.items()}
    counts["anatomy_protein_present"] += edges - sum(counts.values())
    return counts


def _ends(rng: np.random.Generator, n_nodes: int):
    """A drawer of node indexes in ``[0, n_nodes)``, heavy-tailed (rank r drawn with weight
    1/r^0.8; which ids are the hubs is a seeded permutation): ``draw(size)``."""
    weights = 1.0 / np.arange(1, n_nodes + 1) ** 0.8
    cdf = np.cumsum(weights / weights.sum())
    perm = rng.permutation(n_nodes)

    def draw(k: int) -> np.ndarray:
        return perm[np.minimum(np.searchsorted(cdf, rng.random(k)), n_nodes - 1)]

    return draw


def _pairs(rng: np.random.Generator, nx: int, ny: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct ``(x, y)`` pairs, in the order first drawn."""
    xs, ys = np.empty(0, np.int64), np.empty(0, np.int64)
    px, py = _ends(rng, nx), _ends(rng, ny)
    while len(xs) < n:
        more = int((n - len(xs)) * 1.2) + 16
        xs = np.concatenate([xs, px(more)])
        ys = np.concatenate([ys, py(more)])
        _, first = np.unique(xs * ny + ys, return_index=True)
        keep = np.sort(first)[:n]
        xs, ys = xs[keep], ys[keep]
    return xs, ys


def generate(path: str | Path, edges: int, seed: int = 0) -> Path:
    """Write the edge list (see the module docstring); returns ``path``."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    nodes = node_counts(edges)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER)
        for rel, n in edge_counts(edges).items():
            x_type, y_type, display, _ = RELATIONS[rel]
            xs, ys = _pairs(rng, nodes[x_type], nodes[y_type], n)
            xt, yt = x_type.replace("/", "_"), y_type.replace("/", "_")
            fh.writelines(
                f"{x},{x_type},{xt} {x},{rel},{display},{y},{y_type},{yt} {y}\n"
                for x, y in zip(xs.tolist(), ys.tolist(), strict=True)
            )
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--edges", type=int, default=4_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    print(generate(args.out, args.edges, args.seed))


if __name__ == "__main__":
    main()

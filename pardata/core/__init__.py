"""Graph core: one task-graph format and the pure passes over it.

Layer 1 of DESIGN.md. Nothing here imports collections, schedulers or the network.
"""
from pardata.core.graph import (
    CycleError,
    MissingDependencyError,
    cull,
    ensure_graph,
    flatten_keys,
    get_dependencies,
    get_dependents,
    toposort,
)
from pardata.core.optimize import fuse, inline
from pardata.core.ordering import order
from pardata.core.spec import Alias, DataNode, Fused, Key, Node, Ref, Task, convert_graph

__all__ = [
    "Alias", "CycleError", "DataNode", "Fused", "Key", "MissingDependencyError", "Node", "Ref",
    "Task", "convert_graph", "cull", "ensure_graph", "flatten_keys", "fuse", "get_dependencies",
    "get_dependents", "inline", "order", "toposort",
]

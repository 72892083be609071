"""The dataframe optimizer: rules that rewrite a plan before it becomes tasks.

Each rule lives in its own module, takes a plan and returns a plan:

1. ``predicates``: move row filters below joins and column assignments;
2. ``projection``: push column selections into readers (read only used columns);
3. ``filters``: push row filters into ``read_parquet`` (row-group statistics);
4. ``lowering``: replace logical nodes by physical ones (tree reductions, broadcast or
   hash joins, shuffles, sorted partitioning);
5. ``partitioning``: drop shuffles whose input is already partitioned as needed;
6. ``partitions``: push partition selection (``head``) down into readers;
7. ``fusion``: merge chains of partition-wise nodes into one task per partition.
"""
from __future__ import annotations

from pardata import config
from pardata.dataframe.expr import Expr, walk
from pardata.dataframe.optimizer import (
    filters, fusion, lowering, partitioning, partitions, predicates, projection,
)


def simplify(expr: Expr) -> Expr:
    """The logical rewrites: predicate, projection and filter pushdown."""
    expr = predicates.push_predicates(expr)
    expr = projection.push_projections(expr)
    expr = filters.push_filters(expr)
    return projection.push_projections(expr)


def optimize(expr: Expr, fuse: bool | None = None) -> Expr:
    """The plan that is lowered to tasks: simplified, lowered, shuffles pruned, fused."""
    expr = simplify(expr)
    expr = lowering.lower(expr)
    expr = partitioning.remove_redundant_shuffles(expr)
    expr = partitions.push_partition_selection(expr)
    if fuse if fuse is not None else config.get("dataframe.optimize.fuse", True):
        expr = fusion.fuse(expr)
    return expr


def to_graph(expr: Expr) -> dict:
    """The task graph of an optimized plan: every node's layer, merged."""
    graph: dict = {}
    for e in walk(expr):
        graph.update(e._layer())
    return graph

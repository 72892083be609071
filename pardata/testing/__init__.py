"""Helpers for testing code that uses pardata (graph builders, result matchers)."""
from pardata.testing.graphs import binary_tree_sum, random_dag

__all__ = ["binary_tree_sum", "random_dag"]

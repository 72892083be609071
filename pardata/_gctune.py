"""Garbage-collector settings for the long-running server processes (scheduler, worker).

A busy scheduler or worker allocates a few container objects per task and keeps many of
them alive for a while (task records, the bounded event log, messages in flight). With
Python's default thresholds (700, 10, 10) the collector then runs thousands of times a
second and its full passes walk the whole heap: measured on a scheduler running 20,000
tiny tasks a run, a third of its CPU time. After start-up a server therefore freezes what
it has imported (moved out of the collector's sight for good) and raises the thresholds,
so that collections are rare and mostly find garbage. Reference cycles are still
collected, only later; servers hold no cycle that must be broken promptly.
"""
from __future__ import annotations

import gc

__all__ = ["tune_for_server"]


def tune_for_server(young: int = 50_000, older: int = 20) -> None:
    """Freeze the start-up heap and collect after ``young`` net new container objects
    (``older`` young collections per older one)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, older, older)

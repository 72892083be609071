"""Local schedulers: run a graph inside the calling process (layer 3 of DESIGN.md)."""
from pardata.local.callbacks import Callback
from pardata.local.schedulers import SCHEDULER_ALIASES, WorkerProcessDied, execute, get

__all__ = ["Callback", "SCHEDULER_ALIASES", "WorkerProcessDied", "execute", "get"]

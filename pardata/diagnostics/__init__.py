"""Diagnostics for local computations."""
from pardata.diagnostics.progress import ProgressBar
from pardata.local.callbacks import Callback

__all__ = ["Callback", "ProgressBar"]

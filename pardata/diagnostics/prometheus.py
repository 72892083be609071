"""Writing metrics in the Prometheus text exposition format (version 0.0.4).

The scheduler and every worker serve ``/metrics`` with this. It is a few lines of
string formatting, so no client library is needed::

    >>> text = Exposition()
    >>> text.add("pardata_tasks", "gauge", "Tasks by state.", [({"state": "memory"}, 3)])
    >>> print(text.render(), end="")
    # HELP pardata_tasks Tasks by state.
    # TYPE pardata_tasks gauge
    pardata_tasks{state="memory"} 3

Label values are escaped (backslash, double quote, newline) so that a worker name or a
task prefix cannot break the format; metric and label names are checked.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Mapping

__all__ = ["CONTENT_TYPE", "Exposition", "escape_label_value"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TYPES = ("counter", "gauge", "untyped")


def escape_label_value(value: object) -> str:
    """``a"b\\c`` -> ``a\\"b\\\\c``; newlines become ``\\n``."""
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class Exposition:
    """Metric families, written in the order they were added."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._names: set[str] = set()

    def add(self, name: str, kind: str, help: str, samples: Iterable[tuple[Mapping, float]]) -> None:
        """One metric family: ``samples`` are ``(labels, value)`` pairs."""
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        if kind not in _TYPES:
            raise ValueError(f"invalid metric type {kind!r}")
        if name in self._names:
            raise ValueError(f"metric {name!r} added twice")
        self._names.add(name)
        lines = self._lines
        lines.append(f"# HELP {name} {_escape_help(help)}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if labels:
                for label in labels:
                    if not _LABEL.match(label) or label.startswith("__"):
                        raise ValueError(f"invalid label name {label!r}")
                inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
                lines.append(f"{name}{{{inner}}} {_number(value)}")
            else:
                lines.append(f"{name} {_number(value)}")

    def gauge(self, name: str, help: str, value: float, **labels) -> None:
        """A family with one sample."""
        self.add(name, "gauge", help, [(labels, value)])

    def render(self) -> str:
        return "\n".join(self._lines) + "\n" if self._lines else ""

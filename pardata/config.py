"""Global configuration: one nested dict, filled from layered sources, read by dotted key.

Tuning knobs (chunk sizes, memory thresholds, timeouts) must be settable without code
changes, per machine and per run, and temporarily inside a block. So ``config`` is a
plain nested dict built by :func:`refresh` from these sources, later ones winning:

1. ``defaults`` below (other modules may add theirs with :func:`update_defaults`);
2. YAML files ``~/.config/pardata/*.yaml``, in name order;
3. the YAML file or directory named by the ``PARDATA_CONFIG`` environment variable;
4. environment variables ``PARDATA_SECTION__KEY=value``: ``__`` separates levels and the
   value is read as a Python literal when it is one (``0.5``, ``True``, ``None``), else
   kept as a string.

Keys are canonical with ``-``: ``worker_saturation`` and ``worker-saturation`` name the
same entry, so YAML, environment variables and keyword arguments can each use the
spelling that suits them. :func:`set` changes values in place and, used as a context
manager, puts the previous values back on exit.

Importing this module must stay cheap: PyYAML is imported only when a file is read.
"""

from __future__ import annotations

import ast
import copy
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from pardata._units import format_bytes, parse_bytes, parse_timedelta

__all__ = [
    "config",
    "defaults",
    "get",
    "set",
    "refresh",
    "update",
    "update_defaults",
    "collect",
    "canonical_key",
    "parse_bytes",
    "parse_timedelta",
    "format_bytes",
]

ENV_PREFIX = "PARDATA_"
ENV_CONFIG_PATH = "PARDATA_CONFIG"
#: Variables that are not settings: the cluster secret must never sit in the config,
#: where a printout or a log of it would show it (see ``pardata.security``).
_NOT_SETTINGS = frozenset({ENV_CONFIG_PATH, "PARDATA_AUTH_SECRET"})

defaults: dict[str, Any] = {
    "scheduler": None,
    "num-workers": None,
    "array": {"chunk-size": "128MiB"},
    "optimization": {"fuse": {"active": True}},
    "tokenize": {"ensure-deterministic": False},
    "worker": {
        # Fractions of the worker's memory limit.
        "memory": {"target": 0.6, "spill": 0.7, "pause": 0.8, "terminate": 0.95},
    },
    "distributed": {
        "scheduler": {"worker-saturation": 1.1, "work-stealing": True, "allowed-failures": 3},
        "comm": {"timeouts": {"connect": "30s", "tcp": "30s"}},
    },
}

config: dict[str, Any] = {}

# Reentrant: refresh() and set() may run while a caller already holds it.
_lock = threading.RLock()

_NO_DEFAULT = object()


def canonical_key(key: Any) -> Any:
    """Return ``key`` with ``_`` spelled ``-``; non-string keys pass through."""
    return key.replace("_", "-") if isinstance(key, str) else key


def _canonical_copy(value: Any) -> Any:
    """Deep-copy ``value``, canonicalising the keys of every nested mapping."""
    if isinstance(value, Mapping):
        return {canonical_key(k): _canonical_copy(v) for k, v in value.items()}
    return copy.deepcopy(value)


def update(old: dict, new: Mapping, priority: str = "new") -> dict:
    """Merge ``new`` into ``old`` recursively, in place, and return ``old``.

    With ``priority="new"`` values from ``new`` win; with ``"old"`` they only fill keys
    that ``old`` lacks. Nested dicts merge rather than replace.

    >>> update({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}})
    {'a': {'b': 3, 'c': 2}}
    >>> update({"a": 1}, {"a": 2, "b": 3}, priority="old")
    {'a': 1, 'b': 3}
    """
    if priority not in ("new", "old"):
        raise ValueError(f"priority must be 'new' or 'old', got {priority!r}")
    for key, value in new.items():
        key = canonical_key(key)
        if isinstance(value, Mapping):
            if not isinstance(old.get(key), dict):
                if key in old and priority == "old":
                    continue
                old[key] = {}
            update(old[key], value, priority=priority)
        elif priority == "new" or key not in old:
            old[key] = copy.deepcopy(value)
    return old


def _split(key: str) -> list[str]:
    return [canonical_key(part) for part in key.split(".")]


def get(key: str, default: Any = _NO_DEFAULT, config: dict = config, override_with: Any = None) -> Any:
    """Return the value at dotted ``key``, e.g. ``get("worker.memory.target")``.

    Returns ``override_with`` instead when it is not None, so callers can write
    ``get("scheduler", override_with=scheduler)`` for a keyword that defaults to config.
    Raises KeyError naming the key when it is missing and no ``default`` is given.
    Nested dicts are returned as copies so callers cannot change the config by accident.
    """
    if override_with is not None:
        return override_with
    node: Any = config
    with _lock:
        for depth, part in enumerate(_split(key)):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
                continue
            if default is not _NO_DEFAULT:
                return default
            found = ".".join(key.split(".")[:depth]) or "<top level>"
            raise KeyError(f"config key {key!r} not found (no {part!r} under {found})")
        return copy.deepcopy(node) if isinstance(node, dict) else node


def _flatten(prefix: list[str], value: Any) -> Iterable[tuple[list[str], Any]]:
    """Yield (path, leaf) pairs; a non-empty mapping merges, anything else is a leaf."""
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            yield from _flatten(prefix + _split(k) if isinstance(k, str) else prefix + [k], v)
    else:
        yield prefix, value


class set:  # noqa: N801 - lower case to read like a function at the call site
    """Set config values now; as a context manager, restore the previous ones on exit.

    Accepts a mapping with dotted or nested keys and keyword arguments where ``__``
    stands for a dot::

        set({"worker.memory.target": 0.5})
        set(scheduler="sync", distributed__comm__timeouts__connect="5s")
        with set({"array": {"chunk-size": "1MiB"}}):
            ...

    Nested mappings merge into the existing section (sibling keys are kept). The config
    is process-global, so a block's values are visible to all threads while it runs.
    """

    def __init__(self, arg: Mapping | None = None, config: dict = config, **kwargs: Any):
        self._config = config
        # (path, previous value or _NO_DEFAULT, whether we created a section there).
        self._undo: list[tuple[list, Any, bool]] = []
        items: list[tuple[list, Any]] = []
        for key, value in (arg or {}).items():
            items.extend(_flatten(_split(key), value))
        for key, value in kwargs.items():
            items.extend(_flatten(_split(key.replace("__", ".")), value))
        with _lock:
            for path, value in items:
                self._assign(path, value)

    def _assign(self, path: list, value: Any) -> None:
        node = self._config
        for depth, part in enumerate(path[:-1]):
            if not isinstance(node.get(part), dict):
                self._undo.append((path[: depth + 1], node.get(part, _NO_DEFAULT), True))
                node[part] = {}
            node = node[part]
        last = path[-1]
        self._undo.append((path, node.get(last, _NO_DEFAULT), False))
        node[last] = _canonical_copy(value)

    def __enter__(self) -> dict:
        return self._config

    def __exit__(self, *exc_info: Any) -> None:
        with _lock:
            for path, previous, made_section in reversed(self._undo):
                node = self._config
                for part in path[:-1]:
                    node = node.get(part) if isinstance(node, dict) else None
                if not isinstance(node, dict):
                    continue  # section removed inside the block (e.g. by refresh())
                if previous is _NO_DEFAULT:
                    # A section we created may since hold keys set by an overlapping
                    # block in another thread; drop it only once it is empty.
                    if not (made_section and node.get(path[-1])):
                        node.pop(path[-1], None)
                else:
                    node[path[-1]] = previous
            self._undo.clear()


def _yaml_files(path: str) -> list[str]:
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith((".yaml", ".yml")))
        return [os.path.join(path, n) for n in names]
    return [path] if os.path.isfile(path) else []


def _read_yaml(path: str) -> dict:
    import yaml  # deferred: most processes never have a config file

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise ValueError(f"malformed YAML in pardata config file {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"pardata config file {path} must hold a mapping at the top level, got {type(data).__name__}"
        )
    return data


def _parse_env_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _collect_env(environ: Mapping[str, str]) -> dict:
    result: dict = {}
    for name, text in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in _NOT_SETTINGS:
            continue
        parts = [canonical_key(p.lower()) for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(parts):
            continue  # e.g. "PARDATA_" or "PARDATA_A____B": not a key
        node = result
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = _parse_env_value(text)
    return result


def default_paths(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return the YAML files or directories read by :func:`refresh`, lowest priority first."""
    environ = os.environ if environ is None else environ
    paths = [os.path.join(os.path.expanduser("~"), ".config", "pardata")]
    if environ.get(ENV_CONFIG_PATH):
        paths.append(os.path.expanduser(environ[ENV_CONFIG_PATH]))
    return paths


def collect(paths: list[str] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Return the merged config from YAML ``paths`` and ``environ`` (defaults excluded)."""
    environ = os.environ if environ is None else environ
    result: dict = {}
    for path in default_paths(environ) if paths is None else paths:
        for file in _yaml_files(path):
            update(result, _read_yaml(file))
    return update(result, _collect_env(environ))


def refresh(config: dict = config, paths: list[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Rebuild ``config`` in place from defaults, YAML files and environment variables.

    Values set with :func:`set` are discarded. Raises ValueError naming the file if a
    YAML file is malformed.
    """
    fresh = update(_canonical_copy(defaults), collect(paths, environ))
    with _lock:
        config.clear()
        config.update(fresh)


def update_defaults(new: Mapping, config: dict = config) -> None:
    """Add built-in defaults for another module; values already in ``config`` are kept."""
    with _lock:
        update(defaults, new)
        update(config, new, priority="old")


refresh()

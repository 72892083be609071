"""What this machine offers a cluster: its memory, or its cgroup's limit if lower.

Shared by ``LocalCluster`` (to divide memory among the workers it starts) and the
worker's memory monitor (``--memory-limit auto``), so both agree on one figure.
"""

from __future__ import annotations

import os

__all__ = ["cgroup_memory_limit", "system_memory"]

#: cgroup v1 writes a number near 2**63 for "no limit".
_CGROUP_UNLIMITED = 1 << 60


def cgroup_memory_limit(root: str = "/sys/fs/cgroup") -> int | None:
    """The memory limit of this process's cgroup (v2, else v1), or None if unlimited."""
    for path in (os.path.join(root, "memory.max"), os.path.join(root, "memory", "memory.limit_in_bytes")):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return value if 0 < value < _CGROUP_UNLIMITED else None
    return None


def system_memory(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """The machine's memory, or its cgroup's limit if that is lower."""
    import psutil

    total = psutil.virtual_memory().total
    limit = cgroup_memory_limit(cgroup_root)
    return min(total, limit) if limit else total

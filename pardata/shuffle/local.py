"""The shuffle service of a process that is not a worker: files in a shared directory.

A graph made while a Client was the default holds peer-to-peer shuffle tasks; computed
on a local scheduler instead (``scheduler="sync"``, threads or processes), its tasks find
no worker. They then write each shard to its own file under config
``temporary-directory`` (``pardata-p2p/<shuffle>/<output>/<input>.bin``: a transfer run
twice rewrites the same files), and output ``j`` reads and deletes its folder. Every
process of the local schedulers shares the machine's disk, so this is all they need.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid

from pardata import config
from pardata.shuffle.tasks import ShuffleRun

#: The run of a shuffle on a local scheduler.
LOCAL_RUN = ShuffleRun(0, ("local",))


class LocalShuffleService:
    """``current_service()`` outside a worker (see the module docstring)."""

    address = "local"
    memory_limit = 0

    def _root(self, shuffle_id: str) -> str:
        base = config.get("temporary-directory", None) or tempfile.gettempdir()
        return os.path.join(base, "pardata-p2p", shuffle_id)

    def run_for(self, shuffle_id: str, barrier, npartitions_out: int) -> ShuffleRun:
        return LOCAL_RUN

    def send(self, shuffle_id: str, run: ShuffleRun, i: int, shards: dict) -> None:
        root = self._root(shuffle_id)
        for j, data in shards.items():
            folder = os.path.join(root, str(j))
            os.makedirs(folder, exist_ok=True)
            tmp = os.path.join(folder, f".{i}-{uuid.uuid4().hex[:8]}")
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, os.path.join(folder, f"{i}.bin"))  # whole shards only

    def output_size(self, shuffle_id: str, run: ShuffleRun, j: int) -> tuple:
        return 0, None

    def read(self, shuffle_id: str, run: ShuffleRun, j: int) -> list:
        root = self._root(shuffle_id)
        folder = os.path.join(root, str(j))
        pieces = []
        try:
            names = [n for n in os.listdir(folder) if n.endswith(".bin")]
        except FileNotFoundError:
            return []
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                pieces.append((int(name[:-4]), f.read()))
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.rmdir(root)  # the last reader removes the shuffle's folder
        except OSError:
            pass
        return pieces


local_service = LocalShuffleService()

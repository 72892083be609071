"""What the optimizer may ask of a reader: fewer columns, fewer partitions.

A reader's ``projection`` is ``None`` (every column) or a tuple of the columns to
produce; ``_with_columns`` returns a copy reading only those. ``_select_partitions``
returns a copy producing only some of its partitions (what ``head`` and
``partitions[...]`` use).
"""
from __future__ import annotations

from pardata.dataframe.blockwise import Blockwise


class BlockwiseIO(Blockwise):
    """A reader: partition ``i`` is made from nothing but the node's own operands."""

    def _args(self):
        return []

    def children(self):
        return []

    @property
    def _is_broadcast(self):  # type: ignore[override]
        return False

    def _with_columns(self, columns) -> "BlockwiseIO":
        return self.replace(projection=tuple(columns))

    def _select_partitions(self, indices: tuple) -> "BlockwiseIO":
        raise NotImplementedError(type(self).__name__)

    def _total_bytes(self) -> int | None:
        """The reader's size with all its columns (override where known)."""
        return None

    @property
    def _estimated_bytes(self):
        # all columns, whatever the projection: see Blockwise._estimated_bytes
        return self._total_bytes()

    def _project_meta(self, meta):
        """``meta`` narrowed to the projected columns, in the order they are stored."""
        if self.projection is None or not hasattr(meta, "columns"):
            return meta
        keep = set(self.projection)
        return meta[[c for c in meta.columns if c in keep]]

"""``import pardata.bag as pdb``: parallel lists of Python objects (records, log lines...).

Modules, bottom to top: ``layers`` (the high-level graph a Bag holds and the
``PartitionOp`` marker), ``elements`` (element-wise steps), ``reductions`` (tree
reductions), ``shuffle`` (groupby), ``text`` (file blocks in, text files out),
``optimize`` (one task per partition for element-wise chains), ``core`` (``Bag`` and
``Item``), ``creation`` (``from_sequence``, ``range``, ``read_text``, ``from_delayed``).
"""
from pardata.bag.core import Bag, Item
from pardata.bag.creation import from_delayed, from_sequence, range, read_text

__all__ = ["Bag", "Item", "from_delayed", "from_sequence", "range", "read_text"]

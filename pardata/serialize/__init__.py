"""Serialization of Python objects to a header plus zero-copy frames.

``dumps``/``loads`` are the low-level pair; ``serialize``/``deserialize`` wrap
the result in a ``Serialized`` payload that the comm layer can carry as an
opaque message field. This package imports only the standard library (and
cloudpickle lazily), so importing it never pulls in NumPy or pandas.
"""

from .payload import Serialized, deserialize, serialize
from .pickling import DeserializationError, SerializationError, dumps, loads

__all__ = [
    "DeserializationError",
    "SerializationError",
    "Serialized",
    "deserialize",
    "dumps",
    "loads",
    "serialize",
]

"""dumps/loads and the Serialized payload helpers."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pardata.serialize import (
    DeserializationError,
    SerializationError,
    Serialized,
    deserialize,
    dumps,
    loads,
    serialize,
)

pytestmark = pytest.mark.timeout(60)


def wire(frames):
    """Frames as a socket delivers them: fresh bytearrays."""
    return [bytearray(memoryview(f)) for f in frames]


@given(st.recursive(st.none() | st.integers() | st.text() | st.binary() | st.floats(allow_nan=False),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=10))
def test_plain_objects_round_trip(obj):
    header, frames = dumps(obj)
    assert loads(header, wire(frames)) == obj


def test_plain_pickle_is_preferred():
    assert dumps([1, "a", {"b": 2.5}])[0] == {"serializer": "pickle"}


def test_numpy_buffers_are_out_of_band_and_not_copied():
    x = np.arange(1_000_000, dtype="f8").reshape(1000, 1000)
    header, frames = dumps(x)
    assert len(frames) == 2 and len(frames[0]) < 1000  # small pickle stream + one buffer
    assert np.shares_memory(np.frombuffer(frames[1], dtype="u1"), x)
    received = wire(frames)
    y = loads(header, received)
    assert np.array_equal(x, y) and y.flags.writeable
    assert np.shares_memory(y, np.frombuffer(received[1], dtype="u1"))  # no copy on load


def test_fortran_ordered_and_strided_arrays_round_trip():
    f = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    strided = np.arange(100)[::3]
    for x in (f, strided):
        header, frames = dumps(x)
        y = loads(header, wire(frames))
        assert np.array_equal(x, y)
    assert loads(*_wire_dump(f)).flags.f_contiguous


def _wire_dump(x):
    header, frames = dumps(x)
    return header, wire(frames)


def test_read_only_frames_give_writable_arrays():
    x = np.arange(10)
    header, frames = dumps(x)
    y = loads(header, [bytes(memoryview(f)) for f in frames])
    y[0] = 42  # would raise if the array were backed by immutable bytes


def test_dataframe_round_trips_with_blocks_out_of_band():
    df = pd.DataFrame({"i": np.arange(10_000), "f": np.linspace(0, 1, 10_000), "s": ["a", "b"] * 5000})
    header, frames = dumps(df)
    assert len(frames) > 2
    biggest = max(memoryview(f).nbytes for f in frames[1:])
    assert biggest >= 80_000  # the int64/float64 columns are not in the pickle stream
    pd.testing.assert_frame_equal(loads(header, wire(frames)), df)


def test_lambdas_and_local_functions_fall_back_to_cloudpickle():
    offset = 10

    def local(x):
        return x + offset

    for fn in (lambda x: x * 2, local):
        header, frames = dumps(fn)
        assert header["serializer"] == "cloudpickle"
        assert loads(header, wire(frames))(3) == fn(3)


def test_main_module_functions_are_pickled_by_value():
    code = (
        "from pardata.serialize import dumps\n"
        "def f(x): return x + 1\n"
        "h, frames = dumps(f)\n"
        "import sys; sys.stdout.buffer.write(h['serializer'].encode() + b' ' + bytes(frames[0]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=60).stdout
    serializer, _, stream = out.partition(b" ")
    assert serializer == b"cloudpickle"
    assert loads({"serializer": "cloudpickle"}, [stream])(1) == 2


class Holder:
    def __init__(self):
        self.lock = threading.Lock()


def test_unpicklable_object_names_type_and_cause():
    with pytest.raises(SerializationError) as info:
        dumps(Holder())
    message = str(info.value)
    assert "test_serialize_pickling.Holder" in message or "Holder" in message
    assert "_thread.lock" in message
    assert info.value.__cause__ is not None
    assert isinstance(info.value, TypeError)  # like pickle's own error


def test_unpicklable_builtin_names_its_type():
    with pytest.raises(SerializationError, match="generator"):
        dumps(x for x in range(3))


@pytest.mark.parametrize(
    "header, frames, match",
    [
        ({"serializer": "eval"}, [b"1"], "unknown serializer"),
        ({}, [b"1"], "unknown serializer"),
        ({"serializer": "pickle"}, [], "no frames"),
        ({"serializer": "pickle"}, [b"not a pickle"], "cannot deserialize"),
    ],
)
def test_bad_payloads_raise_deserialization_error(header, frames, match):
    with pytest.raises(DeserializationError, match=match):
        loads(header, frames)


def test_serialized_payload_helpers():
    payload = serialize({"x": np.arange(5000)})
    assert isinstance(payload, Serialized)
    assert payload.nbytes >= 40_000
    copy = Serialized(dict(payload.header), wire(payload.frames))
    assert copy == payload and "frames" in repr(payload)
    assert np.array_equal(deserialize(copy)["x"], np.arange(5000))
    assert payload != Serialized(payload.header, [b"other"])


def test_importing_serialize_does_not_import_numpy_or_pandas():
    code = "import sys, pardata.serialize; print(sorted(m for m in ('numpy', 'pandas', 'cloudpickle') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"

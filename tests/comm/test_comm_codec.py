"""The message registry and the codec, without any network."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pardata.comm import (
    Batch,
    Error,
    Heartbeat,
    Message,
    ProtocolError,
    decode,
    encode,
    message,
    registry,
)
from pardata.comm import messages as m
from pardata.comm import schema
from pardata.comm.schema import OUT_OF_BAND_BYTES
from pardata.serialize import Serialized, deserialize, serialize

pytestmark = pytest.mark.timeout(60)

# --- hypothesis strategies derived from each message's annotations ----------

plain_data = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5)
    | st.floats(allow_nan=False) | st.binary(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)

blobs = st.sampled_from([b"", b"small", bytes(range(256)) * 300, bytearray(OUT_OF_BAND_BYTES)])
payloads = st.sampled_from([None, 1, "text", [1, 2.5], np.arange(5000), {"k": b"v"}]).map(serialize)


def non_nesting_messages() -> list[type[Message]]:
    return [cls for cls in registry().values() if not cls._spec.nests]


def strategy_for(tp: Any) -> st.SearchStrategy:
    if tp is int:
        return st.integers(-(2**63), 2**63 - 1)
    if tp is float:
        return st.floats(allow_nan=False)
    if tp is str:
        return st.text(max_size=10)
    if tp is bool:
        return st.booleans()
    if tp is type(None):
        return st.none()
    if tp is bytes:
        return blobs
    if tp is Any:
        return plain_data
    if tp is Serialized:
        return payloads
    if isinstance(tp, type) and issubclass(tp, Message):
        choices = [c for c in non_nesting_messages() if issubclass(c, tp)]
        return st.sampled_from(choices).flatmap(strategy_for_message)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return st.one_of([strategy_for(a) for a in args])
    if origin is list:
        return st.lists(strategy_for(args[0]), max_size=3)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
    if origin is tuple:
        return st.tuples(*map(strategy_for, args))
    if origin is dict:
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), max_size=3)
    raise AssertionError(f"no strategy for field type {tp!r}: teach this test about it")


def strategy_for_message(cls: type[Message]) -> st.SearchStrategy:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(cls)})


# --- every registered message round-trips ----------------------------------


@pytest.mark.parametrize("op", sorted(registry()))
@given(data=st.data())
def test_every_registered_message_round_trips(op, data):
    cls = registry()[op]
    msg = data.draw(strategy_for_message(cls))
    frames = encode(msg)
    assert decode(frames) == msg
    # the receiving side gets frames as bytes/bytearray from the socket
    assert decode([bytes(memoryview(f)) for f in frames]) == msg


@pytest.mark.parametrize("op", sorted(registry()))
def test_every_message_is_documented_and_frozen(op):
    cls = registry()[op]
    assert cls.op == op
    assert cls.__doc__ and cls.__doc__.strip(), f"{cls.__name__} needs a docstring saying why"
    assert dataclasses.is_dataclass(cls)
    msg = object.__new__(cls)
    for name in [f.name for f in dataclasses.fields(cls)][:1] + ["other"]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(msg, name, 1)


def test_large_bytes_and_payload_frames_travel_out_of_band():
    array = np.arange(100_000)
    msg = Error(reason="boom", exception=serialize(array))
    frames = encode(msg)
    assert len(frames) == 2  # header + the array's buffer; the pickle stream is inline
    assert np.shares_memory(np.frombuffer(frames[1], dtype=array.dtype), array)
    out = decode([frames[0], bytearray(frames[1])])
    assert np.array_equal(deserialize(out.exception), array)


def test_payloads_stay_opaque_when_decoded():
    class Boom:
        def __reduce__(self):
            return (_explode, ())

    msg = Error(reason="x", exception=serialize([Boom()]))
    out = decode(encode(msg))  # decoding never unpickles
    assert isinstance(out.exception, Serialized)
    with pytest.raises(Exception, match="unpickled"):
        deserialize(out.exception)


def _explode():
    raise RuntimeError("unpickled!")


# --- invalid input ----------------------------------------------------------


def header(obj) -> list:
    return [msgpack.packb(obj)]


BAD_HEADERS = {
    "not-a-map": (header([1, 2]), "must be a map"),
    "no-op": (header({"time": 1.0}), "no string 'op'"),
    "unknown-op": (header({"op": "launch-missiles"}), "unknown op 'launch-missiles'"),
    "missing-field": (header({"op": "heartbeat"}), "missing required field 'time'"),
    "wrong-type": (header({"op": "heartbeat", "time": "noon"}), "heartbeat.time: expected float, got str"),
    "bool-is-not-int": (header({"op": "handshake", "protocol": True}), "expected int, got bool"),
    "unknown-field": (header({"op": "heartbeat", "time": 1.0, "x": 1}), "unknown field(s) 'x'"),
    "nested-wrong-type": (
        header({"op": "batch", "messages": [{"op": "heartbeat", "time": 1.0}, {"op": "heartbeat", "time": []}]}),
        "batch.messages[1].time: expected float",
    ),
    "nested-batch": (
        header({"op": "batch", "messages": [{"op": "batch", "messages": []}]}),
        "cannot be nested",
    ),
    "deep-msgpack": ([b"\x91" * 100_000 + b"\xc0"], "undecodable"),
    "garbage": ([b"\xc1\xff\x00"], "undecodable"),
    "bad-utf8": ([b"\x81\xa2op\xa2\xff\xfe"], "undecodable"),
    "dangling-frame-ref": (
        [msgpack.packb({"op": "handshake", "protocol": 1, "auth": msgpack.ExtType(1, (5).to_bytes(4, "little"))})],
        "reference to frame 5",
    ),
    "unknown-ext": ([msgpack.packb({"op": "handshake", "protocol": 1, "auth": msgpack.ExtType(9, b"")})], "extension"),
    "unreferenced-frame": (header({"op": "heartbeat", "time": 1.0}) + [b"extra"], "refers to frames"),
    "no-frames": ([], "at least one frame"),
}


def _deep_payload_header() -> list:
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    return header({"op": "error", "reason": "", "exception": [deep, []]})


BAD_HEADERS["deep-payload-header"] = (_deep_payload_header(), "nested deeper than")


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_invalid_messages_raise_protocol_error_with_reason(case):
    frames, reason = BAD_HEADERS[case]
    with pytest.raises(ProtocolError) as info:
        decode(frames)
    assert reason in str(info.value)


def test_encode_rejects_values_that_do_not_fit_their_schema():
    with pytest.raises(ProtocolError, match="batch.messages"):
        encode(Batch(messages=[object()]))
    with pytest.raises(ProtocolError, match="not a registered message"):
        encode(object())


# --- declaring messages -----------------------------------------------------


def test_declaring_a_message_is_a_few_lines_and_checked():
    @message("test-codec-example")
    class Example(Message):
        """A message declared by a test."""

        key: tuple[str, int]
        sizes: dict[str, int]
        note: str | None = None

    try:
        msg = Example(key=("x", 1), sizes={"a": 1})
        assert decode(encode(msg)) == msg
        with pytest.raises(ValueError, match="already registered"):
            message("test-codec-example")(type("Again", (Message,), {"__annotations__": {}}))
    finally:
        schema._REGISTRY.pop("test-codec-example")


@pytest.mark.parametrize(
    "annotations, error",
    [({"op": int}, "reserved"), ({"x": set}, "unsupported"), ({"x": dict[float, int]}, "unsupported")],
)
def test_bad_declarations_fail_at_import_time(annotations, error):
    cls = type("Bad", (Message,), {"__annotations__": annotations})
    with pytest.raises(TypeError, match=error):
        message("test-codec-bad")(cls)
    assert "test-codec-bad" not in registry()


def test_heartbeat_accepts_int_time_as_float():
    out = decode(header({"op": "heartbeat", "time": 3}))
    assert out == Heartbeat(time=3.0) and type(out.time) is float


# --- batches travel in columns ----------------------------------------------------


def test_a_batch_sends_runs_of_one_type_as_columns_and_keeps_order():
    from pardata.comm.messages import KeyInMemory, TaskDone

    msgs = [TaskDone(key=f"inc-{i}", attempt=i, nbytes=28, type_name="int", start=1.0, stop=2.0) for i in range(50)]
    msgs += [Heartbeat(time=5.0)]
    msgs += [KeyInMemory(key=("x", i), nbytes=i, who_has=["tcp://a:1"]) for i in range(3)]
    msgs += [Error(reason="r", exception=serialize(np.arange(10_000)))] * 2
    frames = encode(Batch(messages=msgs))
    runs = msgpack.unpackb(frames[0], strict_map_key=False)["messages"]
    assert [run[:2] for run in runs] == [["task-done", 50], ["heartbeat", 1], ["key-in-memory", 3], ["error", 2]]
    assert runs[0][2] == [f"inc-{i}" for i in range(50)]  # a column of keys
    assert len(frames) == 3  # each array buffer out of band
    out = decode(frames)
    assert out == Batch(messages=msgs)
    assert out.messages[51].key == ("x", 0) and type(out.messages[0].start) is float


def test_a_batch_may_mix_single_messages_and_runs():
    data = {"op": "batch", "messages": [["heartbeat", 2, [1.0, 2]], {"op": "heartbeat", "time": 3.0}]}
    assert decode(header(data)).messages == [Heartbeat(time=1.0), Heartbeat(time=2.0), Heartbeat(time=3.0)]


BAD_RUNS = {
    "count-mismatch": ([["heartbeat", 3, [1.0, 2.0]]], "expected a column of 3 values"),
    "missing-column": ([["heartbeat", 1]], "has 0 columns, expected 1"),
    "zero-count": ([["heartbeat", 0, []]], "declares 0 messages"),
    "unknown-op": ([["launch-missiles", 1, [1]]], "unknown op 'launch-missiles'"),
    "nested-batch": ([["batch", 1, [[]]]], "cannot be nested"),
    "bad-value": ([["heartbeat", 2, [1.0, "noon"]]], "batch.messages[0].heartbeat.time[1]: expected float, got str"),
    "not-a-run": ([7], "expected a message or a run"),
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_malformed_runs_raise_protocol_error_with_reason(case):
    runs, reason = BAD_RUNS[case]
    with pytest.raises(ProtocolError) as info:
        decode(header({"op": "batch", "messages": runs}))
    assert reason in str(info.value)


def test_message_classes_behave_as_frozen_keyword_only_dataclasses():
    a = Error(reason="boom")
    assert a == Error(reason="boom", exception=None, traceback="") and a != Error(reason="other")
    assert hash(a) == hash(Error(reason="boom")) and a != Heartbeat(time=1.0)
    assert repr(a) == "Error(reason='boom', exception=None, traceback='')"
    assert dataclasses.replace(a, reason="x") == Error(reason="x")
    assert [f.name for f in dataclasses.fields(Error)] == ["reason", "exception", "traceback"]
    with pytest.raises(TypeError):
        Error("boom")  # keyword-only
    with pytest.raises(TypeError, match="reason"):
        Error()
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.reason = "changed"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del a.reason
    first, second = (m.RegisterWorker(address="a", name="n", nthreads=1),
                     m.RegisterWorker(address="b", name="m", nthreads=2))
    assert first.keys == [] and first.keys is not second.keys  # a fresh default per message

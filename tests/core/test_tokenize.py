"""Tests for pardata.core.tokenize: equal content -> equal token, anything else differs."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import json
import math
import operator
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
from collections import OrderedDict, defaultdict, namedtuple

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pardata.config
import pardata.core.tokenize as tokenize_module
from pardata.core.tokenize import TokenizeError, normalize_token, tokenize


def same(a, b):
    assert tokenize(a) == tokenize(b), (a, b)


def differ(*values):
    tokens = [tokenize(v) for v in values]
    assert len(set(tokens)) == len(tokens), values


def test_token_is_32_hex_chars():
    token = tokenize(1, "a")
    assert len(token) == 32 and int(token, 16) >= 0
    assert tokenize() == tokenize()


def test_normalized_forms_cannot_be_spoofed_by_data():
    for value in [(1,), [1], {"a": 1}, ..., np.arange(3), os.path.join]:
        differ(value, normalize_token(value))
    loop = [1]
    loop.append(loop)
    differ(loop, [1, ("<cycle>", 1)])


# --- builtins ---------------------------------------------------------------------------------

def test_primitives():
    same(None, None)
    same(1.5, 1.5)
    same(float("nan"), float("nan"))
    same(float("nan"), -float("nan"))
    same(complex(1, float("nan")), complex(1, float("nan")))
    differ(None, False, True, 0, 1, 0.0, -0.0, 1.0, "1", b"1", 0j, -0j, float("inf"), float("nan"))
    differ(1 + 2j, 1 - 2j, 2 + 1j)
    differ("a", "b", "a\x00", "é", "\ud800")


def test_big_ints():
    same(10**5000, 10**5000)
    differ(10**5000, 10**5000 + 1, -(10**5000), {10**5000}, str(10**400))
    same({10**5000, "x"}, {"x", 10**5000})


def test_subclasses_of_primitives_use_their_value_not_their_repr():
    class Loud(int):
        def __repr__(self):
            return f"Loud at {id(self)}"

    same(Loud(3), Loud(3))
    differ(Loud(3), Loud(4), 3)


def test_bytes_like():
    same(b"abc", b"abc")
    same(bytearray(b"abc"), bytearray(b"abc"))
    differ(b"abc", bytearray(b"abc"), memoryview(b"abc"), "abc", b"abd")
    big = os.urandom(100_000)
    same(big, bytes(big))
    differ(big, big[:-1] + bytes([big[-1] ^ 1]))
    same(memoryview(b"abcd"), memoryview(bytearray(b"abcd")))
    m = memoryview(np.arange(12, dtype="i4").reshape(3, 4))
    same(m, memoryview(np.arange(12, dtype="i4").reshape(3, 4)))
    differ(m, m.cast("B"), m[::2], memoryview(np.arange(12, dtype="f4").reshape(3, 4)))
    same(m[::2], memoryview(np.arange(12, dtype="i4").reshape(3, 4)[::2].copy()))


def test_containers_type_matters():
    differ((1,), [1], {1}, frozenset({1}), {1: None}, 1, (1, 2), (2, 1), ((1,),), [[1]])
    differ([], (), set(), frozenset(), {}, OrderedDict(), "")
    Point = namedtuple("Point", "x y")
    differ(Point(1, 2), (1, 2))
    same(Point(1, 2), Point(1, 2))


def test_dict_and_set_order_independent():
    same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    same({3: "x", 1: "y"}, {1: "y", 3: "x"})
    mixed = [(1, "a"), ("1", "b"), ((1, 2), "c"), (None, "d"), (2.5, "e"), (frozenset({1}), "f")]
    same(dict(mixed), dict(reversed(mixed)))
    differ({"a": 1}, {"a": 2}, {"b": 1}, {"a": 1, "b": 2})
    words = [f"w{i}" for i in range(200)]
    same(set(words), set(reversed(words)))
    same(frozenset(words), frozenset(reversed(words)))
    same({1.5, float("nan"), -0.0, "x", (1,)}, {(1,), "x", -0.0, float("nan"), 1.5})
    differ({0.0}, {-0.0})
    differ({1, 2}, {1, 3}, {1, 2, 3})
    same({"s": {"x", "y"}}, {"s": {"y", "x"}})


def test_ordered_and_default_dicts():
    differ(OrderedDict(a=1, b=2), OrderedDict(b=2, a=1), {"a": 1, "b": 2})
    same(OrderedDict(a=1, b=2), OrderedDict(a=1, b=2))
    same(defaultdict(list, a=[1]), defaultdict(list, a=[1]))
    differ(defaultdict(list, a=[1]), defaultdict(set, a=[1]), {"a": [1]})


def test_kwargs():
    assert tokenize(1, x=1, y=2) == tokenize(1, y=2, x=1)
    assert tokenize(1, x=1) != tokenize(1, x=2) != tokenize(1, y=1)
    assert tokenize(1, 2) != tokenize((1, 2)) != tokenize([1, 2])
    assert tokenize(x=1) != tokenize({"x": 1})


def test_self_referencing_containers():
    a = [1]
    a.append(a)
    b = [1]
    b.append(b)
    same(a, b)
    differ(a, [1, [1]], [2, a])
    d = {"k": 1}
    d["self"] = d
    same(d, d)
    differ(d, {"k": 1, "self": {}})
    # Two lists referencing each other.
    x, y = [1], [2]
    x.append(y)
    y.append(x)
    same(x, x)
    differ(x, y)
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = obj, "z"
    same(obj, obj)


def test_shared_references_are_expanded_not_cycles():
    shared = [1, 2]
    same([shared, shared], [[1, 2], [1, 2]])
    same({"a": shared, "b": shared}, {"b": [1, 2], "a": [1, 2]})


def test_range_slice_ellipsis():
    same(range(10), range(10))
    differ(range(10), range(1, 10), range(0, 10, 2), (0, 10, 1), list(range(10)))
    same(slice(1, None, 2), slice(1, None, 2))
    differ(slice(1, None, 2), slice(1, 2), slice(None), (1, None, 2))
    same(..., ...)
    differ(..., None, NotImplemented, "...")


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(str, enum.Enum):
    READ = "r"
    WRITE = "w"


def test_types_and_enums():
    same(int, int)
    differ(int, float, str, dict, Color, Level, type, object, "builtins.int")
    same(Color.RED, Color.RED)
    differ(Color.RED, Color.GREEN, Level.LOW, Level.HIGH, 1, Mode.READ, "r")


def test_datetimes():
    dt = datetime.datetime(2024, 3, 1, 12, 30, 5, 123)
    same(dt, datetime.datetime(2024, 3, 1, 12, 30, 5, 123))
    utc = dt.replace(tzinfo=datetime.timezone.utc)
    plus1 = dt.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    differ(dt, utc, plus1, dt.replace(microsecond=124), dt.replace(fold=1), dt.date(), dt.time())
    same(datetime.date(2024, 3, 1), datetime.date(2024, 3, 1))
    differ(datetime.date(2024, 3, 1), datetime.date(2024, 3, 2))
    same(datetime.timedelta(days=1, seconds=3), datetime.timedelta(seconds=86403))
    differ(datetime.timedelta(1), datetime.timedelta(2), datetime.timedelta(0, 1))


def test_decimal_and_paths():
    same(decimal.Decimal("1.10"), decimal.Decimal("1.10"))
    differ(decimal.Decimal("1.1"), decimal.Decimal("1.10"), decimal.Decimal("-0"),
           decimal.Decimal("0"), decimal.Decimal("NaN"), "1.1", 1.1)
    same(pathlib.Path("/a/b"), pathlib.Path("/a") / "b")
    differ(pathlib.Path("/a/b"), pathlib.PurePosixPath("/a/b"), pathlib.PureWindowsPath("/a/b"),
           "/a/b", pathlib.Path("/a/c"))


@dataclasses.dataclass
class Config:
    name: str
    sizes: list
    extra: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Other:
    name: str
    sizes: list
    extra: dict = dataclasses.field(default_factory=dict)


def test_dataclasses_by_fields():
    same(Config("a", [1]), Config("a", [1]))
    same(Config("a", [1], {"x": 1, "y": 2}), Config("a", [1], {"y": 2, "x": 1}))
    differ(Config("a", [1]), Config("b", [1]), Config("a", [2]), Other("a", [1]))
    c = Config("loop", [])
    c.sizes.append(c)
    same(c, c)


# --- NumPy ------------------------------------------------------------------------------------

def test_numpy_arrays():
    x = np.arange(12, dtype="i8").reshape(3, 4)
    same(x, x.copy())
    differ(x, x.astype("i4"), x.astype("f8"), x.reshape(4, 3), x.ravel(), x + 1, x.astype(">i8"))
    same(x[:, ::2], x[:, ::2].copy())
    same(np.asfortranarray(x), x)
    same(x.T, np.ascontiguousarray(x.T))
    differ(x.T, x)
    same(np.array(5), np.array(5))
    differ(np.array(5), np.array([5]), np.int64(5), 5, np.array(5.0))
    same(np.zeros((0, 3)), np.zeros((0, 3)))
    differ(np.zeros((0, 3)), np.zeros((3, 0)), np.zeros(0))
    differ(np.array([0.0]), np.array([-0.0]))
    same(np.array(["2020-01-01"], "M8[D]"), np.array(["2020-01-01"], "M8[D]"))
    differ(np.array(["2020-01-01"], "M8[D]"), np.array(["2020-01-01"], "M8[s]"))
    differ(np.array(["ab"]), np.array([b"ab"]), np.array(["ab"], dtype="U3"))


def test_numpy_large_noncontiguous_is_hashed_in_chunks(monkeypatch):
    x = np.random.default_rng(0).random((64, 50))
    view = x[:, ::3]
    expected = tokenize(np.ascontiguousarray(view))
    monkeypatch.setattr(tokenize_module, "_COPY_CHUNK", 1000)
    assert tokenize(view) == expected
    assert tokenize(np.asfortranarray(x)) == tokenize(x)


def test_numpy_object_and_string_arrays():
    a = np.array(["x", 1, None, (1, 2)], dtype=object)
    same(a, np.array(["x", 1, None, (1, 2)], dtype=object))
    differ(a, np.array(["x", 1, None, (1, 3)], dtype=object),
           np.array(["x", 1, None], dtype=object))
    differ(np.array([{"a"}], dtype=object), np.array([{"b"}], dtype=object))
    b = np.array(["a", "bc"], dtype=np.dtypes.StringDType())
    same(b, np.array(["a", "bc"], dtype=np.dtypes.StringDType()))
    differ(b, np.array(["a", "bd"], dtype=np.dtypes.StringDType()), np.array(["a", "bc"]))


def test_numpy_structured():
    dt1 = np.dtype([("a", "i4"), ("b", "f8")])
    dt2 = np.dtype([("a", "i4"), ("c", "f8")])
    x = np.zeros(3, dtype=dt1)
    same(x, np.zeros(3, dtype=dt1))
    aligned = np.dtype([("a", "i4"), ("b", "f8")], align=True)
    differ(x, np.zeros(3, dtype=dt2), np.zeros(3, dtype=aligned))
    same(dt1, np.dtype([("a", "<i4"), ("b", "<f8")]))
    differ(dt1, dt2)
    with_obj = np.array([(1, "x")], dtype=[("a", "i4"), ("o", "O")])
    same(with_obj, np.array([(1, "x")], dtype=[("a", "i4"), ("o", "O")]))
    differ(with_obj, np.array([(1, "y")], dtype=[("a", "i4"), ("o", "O")]))
    differ(x[0], np.zeros(3, dtype=dt2)[0])


def test_numpy_scalars_and_dtypes():
    same(np.float64(1.5), np.float64(1.5))
    differ(np.float64(1.5), np.float32(1.5), 1.5, np.float64(2.5), np.array(1.5))
    differ(np.int64(1), np.int32(1), np.uint64(1), np.bool_(True), True, 1)
    differ(np.str_("a"), "a", np.bytes_(b"a"))
    differ(np.datetime64("2020-01-01"), np.datetime64("2020-01-01", "s"))
    same(np.dtype("f8"), np.dtype(np.float64))
    differ(np.dtype("f8"), np.dtype("f4"), np.dtype(">f8"), np.dtype("M8[ns]"), np.dtype("M8[s]"))


def test_numpy_subclasses():
    m = np.ma.array([1, 2, 3], mask=[0, 1, 0])
    same(m, np.ma.array([1, 2, 3], mask=[0, 1, 0]))
    differ(m, np.ma.array([1, 2, 3], mask=[1, 0, 0]), np.array([1, 2, 3]))

    class Tagged(np.ndarray):
        pass

    t1 = np.arange(3).view(Tagged)
    t1.unit = "m"
    t2 = np.arange(3).view(Tagged)
    t2.unit = "km"
    differ(t1, t2, np.arange(3))


# --- pandas -----------------------------------------------------------------------------------

def make_frame():
    return pd.DataFrame(
        {"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, np.nan, 1.5]},
        index=pd.Index([10, 20, 30], name="i"),
    )


def test_pandas_dataframe():
    df = make_frame()
    same(df, make_frame())
    differ(
        df,
        df.rename(columns={"a": "A"}),
        df.rename_axis("j"),
        df.astype({"a": "f8"}),
        df.assign(a=[1, 2, 4]),
        df.set_axis([10, 20, 31]),
        df[["b", "a", "c"]],
        df.T,
    )
    same(df[["a"]], pd.DataFrame({"a": [1, 2, 3]}, index=pd.Index([10, 20, 30], name="i")))


def test_pandas_series_and_index():
    s = pd.Series([1.0, 2.0], index=["a", "b"], name="s")
    same(s, pd.Series([1.0, 2.0], index=["a", "b"], name="s"))
    differ(s, s.rename("t"), s.astype("f4"), s.set_axis(["a", "c"]), s.to_frame(), s.values)
    same(pd.Index([1, 2], name="n"), pd.Index([1, 2], name="n"))
    differ(pd.Index([1, 2], name="n"), pd.Index([1, 2], name="m"), pd.Index([1, 3], name="n"),
           pd.Index([1.0, 2.0], name="n"))
    same(pd.RangeIndex(5), pd.RangeIndex(5))
    differ(pd.RangeIndex(5), pd.RangeIndex(6), pd.RangeIndex(5, name="r"), pd.Index(list(range(5))))
    mi = pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["x", "y"])
    same(mi, pd.MultiIndex.from_tuples([(1, "a"), (2, "b")], names=["x", "y"]))
    differ(mi, mi.set_names(["x", "z"]),
           pd.MultiIndex.from_tuples([(1, "a"), (2, "c")], names=["x", "y"]))


def test_pandas_extension_types():
    cat = pd.Categorical(["a", "b", "a"], categories=["a", "b"])
    same(cat, pd.Categorical(["a", "b", "a"], categories=["a", "b"]))
    differ(cat, pd.Categorical(["a", "b", "a"], categories=["b", "a"]),
           pd.Categorical(["a", "b", "a"], categories=["a", "b"], ordered=True),
           pd.Categorical(["a", "b", "b"], categories=["a", "b"]))
    differ(pd.Series(cat), pd.Series(["a", "b", "a"]))
    nullable = pd.array([1, None, 3], dtype="Int64")
    same(nullable, pd.array([1, None, 3], dtype="Int64"))
    differ(nullable, pd.array([1, 2, 3], dtype="Int64"), pd.array([1, None, 3], dtype="Int32"))
    tz = pd.Series(pd.date_range("2024-01-01", periods=3, tz="UTC"))
    same(tz, pd.Series(pd.date_range("2024-01-01", periods=3, tz="UTC")))
    differ(tz, pd.Series(pd.date_range("2024-01-01", periods=3, tz="Europe/Paris")),
           pd.Series(pd.date_range("2024-01-01", periods=3)))


def test_pandas_scalars():
    ts = pd.Timestamp("2024-01-01 00:00:00.000000001")
    same(ts, pd.Timestamp("2024-01-01 00:00:00.000000001"))
    differ(ts, pd.Timestamp("2024-01-01"), ts.tz_localize("UTC"), ts.tz_localize("Asia/Tokyo"),
           pd.NaT, datetime.datetime(2024, 1, 1))
    same(pd.Timedelta("1s"), pd.Timedelta(seconds=1))
    differ(pd.Timedelta("1s"), pd.Timedelta("1ms"), datetime.timedelta(seconds=1))
    same(pd.NaT, pd.NaT)


# --- functions and callables ------------------------------------------------------------------

def module_function(x):
    return x + 1


def other_module_function(x):
    return x + 1


add_three = lambda x, y=2: x + y * 3  # noqa: E731 - mirrors the child process below


def make_adder(k):
    return lambda x: x + k


def test_module_functions_by_name():
    same(module_function, module_function)
    differ(module_function, other_module_function, os.path.join, operator.add)
    assert normalize_token(os.path.join)[1] == (os.path.join.__module__, "join")


def test_lambdas_by_code_defaults_and_closure():
    same(lambda x: x + 1, lambda x: x + 1)
    differ(lambda x: x + 1, lambda x: x + 2, lambda x: x - 1, lambda y: y + 1, lambda x, z: x + 1)
    differ(lambda x=1: x, lambda x=2: x)
    differ(lambda *, x=1: x, lambda *, x=2: x)
    same(make_adder(1), make_adder(1))
    differ(make_adder(1), make_adder(2), make_adder("1"))
    differ(lambda x: [i for i in x if i > 1], lambda x: [i for i in x if i > 2])
    differ(lambda: (lambda: 1), lambda: (lambda: 2))  # nested code objects


def make_factorial(base):
    def fact(n):
        return base if n <= 1 else n * fact(n - 1)

    return fact


def test_local_functions_and_recursion():
    # The closure of ``fact`` holds ``fact`` itself.
    assert make_factorial(1) is not make_factorial(1)
    same(make_factorial(1), make_factorial(1))
    differ(make_factorial(1), make_factorial(2), lambda n: n)


def test_function_token_survives_specialization():
    f = make_adder(10)
    before = tokenize(f)
    for i in range(2000):
        f(i)
    assert tokenize(f) == before


def test_partial():
    same(functools.partial(operator.add, 1), functools.partial(operator.add, 1))
    differ(functools.partial(operator.add, 1), functools.partial(operator.add, 2),
           functools.partial(operator.mul, 1), functools.partial(operator.add, x=1),
           functools.partial(operator.add, 1, 2), operator.add)
    same(functools.partial(sorted, key=len, reverse=True),
         functools.partial(sorted, reverse=True, key=len))


class Counter:
    def __init__(self, start):
        self.start = start

    def add(self, x):
        return self.start + x

    def __call__(self, x):
        return self.start * x


class Tokenized:
    def __init__(self, value, noise):
        self.value = value
        self.noise = noise

    def __pardata_tokenize__(self):
        return ("v", self.value)


class Unpicklable:
    def __init__(self):
        self.lock = threading.Lock()


def test_builtins_and_methods():
    same(len, len)
    differ(len, sum, max, min, "len")
    same([1, 2].append, [1, 2].append)
    differ([1, 2].append, [1, 3].append, [1, 2].pop, "ab".upper, "ab".lower, dict.fromkeys)
    differ(str.upper, str.lower, bytes.upper, int.__add__, (1).__add__, (2).__add__)
    same(Counter(1).add, Counter(1).add)
    differ(Counter(1).add, Counter(2).add, Counter.add, Counter(1))


def test_callable_objects_by_pickle():
    same(Counter(3), Counter(3))
    differ(Counter(3), Counter(4))
    same(np.add, np.add)
    differ(np.add, np.multiply)


def test_pardata_tokenize_method():
    same(Tokenized(1, noise=object()), Tokenized(1, noise=object()))
    differ(Tokenized(1, None), Tokenized(2, None), ("v", 1))


def test_unpicklable_objects_get_unique_tokens():
    u = Unpicklable()
    assert tokenize(u) != tokenize(u)
    assert tokenize(Unpicklable()) != tokenize(Unpicklable())
    with pardata.config.set({"tokenize.ensure-deterministic": True}):
        with pytest.raises(TokenizeError, match="Unpicklable"):
            tokenize(u)
        assert tokenize(1) == tokenize(1)


def test_register_user_type():
    class Point:
        def __init__(self, x, y):
            self.x, self.y = x, y

    class Point3(Point):
        pass

    @normalize_token.register(Point)
    def _point(p):
        return (p.x, {p.y})  # not yet normalized: the registry normalizes it again

    same(Point(1, "a"), Point(1, "a"))
    differ(Point(1, "a"), Point(1, "b"), Point3(1, "a"), (1, {"a"}))
    assert normalize_token.dispatch(Point3) is normalize_token.dispatch(Point)


def test_register_lazy():
    calls = []

    class Fake:
        pass

    Fake.__module__ = "pardata_fake_pkg.sub"

    @normalize_token.register_lazy("pardata_fake_pkg")
    def _register():
        calls.append(1)
        normalize_token.register(Fake)(lambda obj: "fake")

    assert calls == []
    same(Fake(), Fake())
    assert calls == [1]


def test_importing_does_not_import_pandas_or_numpy():
    path = tokenize_module.__file__
    code = textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("standalone_tokenize", {path!r})
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.tokenize(1, "a", [1.5, {{"k": (None, b"x")}}], mod.tokenize, lambda x: x)
        print(sorted({{"numpy", "pandas"}} & set(sys.modules)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_threads_agree():
    values = [make_frame(), {"a": [1, {2, 3}]}, make_adder(3), np.arange(100)]
    expected = [tokenize(v) for v in values]
    results = []

    def work():
        results.append([tokenize(v) for v in values for _ in range(20)][::20])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


# --- properties and cross-process determinism --------------------------------------------------

primitives = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
              | st.text() | st.binary())
hashables = st.recursive(
    primitives, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=4),
    max_leaves=8,
)
nested = st.recursive(
    hashables,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(hashables, inner, max_size=4)
    | st.sets(hashables, max_size=4),
    max_leaves=20,
)


def rebuild(value):
    """An equal value built from fresh objects, with dicts in reverse insertion order."""
    if isinstance(value, dict):
        return {rebuild(k): rebuild(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [rebuild(v) for v in value]
    if isinstance(value, tuple):
        return tuple(rebuild(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return type(value)(rebuild(v) for v in reversed(list(value)))
    if isinstance(value, str):
        return "".join(list(value))
    if isinstance(value, bytes):
        return bytes(bytearray(value))
    return value


def strict_equal(a, b):
    """Equal with types and float signs taken into account."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return sorted(map(tokenize, a.items())) == sorted(map(tokenize, b.items()))
    if isinstance(a, (set, frozenset)):
        return sorted(map(tokenize, a)) == sorted(map(tokenize, b))
    return a == b


@settings(max_examples=150, deadline=None)
@given(nested)
def test_property_equal_values_equal_tokens(value):
    assert tokenize(value) == tokenize(rebuild(value))


@settings(max_examples=150, deadline=None)
@given(nested, nested)
def test_property_equal_tokens_mean_equal_values(a, b):
    if tokenize(a) == tokenize(b):
        assert strict_equal(a, b)


CHILD_OBJECTS = """
import functools, operator, os
import numpy as np
import pandas as pd

add_three = lambda x, y=2: x + y * 3

def make_adder(k):
    return lambda x: x + k

def objects():
    return {
        "array": np.arange(24, dtype="f8").reshape(4, 6)[:, ::2],
        "frame": pd.DataFrame(
            {"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, np.nan, 1.5]},
            index=pd.Index([10, 20, 30], name="i"),
        ),
        "lambda": add_three,
        "closure": make_adder(5),
        "partial": functools.partial(operator.add, 1, extra=[1, 2]),
        "dict_of_sets": {"s": {"alpha", "beta", "gamma", "delta"}, "f": frozenset({"x", "y", 3})},
        "module_function": os.path.join,
        "mixed": (1, "a", None, 2.5, b"b", {"k": [1, {"z", "y"}]}),
    }
"""


def test_cross_process_determinism():
    namespace: dict = {}
    exec(compile(CHILD_OBJECTS, "<parent>", "exec"), namespace)
    parent = {name: tokenize(obj) for name, obj in namespace["objects"]().items()}
    parent["lambda_module_level"] = tokenize(add_three)

    child_code = CHILD_OBJECTS + textwrap.dedent("""
        import json
        from pardata.core.tokenize import tokenize
        tokens = {name: tokenize(obj) for name, obj in objects().items()}
        tokens["lambda_module_level"] = tokenize(add_three)
        print(json.dumps(tokens))
    """)
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    env = dict(os.environ, PYTHONHASHSEED=seed)
    out = subprocess.run(
        [sys.executable, "-c", child_code], capture_output=True, text=True, env=env, check=True,
        cwd=pathlib.Path(tokenize_module.__file__).parents[2],
    )
    child = json.loads(out.stdout)
    assert child == parent
    assert len(set(parent.values())) == len(parent) - 1  # both lambdas are the same code

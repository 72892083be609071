"""sizeof: NumPy, pandas (object columns sampled), Arrow, containers, registry, laziness."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pardata.sizeof import register_sizeof, sizeof


def close_to(estimate, actual, rel=0.25):
    return abs(estimate - actual) <= rel * actual


def test_importing_sizeof_imports_no_array_library():
    code = (
        "import sys; from pardata.sizeof import sizeof;"
        "sizeof([1, 'a', {'b': b'x'}]);"
        "bad = [m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_numpy_arrays_count_their_bytes():
    a = np.ones((1000, 100))
    assert a.nbytes <= sizeof(a) <= a.nbytes + 1000
    assert close_to(sizeof(a[:, :10].copy()), a.nbytes / 10)


def test_numpy_views_count_their_base_once_per_call():
    a = np.arange(1_000_000, dtype="i8")
    alone = sizeof(a)
    assert alone >= a.nbytes
    assert sizeof([a, a[1:], a[:500_000]]) < alone + 1000
    assert sizeof([a[:10], a]) < alone + 1000  # view first, then the base
    assert sizeof(a[:10]) < 1000  # a view alone counts what it shows


def test_broadcast_views_count_only_real_memory():
    row = np.ones(1000)
    big = np.broadcast_to(row, (100_000, 1000))
    assert sizeof(big) < 2 * row.nbytes


def test_numpy_object_arrays_sample_their_elements():
    a = np.array(["x" * 1000] * 10_000, dtype=object)
    assert sizeof(a) > 10_000 * 1000


def test_dataframe_numeric_and_string_columns():
    n = 100_000
    df = pd.DataFrame({
        "i": np.arange(n),
        "f": np.random.default_rng(0).random(n),
        "o": pd.Series([f"value-{i:08d}-" + "x" * 40 for i in range(n)], dtype=object),
    })
    deep = int(df.memory_usage(deep=True, index=True).sum())
    assert close_to(sizeof(df), deep)
    shallow = int(df.memory_usage(deep=False, index=True).sum())
    assert sizeof(df) > shallow * 2  # the strings behind the object column are counted


def test_series_and_index_with_objects():
    s = pd.Series(["abc" * 100] * 50_000, dtype=object, index=[f"k{i}" for i in range(50_000)])
    assert close_to(sizeof(s), int(s.memory_usage(deep=True, index=True)))
    idx = pd.Index([f"label-{i}" for i in range(20_000)], dtype=object)
    assert close_to(sizeof(idx), idx.memory_usage(deep=True))
    mi = pd.MultiIndex.from_product([range(1000), list("abcdefghij")])
    assert close_to(sizeof(mi), mi.memory_usage(deep=True), rel=0.5)


def test_python_string_dtype_is_sampled():
    s = pd.Series(["y" * 200] * 10_000, dtype=pd.StringDtype("python"))
    assert sizeof(s) > 10_000 * 200


def test_arrow_objects_use_nbytes():
    table = pa.table({"a": np.arange(1_000_000), "b": np.ones(1_000_000)})
    assert close_to(sizeof(table), table.nbytes, rel=0.01)
    assert close_to(sizeof(table.column("a")), 8_000_000, rel=0.01)  # ChunkedArray
    assert close_to(sizeof(pa.array(np.arange(100_000))), 800_000, rel=0.01)  # Int64Array subclass
    assert sizeof(table.to_batches()[0]) >= 16_000_000


def test_containers_are_sampled_and_summed():
    blobs = [b"x" * 10_000 for _ in range(1000)]
    assert close_to(sizeof(blobs), 10_000_000)
    assert close_to(sizeof(tuple(blobs)), 10_000_000)
    assert close_to(sizeof({i: b for i, b in enumerate(blobs)}), 10_000_000)
    assert close_to(sizeof(set(blobs[:1])), 10_000, rel=0.5)
    assert sizeof([np.ones(1000)] * 3) < 2 * 8000  # one array held thrice is held once
    assert sizeof([np.ones(1000) for _ in range(3)]) >= 3 * 8000


def test_deep_nesting_and_cycles_do_not_recurse_forever():
    nested: list = []
    node = nested
    for _ in range(10_000):
        node.append([])
        node = node[0]
    cyclic: list = []
    cyclic.append(cyclic)
    assert sizeof(nested) > 0 and sizeof(cyclic) > 0


def test_large_containers_cost_little_time():
    import time

    big = list(range(5_000_000))
    start = time.perf_counter()
    for _ in range(100):
        sizeof(big)
    assert time.perf_counter() - start < 0.5


def test_registry_by_base_class_and_decorator():
    class Base:
        pass

    class Child(Base):
        pass

    @sizeof.register(Base)
    def _(obj):
        return 12345

    assert sizeof(Child()) == 12345
    register_sizeof(Child, lambda obj: 7)
    assert sizeof(Child()) == 7 and sizeof(Base()) == 12345


def test_broken_objects_never_raise():
    class Broken:
        def __sizeof__(self):
            raise RuntimeError("no")

    class BadNbytes:
        pass

    sizeof.register(BadNbytes, lambda obj: 1 / 0)
    assert sizeof(Broken()) > 0
    assert sizeof(BadNbytes()) > 0


@pytest.mark.parametrize("obj", [1, 1.5, "text", b"bytes", None, True, 3j, bytearray(10)])
def test_atoms(obj):
    assert sizeof(obj) == sys.getsizeof(obj)

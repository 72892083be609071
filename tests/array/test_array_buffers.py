"""The block buffer pool: reuse only after the last array over a buffer is gone."""
import collections
import pickle
import threading

import numpy as np
import pytest

import pardata
import pardata.array as pa
from pardata.array import buffers

MIB = 1 << 20


@pytest.fixture(autouse=True)
def empty_pool():
    buffers.clear()
    yield
    buffers.clear()


def test_a_buffer_returns_to_the_pool_when_its_last_view_dies():
    a = buffers.empty((512, 256), np.float64)  # 1 MiB
    assert a.shape == (512, 256) and a.dtype == np.float64
    assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
    address = a.ctypes.data
    view = a[::2, 3:]
    del a
    assert buffers.idle_bytes() == 0  # the view still uses the memory
    del view
    assert buffers.idle_bytes() == MIB
    b = buffers.empty((256, 256), np.complex128)  # same size: the same memory
    assert b.ctypes.data == address and buffers.idle_bytes() == 0
    b[:] = 1 + 2j
    assert pickle.loads(pickle.dumps(b, protocol=5)).sum() == b.size * (1 + 2j)


def test_limit_small_requests_and_the_off_switch():
    with pardata.config.set({"array.buffer-pool": "1.5MiB"}):
        a, b = buffers.empty((MIB,), np.uint8), buffers.empty((MIB,), np.uint8)
        del a, b
        assert buffers.idle_bytes() == MIB  # the second one did not fit
    assert buffers.empty((10,), np.float64).flags.owndata  # small: plain NumPy
    assert buffers.empty((MIB,), object).flags.owndata
    with pardata.config.set({"array.buffer-pool": 0}):
        assert buffers.empty((MIB,), np.uint8).flags.owndata


def test_live_arrays_never_share_a_buffer_across_threads():
    errors = []

    def work(tid):
        held = collections.deque()
        for i in range(150):
            a = buffers.empty((128, 1024), np.float64)
            a.fill(tid * 1000 + i)
            held.append((a[::3], tid * 1000 + i))  # keep views of some, drop others
            if len(held) > 3:
                held.popleft()
            for view, value in held:
                if not (view == value).all():
                    errors.append((tid, i))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_results_are_the_same_with_and_without_the_pool(scheduler):
    def run():
        x = pa.random.default_rng(4).random((1200, 1200), chunks=600)  # 2.7 MiB blocks
        n = pa.random.default_rng(5).standard_normal((1200, 600), chunks=(600, 600))
        exprs = [x, (x + x.T).mean(axis=0), x[::2, ::3].std(), x.rechunk((1200, 40)).sum(axis=1),
                 x.rechunk((300, 1200)), n.T - 2 * x[:, :600].T]
        return [pardata.compute(e, scheduler=scheduler)[0] for e in exprs for _ in range(2)]

    with pardata.config.set({"array.buffer-pool": 0}):
        want = run()
    got = run()
    for g, expected in zip(got, want):
        np.testing.assert_array_equal(g, expected)
    # a block drawn into a pooled buffer is the block NumPy draws for its stream
    stream = np.random.Generator(np.random.PCG64(np.random.SeedSequence([4, 0], spawn_key=(1,))))
    np.testing.assert_array_equal(got[0][:600, 600:], stream.random((600, 600)))

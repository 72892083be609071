"""The blocking Client on an in-process LocalCluster."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

import pardata
from pardata.distributed import (
    Client,
    Future,
    FutureCancelledError,
    LocalCluster,
    as_completed,
    wait,
)
from pardata.serialize import SerializationError
from pardata.testing.cluster import add, double, inc, make_unpicklable, slowinc, throws

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=False, memory_limit=0) as cluster:
        with Client(cluster) as c:
            yield c


def test_submit_result_and_future_api(client):
    f = client.submit(inc, 10)
    assert isinstance(f, Future)
    assert f.result(timeout=10) == 11
    assert f.done() and f.status == "finished" and f.exception() is None
    assert f.key.startswith("inc-")
    assert "finished" in repr(f)


def test_map_and_gather_nested(client):
    futures = client.map(add, range(10), range(10))
    assert client.gather(futures) == [2 * i for i in range(10)]
    assert client.gather({"a": futures[1], "b": [futures[2], 5]}) == {"a": 2, "b": [4, 5]}


def test_futures_as_arguments(client):
    x = client.submit(inc, 1)
    y = client.submit(double, x)
    z = client.submit(sum, [x, y, 10])  # nested in a list
    assert z.result() == 2 + 4 + 10


def test_delayed_compute_uses_the_client_and_matches_local(client):
    @pardata.delayed
    def total(xs):
        return sum(xs)

    parts = [pardata.delayed(inc)(i) for i in range(20)]
    result = total(parts)
    expected = result.compute(scheduler="sync")
    ran_before = len(client.get_task_stream())
    assert result.compute() == expected  # the open Client is the default scheduler
    assert len(client.get_task_stream()) > ran_before
    (same,) = pardata.compute(result)
    assert same == expected
    assert pardata.get({"x": 1, "y": (inc, "x")}, "y") == 2


def test_client_compute_and_persist(client):
    d = pardata.delayed(add)(pardata.delayed(inc)(1), 10)
    future = client.compute(d)
    assert future.result() == 12
    persisted = client.persist(d)
    assert persisted.compute() == 12
    assert client.compute([d, d], sync=True) == [12, 12]


def test_raw_graphs_and_futures_inside_delayed_calls(client):
    assert client.get({"a": 1, "b": (inc, "a"), "c": (add, "a", "b")}, ["c", "b"]) == [3, 2]
    x = client.submit(inc, 1)
    assert pardata.delayed(add)(x, 10).compute() == 12


def test_scatter(client):
    arr = np.arange(100_000)
    [remote] = client.scatter([arr])
    assert client.submit(np.sum, remote).result() == arr.sum()
    one = client.scatter(5)
    assert one.result() == 5


def test_an_error_is_raised_with_the_remote_traceback(client):
    f = client.submit(throws, 3)
    with pytest.raises(ValueError, match="bad value 3") as info:
        f.result()
    assert f.key in info.value.__notes__[0]
    assert "Remote traceback" in info.value.__notes__[1]
    assert isinstance(f.exception(), ValueError)
    assert f.status == "error"
    assert client.gather([f, client.submit(inc, 1)], errors="skip") == [2]


def test_unpicklable_result_and_argument(client):
    bad = client.submit(make_unpicklable)
    with pytest.raises(SerializationError, match="Unpicklable"):
        bad.result()
    lock = threading.Lock()
    with pytest.raises(SerializationError, match=r"argument 0 -> a _thread\.lock"):
        client.submit(lambda x: 1, lock)
    assert client.submit(inc, 1).result() == 2


def test_wait_and_as_completed(client):
    futures = client.map(slowinc, range(6), delay=0.01)
    done, not_done = wait(futures)
    assert len(done) == 6 and not not_done
    results = sorted(f.result() for f in as_completed(client.map(inc, range(5))))
    assert results == [1, 2, 3, 4, 5]
    slow = client.submit(slowinc, 0, delay=2.0, pure=False)
    with pytest.raises(TimeoutError):
        wait([slow], timeout=0.05)
    slow.cancel()


def test_cancel_and_done_callback(client):
    seen = threading.Event()
    f = client.submit(slowinc, 1, delay=5.0, pure=False)
    f.add_done_callback(lambda fut: seen.set())
    f.cancel()
    with pytest.raises(FutureCancelledError):
        f.result(timeout=10)
    assert seen.wait(5) and f.cancelled()


def test_released_futures_are_forgotten(client):
    futures = client.map(inc, range(100, 110))
    keys = [f.key for f in futures]
    wait(futures)
    assert set(client._task_states(keys).values()) == {"memory"}
    del futures
    gc.collect()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if set(client._task_states(keys).values()) == {"forgotten"}:
            break
        time.sleep(0.02)
    assert set(client._task_states(keys).values()) == {"forgotten"}


def test_introspection(client):
    f = client.submit(inc, 123)
    f.result()
    nthreads = client.nthreads()
    assert len(nthreads) == 2 and set(nthreads.values()) == {2}
    (holder,) = client.who_has([f])[f.key]
    assert f.key in client.has_what()[holder]
    info = client.scheduler_info()
    assert set(info["workers"]) == set(nthreads) and info["address"] == client.scheduler_address
    assert client.run(lambda: 7) == {w: 7 for w in nthreads}
    stream = client.get_task_stream()
    assert any(r["key"] == f.key and r["stop"] >= r["start"] for r in stream)
    assert client.dashboard_link.startswith("http://") and client.dashboard_link.endswith("/status")


def test_restart_cancels_everything(client):
    f = client.submit(inc, 5000)
    f.result()
    client.restart()
    assert f.status == "cancelled"
    assert client.submit(inc, 1).result() == 2

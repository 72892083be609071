"""Short root tasks: deeper slots for root tasks known to be quick with small outputs."""

from __future__ import annotations

from scheduler.commands import Execute
from scheduler.events import GraphSubmitted, TaskFinished, TaskSpec, WorkerJoined
from scheduler.state import ROOT_PIPELINE_MAX


def roots(n, prefix="inc", start=0):
    return {f"{prefix}-{i}": TaskSpec(priority=(i,)) for i in range(start, start + n)}


def learn(h, worker, duration, nbytes, prefix="inc"):
    """Run one root task of ``prefix`` on ``worker``, taking ``duration`` s for ``nbytes``."""
    (ex,) = h.of(Execute, h(GraphSubmitted("learn", roots(1, prefix, start=10**6), [f"{prefix}-{10**6}"])))
    assert ex.worker == worker
    h(TaskFinished(ex.worker, ex.key, ex.attempt, nbytes, duration))


def in_flight(h, worker):
    return len(h.state.workers[worker].processing)


def test_unknown_roots_get_the_plain_slots(harness):
    h = harness(worker_saturation=1.0)
    h(WorkerJoined("a", 2))
    out = h(GraphSubmitted("c", roots(100), list(roots(100))))
    assert len(h.of(Execute, out)) == 2
    assert h.state.task_states_counts()["queued"] == 98


def test_short_small_roots_fill_the_pipeline(harness):
    h = harness(worker_saturation=1.0, root_pipeline=0.01)
    h(WorkerJoined("a", 2))
    learn(h, "a", duration=0.0005, nbytes=28)
    out = h(GraphSubmitted("c", roots(100), list(roots(100))))
    # 10 ms of 0.5 ms tasks per thread, 2 threads: 40 in flight, in priority order
    assert [e.key for e in h.of(Execute, out)] == [f"inc-{i}" for i in range(40)]
    # a result frees one slot, and the next root takes it
    done = h.of(Execute, out)[0]
    assert [e.key for e in h.of(Execute, h.finish(done, nbytes=28, duration=0.0005))] == ["inc-40"]
    assert in_flight(h, "a") == 40


def test_the_pipeline_is_bounded_by_output_bytes_and_a_count(harness):
    h = harness(worker_saturation=1.0, root_pipeline=0.01, root_pipeline_nbytes=1000)
    h(WorkerJoined("a", 1), WorkerJoined("b", 1))
    learn(h, "a", duration=0.0001, nbytes=100, prefix="mid")
    learn(h, "a", duration=0.0, nbytes=0, prefix="tiny")
    h(GraphSubmitted("c", roots(50, "mid"), list(roots(50, "mid"))))
    assert in_flight(h, "a") == in_flight(h, "b") == 10  # 1000 bytes / 100 per thread
    h(GraphSubmitted("d", roots(5000, "tiny"), list(roots(5000, "tiny"))))
    # the queue's head is "mid" until those are all out; then "tiny" fill up to the cap
    for ex in [e for ws in h.state.workers.values() for e in list(ws.processing)]:
        h(TaskFinished(ex.processing_on.name, ex.key, ex.attempt, 100 if ex.prefix == "mid" else 0, 0.0001))
    assert max(in_flight(h, "a"), in_flight(h, "b")) <= ROOT_PIPELINE_MAX


def test_long_or_large_roots_keep_the_plain_slots(harness):
    h = harness(worker_saturation=1.0, root_pipeline=0.01, root_pipeline_nbytes=2**20)
    h(WorkerJoined("a", 1))
    learn(h, "a", duration=0.5, nbytes=8, prefix="slow")
    learn(h, "a", duration=0.0001, nbytes=100 * 2**20, prefix="big")
    h(GraphSubmitted("c", roots(10, "slow"), list(roots(10, "slow"))))
    assert in_flight(h, "a") == 1
    h2 = harness(worker_saturation=1.0, root_pipeline=0.01, root_pipeline_nbytes=2**20)
    h2(WorkerJoined("a", 1))
    learn(h2, "a", duration=0.0001, nbytes=100 * 2**20, prefix="big")
    h2(GraphSubmitted("c", roots(10, "big"), list(roots(10, "big"))))
    assert in_flight(h2, "a") == 1


def test_short_roots_are_shared_between_workers(harness):
    h = harness(worker_saturation=1.1, root_pipeline=0.01)
    h(WorkerJoined("a", 1), WorkerJoined("b", 1))
    learn(h, "a", duration=0.001, nbytes=8)
    out = h(GraphSubmitted("c", roots(30), list(roots(30))))
    per_worker = {w: [e.key for e in h.of(Execute, out) if e.worker == w] for w in "ab"}
    assert len(per_worker["a"]) == len(per_worker["b"]) == 10  # 10 ms of 1 ms tasks each
    # neighbouring roots stay together (their reductions stay local)
    assert per_worker["a"] == [f"inc-{i}" for i in range(10)] or per_worker["b"] == [f"inc-{i}" for i in range(10)]


def test_without_queuing_roots_go_out_in_contiguous_blocks(harness):
    import math

    h = harness(worker_saturation=math.inf)
    h(WorkerJoined("a", 1), WorkerJoined("b", 1))
    tasks = dict(roots(8))
    tasks.update({f"add-{i}": TaskSpec(dependencies=(f"inc-{2 * i}", f"inc-{2 * i + 1}"), priority=(8 + i,))
                  for i in range(4)})
    out = h(GraphSubmitted("c", tasks, [f"add-{i}" for i in range(4)]))
    placed = {e.key: e.worker for e in h.of(Execute, out)}
    assert len(placed) == 8
    first, second = placed["inc-0"], placed["inc-7"]
    assert first != second
    # neighbours share a worker, so every add finds both inputs in one place
    assert [placed[f"inc-{i}"] for i in range(8)] == [first] * 4 + [second] * 4

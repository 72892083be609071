"""Property test: random graphs, random worker churn, random failures and releases.

Whatever happens, once the simulator settles every key still wanted is in memory or
erred, nothing is left half-way (waiting, queued, processing, no-worker), and
`validate()` held after every single event.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.events import CancelRequested, ClientReleasedKeys, GraphSubmitted, TaskSpec
from scheduler.sim import Simulator
from scheduler.state import SchedulerState


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 25))
    tasks = {}
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        tasks[f"t-{i}"] = TaskSpec(
            tuple(f"t-{d}" for d in deps),
            payload=b"p",
            priority=(draw(st.integers(0, 5)), i),
            retries=draw(st.integers(0, 2)),
            workers=draw(st.sampled_from([None, None, None, ("final",), ("w0", "final")])),
            resources=draw(st.sampled_from([None, None, None, {"R": 1}])),
        )
    wanted = draw(st.lists(st.sampled_from(sorted(tasks)), min_size=1, unique=True))
    failures = draw(st.dictionaries(st.sampled_from(sorted(tasks)), st.integers(1, 3), max_size=3))
    durations = {k: draw(st.sampled_from([0.0, 0.01, 0.05, 0.2])) for k in tasks}
    nbytes = {k: draw(st.sampled_from([1, 1000, 10**8])) for k in tasks}
    workers = draw(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 1)), min_size=0, max_size=4))
    actions = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["join", "kill", "release", "cancel"]),
                st.floats(0, 1.0, allow_nan=False),
                st.integers(0, 5),
            ),
            max_size=8,
        )
    )
    config = dict(
        worker_saturation=draw(st.sampled_from([1.0, 1.1, 2.0, float("inf")])),
        work_stealing=draw(st.booleans()),
        allowed_failures=draw(st.integers(1, 3)),
    )
    return tasks, wanted, failures, durations, nbytes, workers, actions, config


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_runs_settle_with_invariants(scenario):
    tasks, wanted, failures, durations, nbytes, workers, actions, config = scenario
    failed = Counter()

    def fails(key, attempt):
        if failed[key] < failures.get(key, 0):
            failed[key] += 1
            return True
        return False

    sim = Simulator(
        SchedulerState(**config),
        validate_every=1,
        duration=durations.__getitem__,
        nbytes=nbytes.__getitem__,
        fails=fails,
        tick_interval=0.25,
    )
    for i, (nthreads, r) in enumerate(workers):
        sim.join(f"w{i}", nthreads, resources={"R": r})
    sim.send(GraphSubmitted("c", tasks, wanted))
    still_wanted = set(wanted)
    joined = len(workers)
    for kind, when, index in actions:
        if kind == "join":
            sim.at(when, lambda i=joined, n=index: sim.join(f"w{i}", 1 + n % 3))
            joined += 1
        elif kind == "kill":
            sim.at(when, lambda i=index: _kill_alive(sim, i))
        elif kind == "release":
            key = wanted[index % len(wanted)]
            still_wanted.discard(key)
            sim.at(when, lambda k=key: sim.send(ClientReleasedKeys("c", [k])))
        else:
            key = sorted(tasks)[index % len(tasks)]
            still_wanted -= _downstream(tasks, key)
            sim.at(when, lambda k=key: sim.send(CancelRequested("c", [k])))
    sim.at(1.5, lambda: sim.join("final", 2, resources={"R": 2}))
    sim.run(until=10_000.0)

    state = sim.state
    state.validate()
    counts = state.task_states_counts()
    assert counts["waiting"] == counts["queued"] == counts["processing"] == counts["no-worker"] == 0, counts
    for key in still_wanted:
        assert state.task_state(key) in ("memory", "erred"), state.story(key)
        report = sim.reports[("c", key)]  # the last report about the key
        assert type(report).__name__ == ("ReportInMemory" if state.task_state(key) == "memory" else "ReportErred")
    for key, ts in state.tasks.items():
        if ts.state == "memory":
            for ws in ts.who_has:
                assert key in sim.workers[ws.name].data


def _downstream(tasks: dict, key) -> set:
    out = {key}
    for k in tasks:  # keys are in topological order
        if any(d in out for d in tasks[k].dependencies):
            out.add(k)
    return out


def _kill_alive(sim: Simulator, index: int) -> None:
    alive = [name for name, w in sim.workers.items() if w.alive and name != "final"]
    if alive:
        sim.kill(alive[index % len(alive)])

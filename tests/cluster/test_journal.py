"""The scheduler's journal, without sockets: records round-trip, a torn tail is cut,
replay rebuilds the tasks, and the recovery gate waits for the workers holding results."""

from __future__ import annotations

import pytest

from pardata.comm import messages as m
from pardata.serialize import serialize
from scheduler import events as e
from scheduler.journal import (
    CLIENT,
    CLIENT_LEFT,
    DONE,
    WORKER_JOINED,
    WORKER_LEFT,
    JournalWriter,
    RecoveryGate,
    decode_records,
    encode_record,
    replay,
)
from scheduler.state import SchedulerState

pytestmark = pytest.mark.timeout(30)


def submit(keys_deps: dict, wanted) -> m.SubmitGraph:
    keys = list(keys_deps)
    return m.SubmitGraph(keys=keys, payloads=[serialize((len, [k])) for k in keys],
                         dependencies=[list(keys_deps[k]) for k in keys], priorities=list(range(len(keys))),
                         wanted=list(wanted))


def chain_records():
    graph = submit({"a": [], ("b", 0): ["a"], "c": [("b", 0)]}, ["c"])
    return [
        (WORKER_JOINED, "tcp://w1", None),
        (WORKER_JOINED, "tcp://w2", None),
        (CLIENT, "client-1", graph),
        (DONE, "tcp://w1", m.TaskDone(key="a", attempt=1, nbytes=8)),
        (DONE, "tcp://w2", m.TaskDone(key=("b", 0), attempt=2, nbytes=8)),
        (WORKER_LEFT, "tcp://w1", None),
    ]


def test_records_round_trip_and_a_torn_tail_is_left_out():
    records = chain_records()
    data = b"".join(encode_record(*r) for r in records)
    decoded, used = decode_records(data)
    assert used == len(data)
    assert [(k, w) for k, w, _ in decoded] == [(k, w) for k, w, _ in records]
    assert decoded[2][2].keys == ["a", ("b", 0), "c"]  # tuple keys stay tuples
    assert bytes(decoded[2][2].payloads[0].frames[0]) == bytes(records[2][2].payloads[0].frames[0])
    for cut in range(1, len(encode_record(*records[-1]))):
        partial, used = decode_records(data[:-cut])
        assert len(partial) == len(records) - 1 and used == len(data) - len(encode_record(*records[-1]))


def test_replay_rebuilds_tasks_and_names_the_workers_to_wait_for():
    recovery = replay(chain_records(), now=5.0)
    assert [type(ev) for ev in recovery.events] == [e.GraphSubmitted]
    assert recovery.holders == {"tcp://w2": [("b", 0)]}  # w1 left: nothing to wait for there
    state = SchedulerState()
    state.handle(*recovery.events)
    assert set(state.tasks) == {"a", ("b", 0), "c"}
    assert state.clients["client-1"]
    assert recovery.expected_workers(state) == {"tcp://w2"}


def test_released_and_left_clients_replay_to_an_empty_state():
    graph = submit({"x": []}, ["x"])
    records = [(CLIENT, "c1", graph), (CLIENT, "c1", m.ReleaseKeys(keys=["x"])),
               (CLIENT, "c2", graph), (CLIENT_LEFT, "c2", None)]
    state = SchedulerState()
    state.handle(*replay(records).events)
    assert not state.tasks and not state.clients


def test_joins_after_recovery_adopt_every_result_before_placing_anything():
    recovery = replay(chain_records())
    state = SchedulerState()
    state.handle(*recovery.events)
    gate = RecoveryGate({"tcp://w2", "tcp://w3"}, deadline=100.0)
    first = e.WorkerJoined("tcp://w3", 1, now=1.0)
    second = e.WorkerJoined("tcp://w2", 1, now=1.0, recovered={("b", 0): 8})
    assert gate.join(first) == []  # held: w2 still missing
    released = gate.join(second)
    assert gate.open and [j.worker for j in released] == ["tcp://w3", "tcp://w2"]
    commands = state.handle(e.WorkersJoined(tuple(released)))
    # ("b", 0) survived on w2: only "c" runs, nothing upstream is recomputed
    executed = [c.key for c in commands if type(c).__name__ == "Execute"]
    assert executed == ["c"]
    assert state.tasks[("b", 0)].state == "memory"


def test_the_gate_opens_at_its_deadline_without_the_missing_workers():
    gate = RecoveryGate({"tcp://gone"}, deadline=10.0)
    join = e.WorkerJoined("tcp://w1", 1)
    assert gate.join(join) == [] and gate.tick(9.0) == []
    assert gate.tick(10.0) == [join] and gate.open
    assert gate.join(join) == [join]  # open: joins go straight through


def test_writer_appends_reloads_and_cuts_a_torn_tail(tmp_path):
    writer = JournalWriter(str(tmp_path))
    assert writer.load() == []
    writer.open()
    writer.append(CLIENT_LEFT, "c1")
    writer.append(WORKER_JOINED, "tcp://w1")
    writer.flush()
    writer.close()
    with open(writer.path, "ab") as f:
        f.write(b"\x03\x00")  # a crash in the middle of the next record
    again = JournalWriter(str(tmp_path))
    assert [(k, w) for k, w, _ in again.load()] == [(CLIENT_LEFT, "c1"), (WORKER_JOINED, "tcp://w1")]
    again.open()
    again.append(WORKER_LEFT, "tcp://w1")
    again.close(remove=False)
    assert [k for k, _, _ in JournalWriter(str(tmp_path)).load()] == [CLIENT_LEFT, WORKER_JOINED, WORKER_LEFT]
    JournalWriter(str(tmp_path)).close(remove=True)
    assert JournalWriter(str(tmp_path)).load() == []


def test_the_journal_starts_over_when_the_scheduler_holds_no_work(tmp_path):
    writer = JournalWriter(str(tmp_path))
    writer.open()
    writer.append(WORKER_JOINED, "tcp://w1")
    writer.append(CLIENT, "c1", submit({"x": []}, ["x"]))
    writer.append(DONE, "tcp://w1", m.TaskDone(key="x", attempt=1, nbytes=8))
    writer.flush()
    assert writer.work_records == 2
    writer.restart(["tcp://w1", "tcp://w2"])
    writer.append(DONE, "tcp://w2", m.TaskDone(key="y", attempt=2, nbytes=8))
    writer.close()
    records = JournalWriter(str(tmp_path)).load()
    assert [(k, w) for k, w, _ in records] == [(WORKER_JOINED, "tcp://w1"), (WORKER_JOINED, "tcp://w2"),
                                               (DONE, "tcp://w2")]
    assert replay(records).holders == {"tcp://w1": [], "tcp://w2": ["y"]}


def test_a_live_scheduler_journals_work_and_starts_over_once_it_is_released(tmp_path):
    import asyncio

    from pardata.testing.cluster import cluster, connect_client, inc

    async def main():
        async with cluster(1, scheduler_options={"journal_directory": str(tmp_path)}) as c:
            journal = JournalWriter(str(tmp_path))
            async with connect_client(c.scheduler_address) as client:
                futures = client.map(inc, range(5))
                assert await client.gather(futures) == [1, 2, 3, 4, 5]
                kinds = [k for k, _, _ in journal.load()]
                assert kinds.count(CLIENT) == 1 and kinds.count(DONE) == 5
                del futures
                for _ in range(200):
                    if not c.scheduler.state.tasks:
                        break
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.05)
                assert [(k, w) for k, w, _ in journal.load()] == [(WORKER_JOINED, c.workers[0].address)]
        assert journal.load() == []  # a clean shutdown leaves nothing to resume

    asyncio.run(main())

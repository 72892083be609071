"""WorkerState under random event sequences (hypothesis).

A small fake environment plays scheduler, executor and peers: it only sends
events the real ones could send (completions of runs it was asked to start,
answers to transfers it was asked to make), in any order and interleaving.
After every step the state's invariants hold, its bookkeeping matches the
environment's, and no report ever names a stale attempt. At the end the
environment lets everything finish, and nothing may be left stuck.
"""

import os

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from worker.events import (
    CancelRequested,
    DataScattered,
    ExecuteRequested,
    FetchCompleted,
    FetchFailed,
    FreeKeysRequested,
    PauseChanged,
    PeerMissingData,
    TaskCompleted,
    TaskRaised,
)
from worker.instructions import (
    FetchFromPeer,
    ReleaseData,
    RunTask,
    SendAddKeys,
    SendKeysReleased,
    SendMissingDependency,
    SendTaskErred,
    SendTaskFinished,
)
from worker.testing import ME, make_state

PEERS = ("tcp://a:1", "tcp://b:1", "tcp://c:1")
TASKS = tuple(f"t{i}" for i in range(6))  # computed here; t_i may depend on t_j<i
INPUTS = tuple(f"d{i}" for i in range(5))  # computed elsewhere


class WorkerStateMachine(RuleBasedStateMachine):
    @initialize(
        nthreads=st.integers(1, 3),
        max_transfers=st.integers(1, 3),
        limit=st.sampled_from([50, 300, 10_000]),
        batch=st.sampled_from([40, 150, 10_000]),
    )
    def start(self, nthreads, max_transfers, limit, batch):
        self.ws = make_state(
            nthreads,
            max_incoming_transfers=max_transfers,
            incoming_bytes_limit=limit,
            transfer_batch_nbytes=batch,
        )
        self.runs: dict = {}  # key -> attempt, as asked by RunTask
        self.transfers: dict = {}  # peer -> keys, as asked by FetchFromPeer
        self.latest: dict = {}  # key -> the attempt the scheduler last assigned
        self.next_attempt = 1
        self.paused = False

    # ------------------------------------------------------------------
    def apply(self, *events):
        for instruction in self.ws.handle(*events):
            self.check(instruction)

    def check(self, ins):
        if isinstance(ins, RunTask):
            assert not self.paused
            assert ins.key not in self.runs
            assert all(ins.key not in keys for keys in self.transfers.values())
            assert ins.attempt == self.latest[ins.key]
            self.runs[ins.key] = ins.attempt
            assert len(self.runs) <= self.ws.nthreads
        elif isinstance(ins, FetchFromPeer):
            assert not self.paused
            assert ins.peer not in self.transfers and ins.peer != ME
            for key in ins.keys:
                assert key not in self.runs
                assert all(key not in keys for keys in self.transfers.values())
            self.transfers[ins.peer] = ins.keys
            assert len(self.transfers) <= self.ws.max_incoming_transfers
        elif isinstance(ins, (SendTaskFinished, SendTaskErred, SendMissingDependency)):
            assert ins.attempt == self.latest[ins.key], (ins, self.latest)
        else:
            assert isinstance(
                ins, (ReleaseData, SendAddKeys, SendKeysReleased)
            ), ins

    @invariant()
    def bookkeeping_matches(self):
        self.ws.validate()
        assert self.ws.running == self.runs
        transfers = {p: tuple(t.keys) for p, t in self.ws.transfers.items()}
        assert transfers == self.transfers

    # ------------------------------------------------------------------
    # The scheduler

    @rule(
        key_index=st.integers(0, len(TASKS) - 1),
        inputs=st.dictionaries(
            st.sampled_from(INPUTS),
            st.lists(st.sampled_from((*PEERS, ME)), max_size=3, unique=True),
            max_size=3,
        ),
        local=st.lists(st.integers(0, len(TASKS) - 1), max_size=2, unique=True),
        priority=st.integers(0, 5),
        sizes=st.lists(st.integers(1, 120), min_size=8, max_size=8),
    )
    def execute(self, key_index, inputs, local, priority, sizes):
        key = TASKS[key_index]
        who_has = dict(inputs)
        for j in local:
            if j < key_index:
                who_has[TASKS[j]] = (ME,)
        nbytes = {k: sizes[i % len(sizes)] for i, k in enumerate(who_has)}
        attempt = self.next_attempt
        self.next_attempt += 1
        self.latest[key] = attempt
        self.apply(
            ExecuteRequested(ME, key, attempt, b"payload", (priority,), who_has, nbytes)
        )

    @rule(keys=st.lists(st.sampled_from(TASKS + INPUTS), max_size=3))
    def free_keys(self, keys):
        self.apply(FreeKeysRequested(tuple(keys)))

    @rule(key=st.sampled_from(TASKS), current=st.booleans())
    def cancel(self, key, current):
        attempt = self.latest.get(key, 0)
        self.apply(CancelRequested(key, attempt if current else attempt - 1))

    @rule(keys=st.lists(st.sampled_from(TASKS + INPUTS), max_size=2, unique=True))
    def scatter(self, keys):
        for key in keys:
            self.latest.setdefault(key, 0)
        self.apply(DataScattered({k: 10 for k in keys}))

    # ------------------------------------------------------------------
    # The executor

    @precondition(lambda self: self.runs)
    @rule(data=st.data(), ok=st.booleans())
    def finish_run(self, data, ok):
        key = data.draw(st.sampled_from(sorted(self.runs)))
        attempt = self.runs.pop(key)
        if ok:
            self.apply(TaskCompleted(key, attempt, 40, "int", 0.0, 1.0))
        else:
            self.apply(TaskRaised(key, attempt, b"exc", "tb", 0.0, 1.0))

    @rule(key=st.sampled_from(TASKS))
    def bogus_completion(self, key):
        before = self.ws.stale_completions
        self.apply(TaskCompleted(key, -1, 40, "int", 0.0, 1.0))
        assert self.ws.stale_completions == before + 1

    # ------------------------------------------------------------------
    # Peers and the memory manager

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def finish_transfer(self, data):
        peer = data.draw(st.sampled_from(sorted(self.transfers)))
        keys = self.transfers.pop(peer)
        got = data.draw(st.lists(st.sampled_from(keys), unique=True))
        self.apply(FetchCompleted(peer, {k: 30 for k in got}, now=1.0))

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def fail_transfer(self, data):
        peer = data.draw(st.sampled_from(sorted(self.transfers)))
        keys = self.transfers.pop(peer)
        self.apply(FetchFailed(peer, keys, reason="gone", now=1.0))

    @rule(
        peer=st.sampled_from(PEERS),
        keys=st.lists(st.sampled_from(INPUTS), max_size=2),
    )
    def peer_missing(self, peer, keys):
        self.apply(PeerMissingData(peer, tuple(keys)))

    @rule(paused=st.booleans())
    def pause(self, paused):
        self.paused = paused
        self.apply(PauseChanged(paused))

    # ------------------------------------------------------------------
    def teardown(self):
        """Let everything finish; nothing may stay stuck."""
        if not hasattr(self, "ws"):
            return
        self.paused = False
        self.apply(PauseChanged(False))
        for _ in range(200):
            if self.runs:
                key, attempt = next(iter(self.runs.items()))
                del self.runs[key]
                self.apply(TaskCompleted(key, attempt, 40, "int", 0.0, 1.0))
            elif self.transfers:
                peer, keys = next(iter(self.transfers.items()))
                del self.transfers[peer]
                self.apply(FetchCompleted(peer, {k: 30 for k in keys}))
            else:
                break
        left = {k: ts.state for k, ts in self.ws.tasks.items()}
        assert set(left.values()) <= {"memory", "error"}, left
        self.bookkeeping_matches()


# PARDATA_WORKER_EXAMPLES=5000 for a deeper search than the suite's default.
WorkerStateMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("PARDATA_WORKER_EXAMPLES", 300)),
    stateful_step_count=40,
    deadline=None,
)
test_worker_state_random = WorkerStateMachine.TestCase

"""``RunMeter``: the RSS rise of each task run, attributed conservatively across threads."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from worker.executor import Failed, Finished, TaskRunner
from worker.memory.running import METER, RunMeter

MiB = 2**20


class FakeProcess:
    """RSS and a resettable peak, moved by hand."""

    def __init__(self, rss: int = 100) -> None:
        self.rss = self.hwm = rss

    def set(self, rss: int) -> None:
        self.rss = rss
        self.hwm = max(self.hwm, rss)

    def reset(self) -> None:
        self.hwm = self.rss


def fake_meter(proc: FakeProcess, exact: bool = True) -> RunMeter:
    if exact:
        meter = RunMeter(rss=lambda: proc.rss, peak=lambda: proc.hwm, reset_peak=proc.reset)
    else:
        meter = RunMeter(rss=lambda: proc.rss)
    meter.short_run = 0.0
    meter.baseline_age = float("inf")  # baselines move only when a test says so
    return meter


def test_a_run_is_charged_its_peak_above_its_start_even_if_freed_before_it_ends():
    proc = FakeProcess(100)
    meter = fake_meter(proc)
    proc.set(900)  # something before the run (a transfer, say)...
    proc.set(100)
    meter.tick()  # ...is behind the monitor's last tick: not the run's
    run = meter.begin()
    proc.set(700)  # a temporary...
    proc.set(150)  # ...freed; a 50 byte result stays
    assert meter.end(run) == 600
    assert meter.running == 0
    run = meter.begin()  # the next run starts from the new baseline: 150
    proc.set(160)
    assert meter.end(run) == 10


def test_concurrent_runs_are_charged_conservatively():
    proc = FakeProcess(100)
    meter = fake_meter(proc)
    a = meter.begin()
    proc.set(500)  # a's temporary
    meter.tick()  # the monitor folds a's peak in and takes a new baseline, 500
    b = meter.begin()
    proc.set(900)  # b's temporary beside a's
    proc.set(500)  # b frees its own
    assert meter.end(b) == 400
    proc.set(100)
    assert meter.end(a) == 800  # a also saw b's: more, never less than its own 400


def test_short_runs_count_as_nothing_and_hide_no_peak_from_the_others():
    proc = FakeProcess(100)
    meter = fake_meter(proc)
    long_run = meter.begin()
    proc.set(600)
    proc.set(100)
    meter.short_run = 10.0
    short = meter.begin()
    assert meter.end(short) == 0
    meter.short_run = 0.0
    assert meter.end(long_run) == 500


def test_a_stale_baseline_is_refreshed_when_a_run_starts():
    proc = FakeProcess(100)
    meter = fake_meter(proc)
    proc.set(300)  # results stored since the last baseline: not the next run's
    meter.baseline_age = 0.0
    run = meter.begin()
    proc.set(350)
    assert meter.end(run) == 50


def test_without_a_resettable_peak_samples_are_folded_in():
    proc = FakeProcess(100)
    meter = fake_meter(proc, exact=False)
    assert not meter.exact_peaks
    run = meter.begin()
    proc.set(400)
    meter.tick(proc.rss)  # the memory monitor's sample
    proc.set(120)
    assert meter.end(run) == 300


@pytest.mark.skipif(not METER.exact_peaks, reason="needs the kernel's resettable peak RSS (Linux)")
def test_the_kernel_peak_sees_a_temporary_that_lived_a_moment():
    def temporary():
        block = np.ones(64 * MiB // 8)
        return float(block[-1])

    METER.tick()
    run = METER.begin()
    temporary()
    time.sleep(0.002)
    grew = METER.end(run)
    assert 60 * MiB <= grew <= 64 * MiB + 8 * MiB, grew / MiB

    run = METER.begin()
    time.sleep(0.005)  # long enough to be read, allocates nothing
    assert METER.end(run) < 4 * MiB


def test_the_executor_reports_each_runs_memory():
    outcomes: list = []
    done = threading.Event()

    def collect(batch):
        outcomes.extend(batch)
        if len(outcomes) == 2:
            done.set()

    def make_temporary(_inputs):
        block = np.ones(48 * MiB // 8)
        time.sleep(0.001)
        return int(block.sum() > 0)

    def fail(_inputs):
        raise ValueError("boom")

    async def main():
        runner = TaskRunner(1, asyncio.get_running_loop(), collect)
        try:
            runner.run("temp-1", 1, make_temporary, {})
            runner.run("fail-1", 2, fail, {})
            while not done.is_set():
                await asyncio.sleep(0.01)
        finally:
            runner.close()

    asyncio.run(asyncio.wait_for(main(), 60))
    finished = next(o for o in outcomes if isinstance(o, Finished))
    assert finished.value == 1 and finished.nbytes < 1024
    if METER.exact_peaks:
        assert finished.running_nbytes >= 44 * MiB
    else:
        assert finished.running_nbytes >= 0
    assert any(isinstance(o, Failed) for o in outcomes)
    assert METER.running == 0


def test_kinds_that_needed_much_memory_while_running_are_not_queued_ahead():
    from worker.events import TaskCompleted
    from worker.instructions import RunTask
    from worker.state import LOOKAHEAD_MAX_NBYTES
    from worker.testing import execute, make_state

    ws = make_state(nthreads=1, executor_lookahead=0.005)
    # a small output, but a large temporary while it ran
    ws.handle(execute("temp-0"), TaskCompleted("temp-0", 1, 8, "int", 1.0, 1.0001, LOOKAHEAD_MAX_NBYTES))
    ws.handle(execute("inc-0"), TaskCompleted("inc-0", 1, 8, "int", 1.0, 1.0001, 0))
    assert ws.bulky_kinds == {"temp"}
    out = ws.handle(*(execute(f"temp-{i}", priority=(i,)) for i in range(1, 4)))
    assert [i.key for i in out if isinstance(i, RunTask)] == ["temp-1"]
    out = ws.handle(*(execute(f"inc-{i}", priority=(10 + i,)) for i in range(1, 4)))
    assert [i.key for i in out if isinstance(i, RunTask)] == []  # temp-2 comes first, and waits

"""MemoryPolicy: table-driven decisions, and the module stays pure (stdlib, no I/O)."""
import ast
import pathlib
import sys

import pytest

from worker.memory import policy as policy_module
from worker.memory.policy import MemoryDecision, MemoryPolicy, MemorySample, MemoryThresholds, format_size

GiB = 2**30
LIMIT = 10 * GiB


def g(x):
    return int(x * GiB)


# managed, process, spillable, expected spill, paused, terminate, stuck, words in the reason
CASES = {
    "idle": (1, 2, 1, 0, False, False, False, ""),
    "managed over target": (g(7), g(6.5), g(7), g(7) - int(0.6 * LIMIT), False, False, False, ""),
    "process over spill, back to target": (g(5), g(7.5), g(5), g(7.5) - int(0.6 * LIMIT), False, False, False, ""),
    "process between target and spill": (g(5), g(6.5), g(5), 0, False, False, False, ""),
    "spill is capped by spillable": (g(8), g(8.5), g(1), g(1), True, False, False, "spilling 1 GiB"),
    "paused while spilling": (g(6), g(8.5), g(6), g(8.5) - int(0.6 * LIMIT), True, False, False,
                              "over the pause threshold (80%)"),
    "paused, mostly unmanaged": (g(1), g(8.5), 0, 0, True, False, True,
                                 "process memory 8.5 GiB of 10 GiB limit is mostly unmanaged (7.5 GiB); "
                                 "nothing left to spill"),
    "paused, managed but unspillable": (g(7), g(8.5), 0, 0, True, False, True, "mostly managed (7 GiB)"),
    "terminate": (g(2), g(9.6), g(2), g(2), True, True, False, "terminating: process memory 9.6 GiB"),
}


@pytest.mark.parametrize("case", CASES)
def test_decisions(case):
    managed, process, spillable, spill, paused, terminate, stuck, words = CASES[case]
    d = MemoryPolicy().decide(MemorySample(managed, process, LIMIT, spillable=spillable))
    assert (d.spill, d.paused, d.terminate, d.stuck) == (spill, paused, terminate, stuck)
    assert words in d.reason
    assert bool(d.reason) == (paused or terminate)


def test_unpause_below_the_pause_threshold():
    p = MemoryPolicy()
    assert p.decide(MemorySample(g(1), g(8.1), LIMIT, paused=False)).paused
    assert not p.decide(MemorySample(g(1), g(7.9), LIMIT, paused=True)).paused


def test_blocked_spill_reason_is_reported():
    d = MemoryPolicy().decide(MemorySample(g(7), g(8.5), LIMIT, spillable=0,
                                           spill_blocked="spill disk cap reached (100 GiB on disk)"))
    assert d.stuck and d.reason.endswith("cannot spill: spill disk cap reached (100 GiB on disk)")


def test_no_limit_decides_nothing():
    assert MemoryPolicy().decide(MemorySample(g(100), g(100), None, spillable=g(100))) == MemoryDecision()
    assert MemoryPolicy().decide(MemorySample(g(100), g(100), 0, spillable=g(100))) == MemoryDecision()


@pytest.mark.parametrize("disabled, sample, expected", [
    ("target", MemorySample(g(9), g(6.5), LIMIT, spillable=g(9)), 0),  # managed alone does not spill
    ("target", MemorySample(g(5), g(7.5), LIMIT, spillable=g(5)), g(7.5) - int(0.7 * LIMIT)),
    ("spill", MemorySample(g(5), g(7.5), LIMIT, spillable=g(5)), 0),
])
def test_disabled_thresholds(disabled, sample, expected):
    p = MemoryPolicy(MemoryThresholds().replace(**{disabled: False}))
    assert p.decide(sample).spill == expected


def test_pause_and_terminate_can_be_disabled():
    p = MemoryPolicy(MemoryThresholds(pause=None, terminate=None))
    d = p.decide(MemorySample(g(1), g(9.9), LIMIT))
    assert not d.paused and not d.terminate and d.reason == ""


def test_paused_with_spill_disabled_says_so():
    p = MemoryPolicy(MemoryThresholds(target=None, spill=None))
    d = p.decide(MemorySample(g(1), g(8.5), LIMIT, spillable=g(1)))
    assert d.paused and d.stuck and d.reason.endswith("spilling is disabled")


def test_thresholds_validate_and_replace():
    with pytest.raises(ValueError, match="pause"):
        MemoryThresholds(pause=1.5)
    with pytest.raises(TypeError, match="bogus"):
        MemoryThresholds().replace(bogus=0.5)
    t = MemoryThresholds().replace(target=0.5, spill=None)
    assert (t.target, t.spill, t.pause) == (0.5, 0.7, 0.8)


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"), (g(7.94), "7.9 GiB"),
                                     (5 * 2**40, "5 TiB")])
def test_format_size(n, text):
    assert format_size(n) == text


def test_policy_module_is_pure():
    tree = ast.parse(pathlib.Path(policy_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "policy imports nothing from the worker"
            if node.module != "pardata._units":  # pure formatting, shared with the nanny
                imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names)
    assert not imported & {"time", "threading", "asyncio", "os", "socket", "psutil", "random"}

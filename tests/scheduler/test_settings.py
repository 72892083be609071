"""`state_from_config` reads `distributed.scheduler.*`; arguments override."""

from __future__ import annotations

import math

from pardata import config
from scheduler.settings import state_from_config


def test_defaults_come_from_config():
    state = state_from_config()
    assert state.worker_saturation == config.get("distributed.scheduler.worker-saturation")
    assert state.allowed_failures == config.get("distributed.scheduler.allowed-failures")


def test_config_values_are_parsed_and_overrides_win():
    values = {
        "distributed.scheduler.worker-saturation": "inf",
        "distributed.scheduler.worker-ttl": "2 minutes",
        "distributed.scheduler.bandwidth": "1GB",
        "distributed.scheduler.unknown-task-duration": "250ms",
        "distributed.scheduler.work-stealing": False,
    }
    with config.set(values):
        state = state_from_config(allowed_failures=7)
    assert math.isinf(state.worker_saturation) and not state.queuing
    assert state.heartbeat_timeout == 120.0
    assert state.bandwidth == 1e9
    assert state.default_task_duration == 0.25
    assert state.work_stealing is False
    assert state.allowed_failures == 7
